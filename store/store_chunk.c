/*
 * store_chunk.c: put, get, has and drop of single chunks, and eviction of
 * cached chunks in LRU order to stay under the quota.
 *
 * A put of a new chunk runs in three steps: under the mutex, make room and
 * reserve the bytes; without it, write the body to a temp file (the slow
 * part, in parallel with other puts and reads); under the mutex again,
 * rename the body into place and write its entry. Renames and unlinks in
 * chunks/ happen only under the mutex, so another thread never sees an
 * entry without its body or the reverse. The 256 shard directories are
 * made at open (store.c): a mkdir per new chunk cost as much as the body's
 * own create.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_i.h"
#include "util.h"

static uint64_t
total_bytes(const struct tsn_store *s)
{
	return s->st.bytes[0] + s->st.bytes[1] + s->st.bytes[2] + s->st.bytes[3] + s->reserved;
}

/* Walk the 'a' keys oldest first, staging deletions until `over` bytes are freed. */
static int
pick_victims(struct tsn_store *s, uint64_t over, leveldb_writebatch_t *b,
             struct tsn_store__delta *d, struct tsn_store__ids *v, uint64_t *freed)
{
	leveldb_iterator_t *it;
	struct tsn_store__entry e;
	const uint8_t *k;
	uint64_t seq;
	char prefix = TSN_STORE__K_LRU, *err = NULL, hex[TSN_STORE__HEX_LEN];
	size_t klen;
	int rc = 0, found;

	it = leveldb_create_iterator(s->db, s->ropts);
	for (leveldb_iter_seek(it, &prefix, 1); leveldb_iter_valid(it) && *freed < over;
	     leveldb_iter_next(it)) {
		k = (const uint8_t *)leveldb_iter_key(it, &klen);
		if (klen < 1 || k[0] != TSN_STORE__K_LRU)
			break;
		if (klen != TSN_STORE__AKEY_LEN) {
			tsn_log(TSN_LOG_WARN, "store %s: dropping a malformed LRU key", s->path);
			leveldb_writebatch_delete(b, (const char *)k, klen);
			continue;
		}
		seq = 0;
		for (int i = 1; i <= 8; i++)
			seq = seq << 8 | k[i];
		found = tsn_store__entry_get(s, k + 9, &e);
		if (found == -EIO) {
			rc = found;
			break;
		}
		if (found != 1 || !tsn_store__evictable(&e) || e.seq != seq) {
			/* Left over by an older version or a bad entry: not ours to act on. */
			tsn_hex(k + 9, TSN_ID_LEN, hex);
			tsn_log(TSN_LOG_WARN, "store %s: chunk %s: dropping a stale LRU key", s->path, hex);
			leveldb_writebatch_delete(b, (const char *)k, klen);
			continue;
		}
		if ((rc = tsn_store__ids_add(v, k + 9)) < 0)
			break;
		tsn_store__stage(b, d, k + 9, &e, NULL);
		*freed += e.len;
	}
	leveldb_iter_get_error(it, &err);
	if (err != NULL && rc == 0)
		rc = tsn_store__dberr(s, "scan LRU", err);
	else if (err != NULL)
		leveldb_free(err);
	leveldb_iter_destroy(it);
	return rc;
}

int
tsn_store__make_room(struct tsn_store *s, uint64_t need)
{
	struct tsn_store__delta d = {0};
	struct tsn_store__ids v = {0};
	leveldb_writebatch_t *b;
	uint64_t total = total_bytes(s), over, freed = 0;
	int rc;

	if (total + need <= s->st.quota)
		return 0;
	over = total + need - s->st.quota;
	if (over > s->st.bytes[TSN_STAT_CACHED])
		return -ENOSPC; /* evicting every cached chunk would not do: keep them */
	b = leveldb_writebatch_create();
	if ((rc = pick_victims(s, over, b, &d, &v, &freed)) < 0)
		goto out;
	if ((rc = tsn_store__write(s, b, 0, "evict")) < 0)
		goto out;
	tsn_store__apply(s, &d);
	s->st.evicted += v.n;
	for (size_t i = 0; i < v.n; i++)
		tsn_store__body_unlink(s, v.id[i]);
	if (freed < over) {
		tsn_log(TSN_LOG_WARN, "store %s: LRU holds fewer bytes than the stats say", s->path);
		rc = -ENOSPC;
	}
out:
	leveldb_writebatch_destroy(b);
	free(v.id);
	return rc;
}

