/*
 * store_body.c: chunk body files under DATADIR/chunks/: ab/<64 hex id>,
 * written to tmp/<session>-<n> first and renamed into place. No fsync here:
 * tsn_store_file_commit flushes the file system before it pins. Writeback of
 * each body is started as soon as it is written (not waited for), so that
 * flush finds little left to write instead of a whole file's worth. Cached
 * bodies (fetched for a reader) are written with direct I/O where the
 * buffer and the file system allow it, and never flushed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_i.h"
#include "util.h"

void
tsn_store__body_path(const uint8_t id[TSN_ID_LEN], char out[TSN_STORE__BODY_PATH_LEN])
{
	char hex[TSN_STORE__HEX_LEN];

	tsn_hex(id, TSN_ID_LEN, hex);
	memcpy(out, hex, 2);
	out[2] = '/';
	memcpy(out + 3, hex, sizeof(hex));
}

static int
space_err(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? -ENOSPC : -e;
}

/* Write block[*off, len) to fd, advancing *off; a short write continues. */
static int
write_from(int fd, const uint8_t *block, size_t len, size_t *off)
{
	ssize_t w;

	while (*off < len) {
		w = write(fd, block + *off, len - *off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		*off += (size_t)w;
	}
	return 0;
}

/*
 * The page-aligned head of a cached body, with direct I/O: the reader's
 * page cache already holds the data it asked for, and copying every
 * fetched block into new page cache pages as well was the largest single
 * cost of a remote read (tools/bench-fs). The tail (under a page) and
 * anything the file system refuses go through the page cache. Returns 0 or
 * -errno of a real write error.
 */
static int
write_direct(struct tsn_store *s, int fd, const uint8_t *block, size_t len, size_t *off)
{
	size_t head = len & ~(size_t)(TSN_STORE_DIO_ALIGN - 1);
	int fl, rc;

	rc = write_from(fd, block, head, off);
	if (rc == -EINVAL) {
		if (atomic_exchange(&s->dio, 0))
			tsn_log(TSN_LOG_INFO, "store %s: direct writes refused; cached chunks "
			        "go through the page cache", s->path);
		rc = 0;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) != 0)
		return -errno;
	return rc;
}

int
tsn_store__body_write_tmp(struct tsn_store *s, const uint8_t *block, size_t len, int cached,
                          char tmpname[TSN_STORE__TMP_NAME_LEN])
{
	uint64_t n = atomic_fetch_add(&s->tmpseq, 1);
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fd, rc, direct;
	size_t off = 0;

	direct = cached && len >= TSN_STORE_DIO_ALIGN && atomic_load(&s->dio) &&
	         (uintptr_t)block % TSN_STORE_DIO_ALIGN == 0;
	snprintf(tmpname, TSN_STORE__TMP_NAME_LEN, "tmp/%" PRIu32 "-%" PRIu64, s->session, n);
	fd = openat(s->chunksfd, tmpname, flags | (direct ? O_DIRECT : 0), 0600);
	if (fd < 0 && direct && errno == EINVAL) {
		if (atomic_exchange(&s->dio, 0))
			tsn_log(TSN_LOG_INFO, "store %s: no direct I/O on this file system; cached "
			        "chunks go through the page cache", s->path);
		direct = 0;
		fd = openat(s->chunksfd, tmpname, flags, 0600);
	}
	if (fd < 0) {
		rc = space_err(errno);
		goto fail;
	}
	if ((direct && (rc = write_direct(s, fd, block, len, &off)) < 0) ||
	    (rc = write_from(fd, block, len, &off)) < 0) {
		rc = space_err(-rc);
		goto fail_close;
	}
	/* Advisory: a failure only leaves the work to the commit's flush. A
	 * cached body is never flushed: the kernel writes it when it likes. */
	if (!cached)
		(void)sync_file_range(fd, 0, (off_t)len, SYNC_FILE_RANGE_WRITE);
	if (close(fd) != 0) {
		fd = -1;
		rc = space_err(errno);
		goto fail_unlink;
	}
	return 0;

fail_close:
	close(fd);
fail_unlink:
	unlinkat(s->chunksfd, tmpname, 0);
fail:
	if (rc != -ENOSPC)
		tsn_log(TSN_LOG_ERROR, "store %s: write chunks/%s: %s", s->path, tmpname,
		        strerror(-rc));
	return rc;
}

