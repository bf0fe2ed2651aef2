/*
 * store_index.c: the index's keys and values (bounded codecs), leveldb error
 * mapping, and staging of chunk entry changes with their LRU keys and stats.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_i.h"
#include "util.h"

int
tsn_store__role(const struct tsn_store__entry *e)
{
	if (e->pins > 0)
		return TSN_STAT_PINNED;
	if (e->flags & TSN_STORE__F_HELD)
		return TSN_STAT_HELD;
	if (e->flags & TSN_STORE__F_CACHED)
		return TSN_STAT_CACHED;
	return TSN_STAT_PENDING;
}

int
tsn_store__evictable(const struct tsn_store__entry *e)
{
	return tsn_store__role(e) == TSN_STAT_CACHED;
}

void
tsn_store__ckey(uint8_t k[TSN_STORE__CKEY_LEN], const uint8_t id[TSN_ID_LEN])
{
	k[0] = TSN_STORE__K_CHUNK;
	memcpy(k + 1, id, TSN_ID_LEN);
}

void
tsn_store__akey(uint8_t k[TSN_STORE__AKEY_LEN], uint64_t seq, const uint8_t id[TSN_ID_LEN])
{
	k[0] = TSN_STORE__K_LRU;
	tsn_put_be64(k + 1, seq);
	memcpy(k + 9, id, TSN_ID_LEN);
}

void
tsn_store__fkey(uint8_t k[TSN_STORE__FKEY_LEN], const uint8_t id[TSN_ID_LEN])
{
	k[0] = TSN_STORE__K_FILE;
	memcpy(k + 1, id, TSN_ID_LEN);
}

/*
 * Entry: u8 version | u8 flags | u16 0 | u32 len | u32 pins | u64 seq
 *        | u64 atime_ms | u32 session            (32 bytes, big endian)
 */
void
tsn_store__entry_encode(const struct tsn_store__entry *e, uint8_t out[TSN_STORE__ENTRY_LEN])
{
	out[0] = TSN_STORE__ENTRY_VERSION;
	out[1] = e->flags;
	tsn_put_be16(out + 2, 0);
	tsn_put_be32(out + 4, e->len);
	tsn_put_be32(out + 8, e->pins);
	tsn_put_be64(out + 12, e->seq);
	tsn_put_be64(out + 20, e->atime_ms);
	tsn_put_be32(out + 28, e->session);
}

int
tsn_store__entry_parse(const uint8_t *p, size_t len, struct tsn_store__entry *e)
{
	if (len != TSN_STORE__ENTRY_LEN || p[0] != TSN_STORE__ENTRY_VERSION)
		return -EBADMSG;
	if ((p[1] & ~TSN_STORE__F_KNOWN) != 0 || tsn_get_be16(p + 2) != 0)
		return -EBADMSG;
	if (tsn_get_be32(p + 4) > TSN_BLOCK_MAX)
		return -EBADMSG;
	e->flags = p[1];
	e->len = tsn_get_be32(p + 4);
	e->pins = tsn_get_be32(p + 8);
	e->seq = tsn_get_be64(p + 12);
	e->atime_ms = tsn_get_be64(p + 20);
	e->session = tsn_get_be32(p + 28);
	return 0;
}

/*
 * File record: u8 version | u8 flags (bit0 private) | u16 0 | u64 size
 *              | key[32] | u64 mtime | u16 name length | name bytes
 */
size_t
tsn_store__file_encode(const struct tsn_file_info *f, uint8_t *out)
{
	size_t n = strnlen(f->name, sizeof(f->name) - 1);

	out[0] = TSN_STORE__FILE_VERSION;
	out[1] = f->private_ ? 1 : 0;
	tsn_put_be16(out + 2, 0);
	tsn_put_be64(out + 4, f->uri.size);
	memcpy(out + 12, f->uri.key, TSN_KEY_LEN);
	tsn_put_be64(out + 44, f->mtime);
	tsn_put_be16(out + 52, (uint16_t)n);
	memcpy(out + TSN_STORE__FILE_HDR, f->name, n);
	return TSN_STORE__FILE_HDR + n;
}

int
tsn_store__file_parse(const uint8_t id[TSN_ID_LEN], const uint8_t *p, size_t len,
                      struct tsn_file_info *f)
{
	size_t n;

