/*
 * test_net_identity.c: the key pair file: created 0600 with the right
 * size, loaded back to the same id, refused when readable by others, of the
 * wrong size, corrupt, or not a regular file.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "identity.h"
#include "util.h"

int
main(void)
{
	char dir[] = "/tmp/tsn-identity-XXXXXX", path[256], sub[256];
	struct tsn_identity a, b;
	uint8_t id[TSN_ID_LEN], sig[64];
	struct stat st;
	int fd;

	if (sodium_init() < 0)
		return 1;
	tsn_log_set_level(-1); /* the refusals below log errors on purpose */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/identity", dir);

	CHECK_INT(tsn_identity_load(path, &a), ==, -ENOENT);
	CHECK_INT(tsn_identity_load_or_create(path, &a), ==, 0);
	CHECK_INT(stat(path, &st), ==, 0);
	CHECK_INT(st.st_mode & 0777, ==, 0600);
	CHECK_INT(st.st_size, ==, TSN_IDENTITY_FILE_LEN);
	tsn_identity_node_id(id, a.pk);
	CHECK_MEM(id, a.id, TSN_ID_LEN);
	/* the key pair signs and verifies */
	crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, a.sk);
	CHECK_INT(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, a.pk), ==, 0);

	CHECK_INT(tsn_identity_load_or_create(path, &b), ==, 0);
	CHECK_MEM(b.id, a.id, TSN_ID_LEN);
	CHECK_MEM(b.sk, a.sk, 64);
	CHECK_INT(tsn_identity_create(path, &b), ==, -EEXIST);
	CHECK_INT(tsn_identity_load(path, &b), ==, 0);
	CHECK_MEM(b.id, a.id, TSN_ID_LEN); /* create did not clobber it */

	/* wrong mode */
	CHECK_INT(chmod(path, 0644), ==, 0);
	CHECK_INT(tsn_identity_load(path, &b), ==, -EPERM);
	CHECK_INT(tsn_identity_load_or_create(path, &b), ==, -EPERM);
	CHECK_INT(chmod(path, 0600), ==, 0);
	/* corrupt: public half does not match the seed */
	{
		/* Flip a byte (writing a fixed one failed to corrupt 1 run in 256). */
		unsigned char c;
		fd = open(path, O_RDWR);
		CHECK(fd >= 0);
		CHECK_INT(pread(fd, &c, 1, 40), ==, 1);
		c ^= 0x01;
		CHECK_INT(pwrite(fd, &c, 1, 40), ==, 1);
		close(fd);
	}
	CHECK_INT(tsn_identity_load(path, &b), ==, -EBADMSG);
	/* wrong size */
	CHECK_INT(truncate(path, 63), ==, 0);
	CHECK_INT(tsn_identity_load(path, &b), ==, -EINVAL);
	CHECK_INT(truncate(path, 65), ==, 0);
	CHECK_INT(tsn_identity_load(path, &b), ==, -EINVAL);
	/* not a regular file */
	snprintf(sub, sizeof(sub), "%s/dir", dir);
	CHECK_INT(mkdir(sub, 0700), ==, 0);
	CHECK_INT(tsn_identity_load(sub, &b), ==, -EINVAL);
	rmdir(sub);
	/* a symlink is not followed */
	snprintf(sub, sizeof(sub), "%s/link", dir);
	CHECK_INT(symlink(path, sub), ==, 0);
	CHECK_INT(tsn_identity_load(sub, &b), ==, -ELOOP);
	unlink(sub);

	/* no temporary files left behind */
	unlink(path);
	CHECK_INT(rmdir(dir), ==, 0);
	tsn_identity_wipe(&a);
	tsn_identity_wipe(&b);
	printf("identity ok\n");
	return 0;
}
