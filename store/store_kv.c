/*
 * store_kv.c: small values of the other layers (saved peers, DHT records,
 * the mount's namespace), each in a table of its own in the index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_i.h"

static int
table_ok(int table)
{
	return table == TSN_KV_PEERS || table == TSN_KV_RECORDS || table == TSN_KV_NAMESPACE ||
	       table == TSN_KV_PUBLISHED;
}

/* Prefix the key with its table byte into k (TSN_KV_KEY_MAX + 1 bytes). */
static int
kv_key(uint8_t *k, int table, const void *key, size_t klen)
{
	if (!table_ok(table) || klen > TSN_KV_KEY_MAX)
		return -EINVAL;
	k[0] = (uint8_t)table;
	if (klen > 0)
		memcpy(k + 1, key, klen);
	return 0;
}

int
tsn_store_kv_put(struct tsn_store *s, int table, const void *key, size_t klen,
                 const void *val, size_t vlen, int sync)
{
	uint8_t k[TSN_KV_KEY_MAX + 1];
	char *err = NULL;
	int rc;

	if ((rc = kv_key(k, table, key, klen)) < 0 || vlen > TSN_KV_VALUE_MAX)
		return -EINVAL;
	leveldb_put(s->db, sync ? s->wopts_sync : s->wopts, (const char *)k, klen + 1,
	            (const char *)val, vlen, &err);
	return tsn_store__dberr(s, "kv put", err);
}

long
tsn_store_kv_get(struct tsn_store *s, int table, const void *key, size_t klen,
                 void *buf, size_t cap)
{
	uint8_t k[TSN_KV_KEY_MAX + 1];
	char *err = NULL, *v;
	size_t vlen = 0;
	long rc;

	if (kv_key(k, table, key, klen) < 0)
		return -EINVAL;
	v = leveldb_get(s->db, s->ropts, (const char *)k, klen + 1, &vlen, &err);
	if (err != NULL)
		return tsn_store__dberr(s, "kv get", err);
	if (v == NULL)
		return -ENOENT;
	if (vlen > cap) {
		rc = -EMSGSIZE;
	} else {
		if (vlen > 0)
			memcpy(buf, v, vlen);
		rc = (long)vlen;
	}
	leveldb_free(v);
	return rc;
}

int
tsn_store_kv_delete(struct tsn_store *s, int table, const void *key, size_t klen)
{
	uint8_t k[TSN_KV_KEY_MAX + 1];
	char *err = NULL;

	if (kv_key(k, table, key, klen) < 0)
		return -EINVAL;
	leveldb_delete(s->db, s->wopts, (const char *)k, klen + 1, &err);
	return tsn_store__dberr(s, "kv delete", err);
}

int
tsn_store_kv_list(struct tsn_store *s, int table,
                  int (*cb)(void *ud, const void *key, size_t klen, const void *val,
                            size_t vlen),
                  void *ud)
{
	leveldb_iterator_t *it;
	const char *k, *v;
	size_t klen, vlen;
	char first = (char)table, *err = NULL;
	int rc = 0;

	if (!table_ok(table))
		return -EINVAL;
	it = leveldb_create_iterator(s->db, s->ropts);
	for (leveldb_iter_seek(it, &first, 1); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		if (klen < 1 || k[0] != first)
			break;
		v = leveldb_iter_value(it, &vlen);
		if ((rc = cb(ud, k + 1, klen - 1, v, vlen)) != 0)
			break;
	}
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	if (err != NULL && rc == 0)
		return tsn_store__dberr(s, "kv list", err);
	leveldb_free(err);
	return rc;
}