/* The entry e with its role raised for a put of `role`. */
static void
raise_role(const struct tsn_store *s, const struct tsn_store__entry *e, int role,
           uint64_t since, struct tsn_store__entry *ne)
{
	*ne = *e;
	if (role == TSN_CHUNK_HELD) {
		/* A held chunk's lifetime runs from `since`: its owner's last put
		 * or refresh. A copy never shortens what is already held here. */
		if (!(e->flags & TSN_STORE__F_HELD) || e->atime_ms < since)
			ne->atime_ms = since;
		ne->flags |= TSN_STORE__F_HELD;
	} else if (role == TSN_CHUNK_PENDING) {
		/* Out of the LRU, and ours now: gc must not take it from a put under way. */
		ne->flags &= (uint8_t)~TSN_STORE__F_CACHED;
		ne->session = s->session;
	}
}

static int
same_entry(const struct tsn_store__entry *a, const struct tsn_store__entry *b)
{
	return a->flags == b->flags && a->len == b->len && a->pins == b->pins &&
	       a->seq == b->seq && a->atime_ms == b->atime_ms && a->session == b->session;
}

/* Write the change old -> ne of chunk id. Caller holds s->mu. */
static int
update(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], const struct tsn_store__entry *old,
       const struct tsn_store__entry *ne, const char *what)
{
	struct tsn_store__delta d = {0};
	leveldb_writebatch_t *b;
	int rc;

	if (old != NULL && ne != NULL && same_entry(old, ne))
		return 0;
	b = leveldb_writebatch_create();
	tsn_store__stage(b, &d, id, old, ne);
	if ((rc = tsn_store__write(s, b, 0, what)) == 0)
		tsn_store__apply(s, &d);
	leveldb_writebatch_destroy(b);
	return rc;
}

/* 1 if an entry for id exists (in *e) and its body is whole, 0 if not, -EIO. */
static int
lookup_whole(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], size_t len,
             struct tsn_store__entry *e, int *found)
{
	int rc;

	*found = tsn_store__entry_get(s, id, e);
	if (*found == -EIO)
		return -EIO;
	if (*found != 1)
		return 0; /* absent, or an unreadable entry that the put replaces */
	if (e->len != len)
		return 0;
	rc = tsn_store__body_check(s, id, e->len);
	return rc < 0 ? -EIO : rc;
}

static int
chunk_put(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], const uint8_t *block, size_t len,
          enum tsn_chunk_role role, uint64_t since)
{
	struct tsn_store__entry e, ne;
	char tmp[TSN_STORE__TMP_NAME_LEN], hex[TSN_STORE__HEX_LEN];
	uint64_t now = tsn_wall_ms();
	int rc, found, reserved = 0;

	if (len == 0 || len > TSN_BLOCK_MAX ||
	    (role != TSN_CHUNK_PENDING && role != TSN_CHUNK_CACHED && role != TSN_CHUNK_HELD))
		return -EINVAL;
	if (since == 0 || since > now)
		since = now;
	pthread_mutex_lock(&s->mu);
	if ((rc = lookup_whole(s, id, len, &e, &found)) < 0)
		goto out_unlock;
	if (rc == 1) {
		raise_role(s, &e, (int)role, since, &ne);
		rc = update(s, id, &e, &ne, "update chunk entry");
		goto out_unlock;
	}
	if (found == 1) {
		/* Only a crash of the machine (not of the process) leaves this. */
		tsn_hex(id, TSN_ID_LEN, hex);
		tsn_log(TSN_LOG_WARN, "store %s: chunk %s: body missing or of the wrong size; "
		        "writing it again", s->path, hex);
	} else {
		if ((rc = tsn_store__make_room(s, len)) < 0)
			goto out_unlock;
		s->reserved += len;
		reserved = 1;
	}
	pthread_mutex_unlock(&s->mu);

	rc = tsn_store__body_write_tmp(s, block, len, role == TSN_CHUNK_CACHED, tmp);