void
tsn_store__tmp_unlink(struct tsn_store *s, const char *tmpname)
{
	if (unlinkat(s->chunksfd, tmpname, 0) != 0 && errno != ENOENT)
		tsn_log(TSN_LOG_WARN, "store %s: unlink chunks/%s: %s", s->path, tmpname,
		        strerror(errno));
}

static int
mkdir_ok(int dirfd, const char *path)
{
	if (mkdirat(dirfd, path, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
tsn_store__body_install(struct tsn_store *s, const char *tmpname, const uint8_t id[TSN_ID_LEN])
{
	char path[TSN_STORE__BODY_PATH_LEN], dir[3];
	int rc;

	tsn_store__body_path(id, path);
	if (renameat(s->chunksfd, tmpname, s->chunksfd, path) == 0)
		return 0;
	if (errno != ENOENT) {
		rc = -errno;
		goto fail;
	}
	/* The shard directories are made at open; one removed since comes back. */
	memcpy(dir, path, 2);
	dir[2] = '\0';
	if ((rc = mkdir_ok(s->chunksfd, dir)) < 0)
		goto fail;
	if (renameat(s->chunksfd, tmpname, s->chunksfd, path) != 0) {
		rc = -errno;
		goto fail;
	}
	return 0;

fail:
	tsn_log(TSN_LOG_ERROR, "store %s: rename chunks/%s to chunks/%s: %s", s->path, tmpname,
	        path, strerror(-rc));
	return rc;
}

long
tsn_store__body_read(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], uint32_t len,
                     uint8_t *buf, size_t cap)
{
	char path[TSN_STORE__BODY_PATH_LEN];
	struct stat st;
	size_t off = 0;
	ssize_t r;
	int fd, e = 0;
	long rc;

	if (cap < len)
		return -EMSGSIZE;
	tsn_store__body_path(id, path);
	fd = openat(s->chunksfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	if (fstat(fd, &st) != 0) {
		e = errno;
		rc = -EIO;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != (off_t)len) {
		tsn_log(TSN_LOG_ERROR, "store %s: chunk %s: body is %lld bytes, index says %" PRIu32,
		        s->path, path + 6, (long long)st.st_size, len);
		rc = -EIO;
		goto fail_logged;
	}
	while (off < len) {
		r = pread(fd, buf + off, len - off, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : 0;
			rc = -EIO;
			goto fail;
		}
		off += (size_t)r;
	}
	close(fd);
	return (long)len;

fail:
	tsn_log(TSN_LOG_ERROR, "store %s: chunk %s: read error: %s", s->path, path + 6,
	        e != 0 ? strerror(e) : "short read");
fail_logged:
	close(fd);
	return rc;
}

int
tsn_store__body_check(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], uint32_t len)
{
	char path[TSN_STORE__BODY_PATH_LEN];
	struct stat st;

	tsn_store__body_path(id, path);
	if (fstatat(s->chunksfd, path, &st, 0) != 0)
		return errno == ENOENT ? 0 : -errno;
	return S_ISREG(st.st_mode) && st.st_size == (off_t)len;
}

void
tsn_store__body_unlink(struct tsn_store *s, const uint8_t id[TSN_ID_LEN])
{
	char path[TSN_STORE__BODY_PATH_LEN];

	tsn_store__body_path(id, path);
	if (unlinkat(s->chunksfd, path, 0) != 0 && errno != ENOENT)
		tsn_log(TSN_LOG_WARN, "store %s: unlink chunks/%s: %s (gc will retry)", s->path,
		        path, strerror(errno));
}
