/* identity.c: the node key pair file (see identity.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "identity.h"
#include "util.h"

void
tsn_identity_node_id(uint8_t id[TSN_ID_LEN], const uint8_t pk[32])
{
	crypto_generichash(id, TSN_ID_LEN, pk, 32, NULL, 0);
}

void
tsn_identity_wipe(struct tsn_identity *ident)
{
	sodium_memzero(ident, sizeof(*ident));
}

/* Fill pk and id from sk; -EBADMSG if sk's public half does not match its seed. */
static int
derive(struct tsn_identity *ident)
{
	uint8_t pk[32], sk[64];
	int rc = 0;

	crypto_sign_seed_keypair(pk, sk, ident->sk);
	if (sodium_memcmp(sk, ident->sk, 64) != 0)
		rc = -EBADMSG;
	sodium_memzero(sk, sizeof(sk));
	memcpy(ident->pk, pk, 32);
	tsn_identity_node_id(ident->id, pk);
	return rc;
}

int
tsn_identity_load(const char *path, struct tsn_identity *out)
{
	struct stat st;
	ssize_t n;
	int fd, rc;

	tsn_identity_wipe(out);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		tsn_log(TSN_LOG_ERROR, "identity %s: not a regular file", path);
		rc = -EINVAL;
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		tsn_log(TSN_LOG_ERROR, "identity %s: mode %03o lets others read the secret key; "
		        "expected 0600 (chmod 600 it)", path, (unsigned)(st.st_mode & 0777));
		rc = -EPERM;
		goto fail;
	}
	if (st.st_size != TSN_IDENTITY_FILE_LEN) {
		tsn_log(TSN_LOG_ERROR, "identity %s: %lld bytes, expected %d", path,
		        (long long)st.st_size, TSN_IDENTITY_FILE_LEN);
		rc = -EINVAL;
		goto fail;
	}
	n = read(fd, out->sk, sizeof(out->sk));
	if (n != (ssize_t)sizeof(out->sk)) {
		rc = n < 0 ? -errno : -EINVAL;
		goto fail;
	}
	if ((rc = derive(out)) != 0) {
		tsn_log(TSN_LOG_ERROR, "identity %s: public key does not match the seed (corrupt)", path);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	tsn_identity_wipe(out);
	return rc;
}

static int
fsync_dir_of(const char *path)
{
	char buf[PATH_MAX];
	int fd, rc = 0;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
tsn_identity_create(const char *path, struct tsn_identity *out)
{
	char tmp[PATH_MAX];
	int fd = -1, rc;

	tsn_identity_wipe(out);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	crypto_sign_keypair(out->pk, out->sk);
	tsn_identity_node_id(out->id, out->pk);
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (fchmod(fd, 0600) != 0 ||
	    write(fd, out->sk, sizeof(out->sk)) != (ssize_t)sizeof(out->sk) || fsync(fd) != 0) {
		rc = errno != 0 ? -errno : -EIO;
		goto fail_tmp;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto fail_tmp;
	}
	fd = -1;
	/*
	 * Publish atomically. link() is a rename that refuses to replace an
	 * existing file (so two creators cannot clobber each other); on a file
	 * system without hard links fall back to rename() after an existence
	 * check.
	 */
	if (link(tmp, path) == 0) {
		unlink(tmp);
	} else if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) {
		if (access(path, F_OK) == 0) {
			rc = -EEXIST;
			goto fail_tmp;
		}
		if (rename(tmp, path) != 0) {
			rc = -errno;
			goto fail_tmp;
		}
	} else {
		rc = -errno;
		goto fail_tmp;
	}
	if ((rc = fsync_dir_of(path)) != 0)
		tsn_log(TSN_LOG_WARN, "identity %s: fsync of its directory: %s", path, strerror(-rc));
	return 0;
fail_tmp:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
fail:
	tsn_identity_wipe(out);
	return rc;
}

int
tsn_identity_load_or_create(const char *path, struct tsn_identity *out)
{
	int rc = tsn_identity_load(path, out);

	if (rc != -ENOENT)
		return rc;
	rc = tsn_identity_create(path, out);
	if (rc == -EEXIST) /* another process created it meanwhile */
		rc = tsn_identity_load(path, out);
	return rc;
}
