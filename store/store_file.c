/*
 * store_file.c: your files: commit (pin every block and record the file in
 * one synchronous batch), remove (unpin), get and list.
 *
 * A file's blocks are found by walking its tree from the local store. A
 * chunk can occur several times in one file (repeated data), so the walk's
 * ids are sorted and counted first: a leveldb batch keeps only the last put
 * to a key, and pins count occurrences.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_i.h"
#include "tree.h"
#include "util.h"

struct blockcount {
	uint8_t id[TSN_ID_LEN];
	uint32_t n;
};

struct blocks {
	struct blockcount *v;
	size_t n, cap;
};

static int
collect_cb(void *ud, const struct tsn_chunk_ref *ref, int kind)
{
	struct blocks *b = ud;
	void *p;
	size_t cap;

	(void)kind;
	if (b->n == b->cap) {
		cap = b->cap ? 2 * b->cap : 256;
		if (cap > SIZE_MAX / sizeof(*b->v))
			return -ENOMEM;
		if ((p = realloc(b->v, cap * sizeof(*b->v))) == NULL)
			return -ENOMEM;
		b->v = p;
		b->cap = cap;
	}
	memcpy(b->v[b->n].id, ref->id, TSN_ID_LEN);
	b->v[b->n++].n = 1;
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, TSN_ID_LEN);
}

/* Sort by id and fold repeats into counts. */
static void
fold(struct blocks *b)
{
	size_t w = 0;

	if (b->n == 0)
		return;
	qsort(b->v, b->n, sizeof(*b->v), cmp_id);
	for (size_t i = 1; i < b->n; i++) {
		if (memcmp(b->v[w].id, b->v[i].id, TSN_ID_LEN) == 0)
			b->v[w].n++;
		else
			b->v[++w] = b->v[i];
	}
	b->n = w + 1;
}

/*
 * Every block of the file uri names, with its number of occurrences. On
 * failure (logged) b holds the blocks visited before it. Cost: one fetch per
 * index node, 36 bytes of memory per block.
 */
static int
collect(struct tsn_store *s, const struct tsn_uri *uri, struct blocks *b)
{
	struct tsn_reader *r = NULL;
	char why[256];
	int rc;

	rc = tsn_reader_open_err(&r, uri, tsn_store_fetch, s, why, sizeof(why));
	if (rc < 0) {
		tsn_log(TSN_LOG_ERROR, "store %s: %s", s->path, why);
		return rc;
	}
	rc = tsn_reader_walk(r, collect_cb, b);
	if (rc < 0 && rc != -ENOMEM)
		tsn_log(TSN_LOG_ERROR, "store %s: %s", s->path, tsn_reader_error(r));
	tsn_reader_free(r);
	fold(b);
	return rc;
}

/* Read the record of root id. Returns 1 (found), 0 (absent), -EIO. */
static int
record_get(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], struct tsn_file_info *f)
{
	uint8_t k[TSN_STORE__FKEY_LEN];
	char *v, *err = NULL, hex[TSN_STORE__HEX_LEN];
	size_t vlen = 0;
	int rc;

	tsn_store__fkey(k, id);
	v = leveldb_get(s->db, s->ropts, (const char *)k, sizeof(k), &vlen, &err);
	if (err != NULL) {
		leveldb_free(v);
		return tsn_store__dberr(s, "read file record", err);
	}
	if (v == NULL)
		return 0;
	rc = tsn_store__file_parse(id, (const uint8_t *)v, vlen, f);
	leveldb_free(v);
	if (rc < 0) {
		tsn_hex(id, TSN_ID_LEN, hex);
		tsn_log(TSN_LOG_ERROR, "store %s: file %s: unreadable record", s->path, hex);
		return -EIO;
	}
	return 1;
}

static void
record_stage(leveldb_writebatch_t *b, const struct tsn_file_info *f)
{
	uint8_t k[TSN_STORE__FKEY_LEN], v[TSN_STORE__FILE_HDR + TSN_STORE__NAME_MAX];
	size_t n = tsn_store__file_encode(f, v);

	tsn_store__fkey(k, f->uri.id);
	leveldb_writebatch_put(b, (const char *)k, sizeof(k), (const char *)v, n);
}

