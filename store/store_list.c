/*
 * store_list.c: what net/ repair needs of the chunk index: a listing of the
 * chunks by role, and the held role's life (touch, unhold).
 *
 * The listing scans a leveldb snapshot without the mutex (like gc), so
 * puts and reads go on meanwhile; what it reports may have changed by the
 * time the caller acts, which is why unhold checks the entry again under
 * the mutex.
 */
#include <errno.h>
#include <string.h>

#include "store_i.h"
#include "util.h"

int
tsn_store_chunk_list(struct tsn_store *s, unsigned roles,
                     int (*cb)(void *ud, const struct tsn_store_chunk_info *ci), void *ud)
{
	leveldb_iterator_t *it;
	struct tsn_store__entry e;
	struct tsn_store_chunk_info ci;
	const uint8_t *k, *v;
	size_t klen, vlen;
	char first = TSN_STORE__K_CHUNK, *err = NULL;
	int rc = 0, role;

	it = leveldb_create_iterator(s->db, s->ropts);
	for (leveldb_iter_seek(it, &first, 1); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = (const uint8_t *)leveldb_iter_key(it, &klen);
		if (klen < 1 || k[0] != TSN_STORE__K_CHUNK)
			break;
		v = (const uint8_t *)leveldb_iter_value(it, &vlen);
		if (klen != TSN_STORE__CKEY_LEN || tsn_store__entry_parse(v, vlen, &e) < 0)
			continue; /* logged at open */
		role = tsn_store__role(&e);
		if (!(roles & (1u << role)))
			continue;
		memcpy(ci.id, k + 1, TSN_ID_LEN);
		ci.role = role;
		ci.held = (e.flags & TSN_STORE__F_HELD) != 0;
		ci.len = e.len;
		ci.atime_ms = e.atime_ms;
		if ((rc = cb(ud, &ci)) != 0)
			break;
	}
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	if (err != NULL && rc == 0)
		return tsn_store__dberr(s, "chunk list", err);
	leveldb_free(err);
	return rc;
}

/* Write the change old -> ne (ne NULL: drop). Caller holds s->mu. */
static int
change(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], const struct tsn_store__entry *old,
       const struct tsn_store__entry *ne, const char *what)
{
	struct tsn_store__delta d = {0};
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	int rc;

	tsn_store__stage(b, &d, id, old, ne);
	if ((rc = tsn_store__write(s, b, 0, what)) == 0)
		tsn_store__apply(s, &d);
	leveldb_writebatch_destroy(b);
	return rc;
}

int
tsn_store_chunk_keeps(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], int refresh)
{
	struct tsn_store__entry e, ne;
	int found, rc = 0;

	pthread_mutex_lock(&s->mu);
	found = tsn_store__entry_get(s, id, &e);
	if (found == -EIO) {
		rc = -EIO;
	} else if (found == 1 && (e.pins > 0 || (e.flags & TSN_STORE__F_HELD))) {
		rc = 1;
		if (refresh && (e.flags & TSN_STORE__F_HELD)) {
			ne = e;
			ne.atime_ms = tsn_wall_ms();
			if (change(s, id, &e, &ne, "touch held chunk") < 0)
				rc = -EIO;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int
tsn_store_chunk_unhold(struct tsn_store *s, const uint8_t id[TSN_ID_LEN])
{
	struct tsn_store__entry e, ne;
	int found, rc = 0, drop = 0;

	pthread_mutex_lock(&s->mu);
	found = tsn_store__entry_get(s, id, &e);
	if (found != 1) {
		rc = found == 0 ? -ENOENT : found;
		goto out;
	}
	if (!(e.flags & TSN_STORE__F_HELD))
		goto out;
	ne = e;
	ne.flags &= (uint8_t)~TSN_STORE__F_HELD;
	/* neither pinned nor cached: gone (a held chunk is never pending) */
	drop = e.pins == 0 && !(e.flags & TSN_STORE__F_CACHED);
	if ((rc = change(s, id, &e, drop ? NULL : &ne, "unhold chunk")) == 0) {
		if (drop)
			tsn_store__body_unlink(s, id);
		rc = drop;
	}
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}