	pthread_mutex_lock(&s->mu);
	if (rc < 0)
		goto out_release;
	if ((rc = lookup_whole(s, id, len, &e, &found)) != 0) {
		/* Put by another thread meanwhile (1), or an index error. */
		tsn_store__tmp_unlink(s, tmp);
		if (rc == 1) {
			raise_role(s, &e, (int)role, since, &ne);
			rc = update(s, id, &e, &ne, "update chunk entry");
		}
		goto out_release;
	}
	if ((rc = tsn_store__body_install(s, tmp, id)) < 0) {
		tsn_store__tmp_unlink(s, tmp);
		goto out_release;
	}
	if (found == 1) {
		raise_role(s, &e, (int)role, since, &ne);
		ne.len = (uint32_t)len;
	} else {
		memset(&ne, 0, sizeof(ne));
		ne.flags = role == TSN_CHUNK_CACHED ? TSN_STORE__F_CACHED :
		           role == TSN_CHUNK_HELD ? TSN_STORE__F_HELD : 0;
		ne.len = (uint32_t)len;
		ne.seq = ++s->seq;
		ne.atime_ms = role == TSN_CHUNK_HELD ? since : now;
		ne.session = s->session;
	}
	rc = update(s, id, found == 1 ? &e : NULL, &ne, "write chunk entry");
	if (rc < 0 && found != 1)
		tsn_store__body_unlink(s, id); /* nothing recorded: no orphan either */
out_release:
	if (reserved)
		s->reserved -= len;
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int
tsn_store_chunk_put(struct tsn_store *s, const uint8_t id[TSN_ID_LEN],
                    const uint8_t *block, size_t len, enum tsn_chunk_role role)
{
	return chunk_put(s, id, block, len, role, 0);
}

int
tsn_store_chunk_hold(struct tsn_store *s, const uint8_t id[TSN_ID_LEN],
                     const uint8_t *block, size_t len, uint64_t since_ms)
{
	return chunk_put(s, id, block, len, TSN_CHUNK_HELD, since_ms);
}

/*
 * The body of an entry is gone: evicted or dropped meanwhile (the entry is
 * gone too: -ENOENT), or lost in a machine crash. A lost body of an
 * unpinned, unheld chunk drops its entry (the chunk can be fetched again);
 * of a pinned or held one it is an I/O error.
 */
static long
lost_body(struct tsn_store *s, const uint8_t id[TSN_ID_LEN])
{
	struct tsn_store__entry e;
	char hex[TSN_STORE__HEX_LEN];
	long rc = -ENOENT;
	int found, role;

	pthread_mutex_lock(&s->mu);
	found = tsn_store__entry_get(s, id, &e);
	if (found < 0) {
		rc = -EIO;
	} else if (found == 1 && tsn_store__body_check(s, id, e.len) != 1) {
		tsn_hex(id, TSN_ID_LEN, hex);
		role = tsn_store__role(&e);
		if (role == TSN_STAT_PINNED || role == TSN_STAT_HELD) {
			tsn_log(TSN_LOG_ERROR, "store %s: chunk %s: indexed but its body is missing",
			        s->path, hex);
			rc = -EIO;
		} else {
			tsn_log(TSN_LOG_WARN, "store %s: chunk %s: body missing; forgetting it",
			        s->path, hex);
			if (update(s, id, &e, NULL, "drop chunk entry") < 0)
				rc = -EIO;
		}
	} else if (found == 1) {
		rc = -EAGAIN; /* put again meanwhile: the caller reads once more */
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

long
tsn_store_chunk_get(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap)
{
	struct tsn_store__entry e, ne;
	long rc;
	int found;

	for (int tries = 0; tries < 3; tries++) {
		pthread_mutex_lock(&s->mu);
		found = tsn_store__entry_get(s, id, &e);
		if (found <= 0) {
			pthread_mutex_unlock(&s->mu);
			return found == 0 ? -ENOENT : -EIO;
		}
		if (e.len > cap) {
			pthread_mutex_unlock(&s->mu);
			return -EMSGSIZE;
		}
		if (tsn_store__evictable(&e)) {
			ne = e;
			ne.seq = ++s->seq;
			ne.atime_ms = tsn_wall_ms();
			/* A touch that fails to be written only costs LRU accuracy (logged). */
			update(s, id, &e, &ne, "touch chunk");
		}
		pthread_mutex_unlock(&s->mu);

		rc = tsn_store__body_read(s, id, e.len, buf, cap);
		if (rc != -ENOENT)
			return rc;
		if ((rc = lost_body(s, id)) != -EAGAIN)
			return rc;
	}
	return -EIO;
}

long
tsn_store_fetch(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap)
{
	return tsn_store_chunk_get(ud, id, buf, cap);
}

int
tsn_store_chunk_has(struct tsn_store *s, const uint8_t id[TSN_ID_LEN])
{
	struct tsn_store__entry e;

	return tsn_store__entry_get(s, id, &e) == 1;
}

int
tsn_store_chunk_drop(struct tsn_store *s, const uint8_t id[TSN_ID_LEN])
{
	struct tsn_store__entry e;
	uint8_t k[TSN_STORE__CKEY_LEN];
	char *err = NULL;
	int rc, found;

	pthread_mutex_lock(&s->mu);
	found = tsn_store__entry_get(s, id, &e);
	if (found == 1) {
		rc = update(s, id, &e, NULL, "drop chunk entry");
	} else if (found == -EBADMSG) {
		/* Not counted in the stats: remove the bad entry alone. */
		tsn_store__ckey(k, id);
		leveldb_delete(s->db, s->wopts, (const char *)k, sizeof(k), &err);
		rc = tsn_store__dberr(s, "drop bad chunk entry", err);
	} else {
		rc = found == 0 ? -ENOENT : found;
	}
	if (rc == 0)
		tsn_store__body_unlink(s, id);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