/* If the file is recorded, rewrite its record from f. Caller holds s->mu. */
static int
record_refresh(struct tsn_store *s, const struct tsn_file_info *f)
{
	struct tsn_file_info old;
	leveldb_writebatch_t *b;
	int rc;

	if ((rc = record_get(s, f->uri.id, &old)) <= 0)
		return rc;
	b = leveldb_writebatch_create();
	record_stage(b, f);
	rc = tsn_store__write(s, b, 1, "update file record");
	leveldb_writebatch_destroy(b);
	return rc < 0 ? rc : 1;
}

/* Stage pins += count for every block. Caller holds s->mu. */
static int
stage_pins(struct tsn_store *s, const struct blocks *bl, leveldb_writebatch_t *b,
           struct tsn_store__delta *d)
{
	struct tsn_store__entry e, ne;
	char hex[TSN_STORE__HEX_LEN];
	int found;

	for (size_t i = 0; i < bl->n; i++) {
		found = tsn_store__entry_get(s, bl->v[i].id, &e);
		if (found < 0)
			return -EIO;
		if (found == 0) {
			tsn_hex(bl->v[i].id, TSN_ID_LEN, hex);
			tsn_log(TSN_LOG_ERROR, "store %s: commit: chunk %s is not in the store",
			        s->path, hex);
			return -ENOENT;
		}
		if (e.pins > UINT32_MAX - bl->v[i].n)
			return -EOVERFLOW;
		ne = e;
		ne.pins += bl->v[i].n;
		tsn_store__stage(b, d, bl->v[i].id, &e, &ne);
	}
	return 0;
}

int
tsn_store_file_commit(struct tsn_store *s, const struct tsn_file_info *info)
{
	struct tsn_store__delta d = {0};
	struct blocks bl = {0};
	struct tsn_file_info f;
	leveldb_writebatch_t *b = NULL;
	int rc;

	if (strnlen(info->name, sizeof(info->name)) >= sizeof(info->name))
		return -EINVAL;
	f = *info;
	if (f.mtime == 0)
		f.mtime = (uint64_t)time(NULL);

	pthread_mutex_lock(&s->mu);
	rc = record_refresh(s, &f);
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		return rc < 0 ? rc : 0;

	if ((rc = collect(s, &f.uri, &bl)) < 0)
		goto out;
	/* The bodies were written without fsync: flush them before pinning. */
	if (syncfs(s->dirfd) != 0) {
		rc = -errno;
		tsn_log(TSN_LOG_ERROR, "store %s: syncfs: %s", s->path, strerror(-rc));
		goto out;
	}

	pthread_mutex_lock(&s->mu);
	if ((rc = record_refresh(s, &f)) != 0) {
		rc = rc < 0 ? rc : 0; /* committed by another thread meanwhile */
		goto out_unlock;
	}
	b = leveldb_writebatch_create();
	if ((rc = stage_pins(s, &bl, b, &d)) < 0)
		goto out_unlock;
	record_stage(b, &f);
	d.files++;
	if ((rc = tsn_store__write(s, b, 1, "commit file")) < 0)
		goto out_unlock;
	tsn_store__apply(s, &d);
out_unlock:
	pthread_mutex_unlock(&s->mu);
out:
	if (b != NULL)
		leveldb_writebatch_destroy(b);
	free(bl.v);
	return rc;
}

/* Stage pins -= count; a chunk left with none becomes cached. Caller holds s->mu. */
static int
stage_unpins(struct tsn_store *s, const struct blocks *bl, leveldb_writebatch_t *b,
             struct tsn_store__delta *d)
{
	struct tsn_store__entry e, ne;
	char hex[TSN_STORE__HEX_LEN];
	uint64_t now = tsn_wall_ms();
	int found;

