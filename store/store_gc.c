/*
 * store_gc.c: drop what nobody needs: cached chunks, pending chunks of
 * earlier sessions (puts that never committed), body files with no entry
 * (a crash between rename and index write, or an unlink that failed) and
 * temp files of earlier sessions.
 *
 * The index is scanned without the mutex (a leveldb iterator is a
 * snapshot); each candidate is checked again and dropped under the mutex,
 * a batch at a time, so puts and reads go on meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_i.h"
#include "util.h"

#define GC_BATCH 256

/* What a sweep drops: GC_ALL for tsn_store_gc, GC_MINE for tsn_store_drop_pending. */
enum { GC_ALL, GC_MINE };

static int
garbage(const struct tsn_store *s, const struct tsn_store__entry *e, int mode)
{
	if (e->pins > 0 || (e->flags & TSN_STORE__F_HELD))
		return 0;
	if (mode == GC_MINE)
		return !(e->flags & TSN_STORE__F_CACHED) && e->session == s->session;
	return (e->flags & TSN_STORE__F_CACHED) || e->session != s->session;
}

/* Ids of every garbage entry, as of now. */
static int
candidates(struct tsn_store *s, struct tsn_store__ids *out, int mode)
{
	leveldb_iterator_t *it;
	struct tsn_store__entry e;
	const uint8_t *k, *v;
	size_t klen, vlen;
	char first = TSN_STORE__K_CHUNK, *err = NULL;
	int rc = 0;

	it = leveldb_create_iterator(s->db, s->ropts);
	for (leveldb_iter_seek(it, &first, 1); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = (const uint8_t *)leveldb_iter_key(it, &klen);
		if (klen < 1 || k[0] != TSN_STORE__K_CHUNK)
			break;
		v = (const uint8_t *)leveldb_iter_value(it, &vlen);
		if (klen != TSN_STORE__CKEY_LEN || tsn_store__entry_parse(v, vlen, &e) < 0)
			continue; /* logged at open */
		if (garbage(s, &e, mode) && (rc = tsn_store__ids_add(out, k + 1)) < 0)
			break;
	}
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	if (err != NULL && rc == 0)
		return tsn_store__dberr(s, "gc scan", err);
	leveldb_free(err);
	return rc;
}

/* Drop ids[0..n) that are still garbage. Caller holds s->mu. */
static int
drop_batch(struct tsn_store *s, uint8_t (*id)[TSN_ID_LEN], size_t n, int mode, long *count,
           uint64_t *bytes)
{
	struct tsn_store__delta d = {0};
	struct tsn_store__entry e;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	size_t keep = 0;
	uint64_t freed = 0;
	int rc = 0, found;

	for (size_t i = 0; i < n; i++) {
		found = tsn_store__entry_get(s, id[i], &e);
		if (found == -EIO) {
			rc = -EIO;
			goto out;
		}
		if (found != 1 || !garbage(s, &e, mode))
			continue;
		tsn_store__stage(b, &d, id[i], &e, NULL);
		freed += e.len;
		memmove(id[keep++], id[i], TSN_ID_LEN);
	}
	if (keep == 0)
		goto out;
	if ((rc = tsn_store__write(s, b, 0, "gc")) < 0)
		goto out;
	tsn_store__apply(s, &d);
	for (size_t i = 0; i < keep; i++)
		tsn_store__body_unlink(s, id[i]);
	*count += (long)keep;
	*bytes += freed;
out:
	leveldb_writebatch_destroy(b);
	return rc;
}

