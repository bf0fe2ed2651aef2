/*
 * store_secret.c: DATADIR/secret, the per-user convergence secret: 32
 * random bytes, mode 0600. Created through a temp file, fsync'ed and
 * renamed, so a crash leaves either no secret or a whole one (a short one
 * would silently change every private file's URI).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "store_i.h"
#include "util.h"

#define SECRET_NAME "secret"
#define SECRET_TMP "secret.tmp"

static int
read_secret(struct tsn_store *s, struct tsn_secret *out)
{
	struct tsn_secret tmp;
	struct stat st;
	size_t off = 0;
	ssize_t r;
	int fd, rc;

	fd = openat(s->dirfd, SECRET_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		if (rc != -ENOENT)
			tsn_log(TSN_LOG_ERROR, "store %s: open %s: %s", s->path, SECRET_NAME,
			        strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof(tmp.b)) {
		tsn_log(TSN_LOG_ERROR, "store %s: %s is %lld bytes, not %zu: refusing to use it",
		        s->path, SECRET_NAME, (long long)st.st_size, sizeof(tmp.b));
		rc = -EIO;
		goto fail_logged;
	}
	if (st.st_mode & 077)
		tsn_log(TSN_LOG_WARN, "store %s: %s is readable by others (mode %03o)", s->path,
		        SECRET_NAME, (unsigned)(st.st_mode & 0777));
	while (off < sizeof(tmp.b)) {
		r = read(fd, tmp.b + off, sizeof(tmp.b) - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			goto fail;
		}
		off += (size_t)r;
	}
	close(fd);
	*out = tmp;
	sodium_memzero(&tmp, sizeof(tmp));
	return 0;

fail:
	tsn_log(TSN_LOG_ERROR, "store %s: read %s: %s", s->path, SECRET_NAME, strerror(-rc));
fail_logged:
	close(fd);
	sodium_memzero(&tmp, sizeof(tmp));
	return rc;
}

static int
create_secret(struct tsn_store *s, struct tsn_secret *out)
{
	struct tsn_secret tmp;
	size_t off = 0;
	ssize_t w;
	int fd, rc;

	/* A temp file left by a crash is incomplete by definition. */
	if (unlinkat(s->dirfd, SECRET_TMP, 0) != 0 && errno != ENOENT) {
		rc = -errno;
		goto fail;
	}
	fd = openat(s->dirfd, SECRET_TMP, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	randombytes_buf(tmp.b, sizeof(tmp.b));
	while (off < sizeof(tmp.b)) {
		w = write(fd, tmp.b + off, sizeof(tmp.b) - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			goto fail_close;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		goto fail_close;
	}
	if (close(fd) != 0) {
		rc = -errno;
		goto fail_unlink;
	}
	if (renameat(s->dirfd, SECRET_TMP, s->dirfd, SECRET_NAME) != 0) {
		rc = -errno;
		goto fail_unlink;
	}
	if (fsync(s->dirfd) != 0) {
		rc = -errno;
		goto fail_wipe; /* the secret is there; its name may not survive a power cut */
	}
	*out = tmp;
	sodium_memzero(&tmp, sizeof(tmp));
	return 0;

fail_close:
	close(fd);
fail_unlink:
	unlinkat(s->dirfd, SECRET_TMP, 0);
fail_wipe:
	sodium_memzero(&tmp, sizeof(tmp));
fail:
	tsn_log(TSN_LOG_ERROR, "store %s: create %s: %s", s->path, SECRET_NAME, strerror(-rc));
	return rc;
}

int
tsn_store_private_secret(struct tsn_store *s, struct tsn_secret *out)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = read_secret(s, out);
	if (rc == -ENOENT)
		rc = create_secret(s, out);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