	for (size_t i = 0; i < bl->n; i++) {
		found = tsn_store__entry_get(s, bl->v[i].id, &e);
		if (found == -EIO)
			return -EIO;
		tsn_hex(bl->v[i].id, TSN_ID_LEN, hex);
		if (found != 1) {
			tsn_log(TSN_LOG_WARN, "store %s: remove: chunk %s is not in the store", s->path,
			        hex);
			continue;
		}
		ne = e;
		if (e.pins < bl->v[i].n) {
			tsn_log(TSN_LOG_WARN, "store %s: remove: chunk %s has %u pins, not %u", s->path,
			        hex, (unsigned)e.pins, (unsigned)bl->v[i].n);
			ne.pins = 0;
		} else {
			ne.pins -= bl->v[i].n;
		}
		if (ne.pins == 0 && e.pins != 0) {
			ne.flags |= TSN_STORE__F_CACHED;
			ne.seq = ++s->seq;
			ne.atime_ms = now;
		}
		tsn_store__stage(b, d, bl->v[i].id, &e, &ne);
	}
	return 0;
}

int
tsn_store_file_remove(struct tsn_store *s, const struct tsn_uri *uri)
{
	struct tsn_store__delta d = {0};
	struct blocks bl = {0};
	struct tsn_file_info f;
	leveldb_writebatch_t *b = NULL;
	uint8_t k[TSN_STORE__FKEY_LEN];
	int rc;

	if ((rc = record_get(s, uri->id, &f)) <= 0)
		return rc == 0 ? -ENOENT : rc;
	rc = collect(s, &f.uri, &bl);
	if (rc == -ENOENT || rc == -EBADMSG || rc == -EPROTO) {
		/* A damaged tree would make the file impossible to remove: unpin what was reached. */
		tsn_log(TSN_LOG_WARN, "store %s: remove %s: blocks past the damage stay pinned",
		        s->path, f.name);
	} else if (rc < 0) {
		goto out;
	}

	pthread_mutex_lock(&s->mu);
	if ((rc = record_get(s, uri->id, &f)) <= 0) {
		rc = rc == 0 ? -ENOENT : rc; /* removed by another thread meanwhile */
		goto out_unlock;
	}
	b = leveldb_writebatch_create();
	if ((rc = stage_unpins(s, &bl, b, &d)) < 0)
		goto out_unlock;
	tsn_store__fkey(k, uri->id);
	leveldb_writebatch_delete(b, (const char *)k, sizeof(k));
	d.files--;
	if ((rc = tsn_store__write(s, b, 1, "remove file")) < 0)
		goto out_unlock;
	tsn_store__apply(s, &d);
out_unlock:
	pthread_mutex_unlock(&s->mu);
out:
	if (b != NULL)
		leveldb_writebatch_destroy(b);
	free(bl.v);
	return rc;
}

int
tsn_store_file_get(struct tsn_store *s, const struct tsn_uri *uri, struct tsn_file_info *out)
{
	int rc = record_get(s, uri->id, out);

	return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
}

int
tsn_store_file_list(struct tsn_store *s,
                    int (*cb)(void *ud, const struct tsn_file_info *f), void *ud)
{
	leveldb_iterator_t *it;
	struct tsn_file_info f;
	const uint8_t *k, *v;
	size_t klen, vlen;
	char first = TSN_STORE__K_FILE, *err = NULL;
	int rc = 0;

	it = leveldb_create_iterator(s->db, s->ropts);
	for (leveldb_iter_seek(it, &first, 1); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = (const uint8_t *)leveldb_iter_key(it, &klen);
		if (klen < 1 || k[0] != TSN_STORE__K_FILE)
			break;
		v = (const uint8_t *)leveldb_iter_value(it, &vlen);
		if (klen != TSN_STORE__FKEY_LEN || tsn_store__file_parse(k + 1, v, vlen, &f) < 0) {
			tsn_log(TSN_LOG_WARN, "store %s: skipping an unreadable file record", s->path);
			continue;
		}
		if ((rc = cb(ud, &f)) != 0)
			break;
	}
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	if (err != NULL && rc == 0)
		return tsn_store__dberr(s, "list files", err);
	leveldb_free(err);
	return rc;
}