/* Remove chunks/ab/<hex> if no entry names it. */
static int
orphan(struct tsn_store *s, int cdfd, const char *name, const char *rel, long *count,
       uint64_t *bytes)
{
	struct tsn_store__entry e;
	uint8_t id[TSN_ID_LEN];
	struct stat st;
	int found;

	if (tsn_unhex(name, strlen(name), id, TSN_ID_LEN) < 0)
		return 0; /* not ours */
	if (tsn_store__entry_get(s, id, &e) != 0)
		return 0; /* indexed (or unreadable: left alone), the common case */
	pthread_mutex_lock(&s->mu);
	found = tsn_store__entry_get(s, id, &e); /* a put may have just indexed it */
	if (found == 0 && fstatat(cdfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode)) {
		if (unlinkat(cdfd, name, 0) == 0) {
			tsn_log(TSN_LOG_INFO, "store %s: gc: removed orphan body chunks/%s/%s",
			        s->path, rel, name);
			*count += 1;
			*bytes += (uint64_t)st.st_size;
		} else if (errno != ENOENT) {
			tsn_log(TSN_LOG_WARN, "store %s: gc: unlink chunks/%s/%s: %s", s->path, rel,
			        name, strerror(errno));
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found == -EIO ? -EIO : 0; /* a failed unlink is logged; gc goes on */
}

/* Open dir `name` under fd as a DIR stream. */
static DIR *
open_dir(int fd, const char *name)
{
	int dfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (dfd < 0)
		return NULL;
	if ((d = fdopendir(dfd)) == NULL)
		close(dfd);
	return d;
}

static int
sweep_shard(struct tsn_store *s, DIR *ab, const char *abname, long *count, uint64_t *bytes)
{
	struct dirent *fe;
	int rc = 0;

	while (rc == 0 && (fe = readdir(ab)) != NULL) {
		if (strlen(fe->d_name) == 2 * TSN_ID_LEN)
			rc = orphan(s, dirfd(ab), fe->d_name, abname, count, bytes);
	}
	return rc;
}

/* Body files with no entry. */
static int
sweep_orphans(struct tsn_store *s, long *count, uint64_t *bytes)
{
	struct dirent *de;
	DIR *top, *ab;
	int rc = 0;

	if ((top = open_dir(s->chunksfd, ".")) == NULL)
		return -errno;
	while (rc == 0 && (de = readdir(top)) != NULL) {
		if (!tsn_store__is_hex(de->d_name, 2) || (ab = open_dir(dirfd(top), de->d_name)) == NULL)
			continue;
		rc = sweep_shard(s, ab, de->d_name, count, bytes);
		closedir(ab);
	}
	closedir(top);
	return rc;
}

/* Temp files of earlier sessions (this one's may belong to a put under way). */
static void
sweep_tmp(struct tsn_store *s, uint64_t *bytes)
{
	struct dirent *de;
	struct stat st;
	char mine[16];
	size_t ml;
	DIR *d;

	if ((d = open_dir(s->chunksfd, "tmp")) == NULL)
		return;
	ml = (size_t)snprintf(mine, sizeof(mine), "%" PRIu32 "-", s->session);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, mine, ml) == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			*bytes += (uint64_t)st.st_size;
	}
	closedir(d);
}

/* Drop the index entries (and bodies) that are garbage for mode. */
static int
sweep_index(struct tsn_store *s, int mode, long *count, uint64_t *freed)
{
	struct tsn_store__ids c = {0};
	int rc;

	if ((rc = candidates(s, &c, mode)) < 0)
		goto out;
	for (size_t i = 0; i < c.n && rc == 0; i += GC_BATCH) {
		pthread_mutex_lock(&s->mu);
		rc = drop_batch(s, c.id + i, c.n - i < GC_BATCH ? c.n - i : GC_BATCH, mode, count,
		                freed);
		pthread_mutex_unlock(&s->mu);
	}
out:
	free(c.id);
	return rc;
}

long
tsn_store_drop_pending(struct tsn_store *s, uint64_t *bytes)
{
	uint64_t freed = 0;
	long count = 0;
	int rc = sweep_index(s, GC_MINE, &count, &freed);

	if (bytes != NULL)
		*bytes = freed;
	return rc < 0 ? rc : count;
}

long
tsn_store_gc(struct tsn_store *s, uint64_t *bytes)
{
	uint64_t freed = 0;
	long count = 0;
	int rc;

	if ((rc = sweep_index(s, GC_ALL, &count, &freed)) < 0)
		goto out;
	if ((rc = sweep_orphans(s, &count, &freed)) < 0)
		goto out;
	sweep_tmp(s, &freed);
out:
	if (bytes != NULL)
		*bytes = freed;
	return rc < 0 ? rc : count;
}