	if (len < TSN_STORE__FILE_HDR || p[0] != TSN_STORE__FILE_VERSION || (p[1] & ~1u) != 0 ||
	    tsn_get_be16(p + 2) != 0)
		return -EBADMSG;
	n = tsn_get_be16(p + 52);
	if (n > TSN_STORE__NAME_MAX || len != TSN_STORE__FILE_HDR + n ||
	    memchr(p + TSN_STORE__FILE_HDR, '\0', n) != NULL)
		return -EBADMSG;
	memset(f, 0, sizeof(*f));
	memcpy(f->uri.id, id, TSN_ID_LEN);
	f->uri.size = tsn_get_be64(p + 4);
	memcpy(f->uri.key, p + 12, TSN_KEY_LEN);
	f->private_ = p[1] & 1;
	f->mtime = tsn_get_be64(p + 44);
	memcpy(f->name, p + TSN_STORE__FILE_HDR, n);
	f->name[n] = '\0';
	return 0;
}

int
tsn_store__dberr(const struct tsn_store *s, const char *what, char *err)
{
	if (err == NULL)
		return 0;
	tsn_log(TSN_LOG_ERROR, "store %s: %s: %s", s->path, what, err);
	leveldb_free(err);
	return -EIO;
}

int
tsn_store__entry_get(struct tsn_store *s, const uint8_t id[TSN_ID_LEN],
                     struct tsn_store__entry *e)
{
	uint8_t k[TSN_STORE__CKEY_LEN];
	char *err = NULL, *v;
	size_t vlen = 0;
	char hex[TSN_STORE__HEX_LEN];
	int rc;

	tsn_store__ckey(k, id);
	v = leveldb_get(s->db, s->ropts, (const char *)k, sizeof(k), &vlen, &err);
	if (err != NULL) {
		leveldb_free(v);
		return tsn_store__dberr(s, "read chunk entry", err);
	}
	if (v == NULL)
		return 0;
	rc = tsn_store__entry_parse((const uint8_t *)v, vlen, e);
	leveldb_free(v);
	if (rc < 0) {
		tsn_hex(id, TSN_ID_LEN, hex);
		tsn_log(TSN_LOG_ERROR, "store %s: chunk %s: unreadable index entry (%zu bytes)",
		        s->path, hex, vlen);
		return rc;
	}
	return 1;
}

void
tsn_store__stage(leveldb_writebatch_t *b, struct tsn_store__delta *d,
                 const uint8_t id[TSN_ID_LEN], const struct tsn_store__entry *old,
                 const struct tsn_store__entry *new_)
{
	uint8_t ck[TSN_STORE__CKEY_LEN], ak[TSN_STORE__AKEY_LEN], v[TSN_STORE__ENTRY_LEN];
	int old_lru = old != NULL && tsn_store__evictable(old);
	int new_lru = new_ != NULL && tsn_store__evictable(new_);
	int r;

	tsn_store__ckey(ck, id);
	if (new_ != NULL) {
		tsn_store__entry_encode(new_, v);
		leveldb_writebatch_put(b, (const char *)ck, sizeof(ck), (const char *)v, sizeof(v));
	} else {
		leveldb_writebatch_delete(b, (const char *)ck, sizeof(ck));
	}
	if (old_lru && (!new_lru || old->seq != new_->seq)) {
		tsn_store__akey(ak, old->seq, id);
		leveldb_writebatch_delete(b, (const char *)ak, sizeof(ak));
	}
	if (new_lru && (!old_lru || old->seq != new_->seq)) {
		tsn_store__akey(ak, new_->seq, id);
		leveldb_writebatch_put(b, (const char *)ak, sizeof(ak), "", 0);
	}
	if (old != NULL) {
		r = tsn_store__role(old);
		d->chunks[r]--;
		d->bytes[r] -= old->len;
	}
	if (new_ != NULL) {
		r = tsn_store__role(new_);
		d->chunks[r]++;
		d->bytes[r] += new_->len;
	}
}

int
tsn_store__write(struct tsn_store *s, leveldb_writebatch_t *b, int sync, const char *what)
{
	char *err = NULL;

	leveldb_write(s->db, sync ? s->wopts_sync : s->wopts, b, &err);
	return tsn_store__dberr(s, what, err);
}

void
tsn_store__apply(struct tsn_store *s, const struct tsn_store__delta *d)
{
	for (int r = 0; r < 4; r++) {
		s->st.chunks[r] += (uint64_t)d->chunks[r];
		s->st.bytes[r] += (uint64_t)d->bytes[r];
	}
	s->st.files += (uint64_t)d->files;
}

int
tsn_store__ids_add(struct tsn_store__ids *v, const uint8_t id[TSN_ID_LEN])
{
	void *p;
	size_t cap;

	if (v->n == v->cap) {
		cap = v->cap ? 2 * v->cap : 64;
		if (cap > SIZE_MAX / TSN_ID_LEN)
			return -ENOMEM;
		if ((p = realloc(v->id, cap * TSN_ID_LEN)) == NULL)
			return -ENOMEM;
		v->id = p;
		v->cap = cap;
	}
	memcpy(v->id[v->n++], id, TSN_ID_LEN);
	return 0;
}
