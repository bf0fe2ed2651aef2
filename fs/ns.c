/*
 * ns.c: the namespace records in the store's TSN_KV_NAMESPACE table
 * (docs/formats.md, "Mount namespace"): one record per directory or file,
 * the mount's pins and the push queue. Every integer big endian.
 *
 *   'i' be64 id     node record (below)
 *   'u' root id     the mount holds a pin on this file: u8 version 1 | u8 flags
 *                   (bit 0: external, the store had the file before the mount)
 *                   | u64 size | root key[32]
 *   'q' root id     push not yet done: u8 version 1 | u64 size | root key[32]
 *   'm' "sync"      a counter written with sync = 1 to make earlier writes durable
 *
 * Node record, version 1 (142 bytes + name + keywords):
 *   u8 version | u8 type (1 dir, 2 file) | u8 flags (bit 0: has URI)
 *   | u8 name length (1..255) | u64 parent id | u64 seq | u32 mode (07777)
 *   | u32 uid | u32 gid | 3 x (i64 sec | u32 nsec) atime, mtime, ctime
 *   | u64 size | root id[32] | root key[32] | u16 keywords length (<= 4096)
 *   | name | keywords
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "fs_ns_i.h"
#include "util.h"

void
fs_ns_key(uint8_t k[FS_NS_IKEY_LEN], uint64_t id)
{
	k[0] = 'i';
	tsn_put_be64(k + 1, id);
}

static void
put_time(uint8_t *p, const struct timespec *t)
{
	tsn_put_be64(p, (uint64_t)(int64_t)t->tv_sec);
	tsn_put_be32(p + 8, (uint32_t)t->tv_nsec);
}

static int
get_time(const uint8_t *p, struct timespec *t)
{
	uint32_t ns = tsn_get_be32(p + 8);

	if (ns >= 1000000000u)
		return -EBADMSG;
	t->tv_sec = (time_t)(int64_t)tsn_get_be64(p);
	t->tv_nsec = (long)ns;
	return 0;
}

size_t
fs_ns_encode(const struct fs_node *n, uint64_t parent, uint8_t *v)
{
	size_t nlen = strlen(n->name);

	v[0] = FS_NS_VERSION;
	v[1] = n->kind == FS_DIR ? FS_NS_DIR : FS_NS_FILE;
	v[2] = n->has_uri ? FS_NS_HAS_URI : 0;
	v[3] = (uint8_t)nlen;
	tsn_put_be64(v + 4, parent);
	tsn_put_be64(v + 12, n->seq);
	tsn_put_be32(v + 20, n->mode & 07777);
	tsn_put_be32(v + 24, n->uid);
	tsn_put_be32(v + 28, n->gid);
	put_time(v + 32, &n->atime);
	put_time(v + 44, &n->mtime);
	put_time(v + 56, &n->ctime);
	tsn_put_be64(v + 68, n->has_uri ? n->uri.size : 0);
	if (n->has_uri) {
		memcpy(v + 76, n->uri.id, TSN_ID_LEN);
		memcpy(v + 108, n->uri.key, TSN_KEY_LEN);
	} else
		memset(v + 76, 0, TSN_ID_LEN + TSN_KEY_LEN);
	tsn_put_be16(v + 140, (uint16_t)n->klen);
	memcpy(v + FS_NS_HDR, n->name, nlen);
	if (n->klen > 0)
		memcpy(v + FS_NS_HDR + nlen, n->keywords, n->klen);
	return FS_NS_HDR + nlen + n->klen;
}

int
fs_ns_parse(const uint8_t *v, size_t len, struct fs_ns_rec *r)
{
	size_t nlen, klen;
	static const uint8_t zero[TSN_ID_LEN + TSN_KEY_LEN];

	memset(r, 0, sizeof(*r));
	if (len < FS_NS_HDR || v[0] != FS_NS_VERSION)
		return -EBADMSG;
	if (v[1] != FS_NS_DIR && v[1] != FS_NS_FILE)
		return -EBADMSG;
	if ((v[2] & ~FS_NS_HAS_URI) != 0 || (v[1] == FS_NS_DIR && v[2] != 0))
		return -EBADMSG;
	nlen = v[3];
	klen = tsn_get_be16(v + 140);
	if (nlen == 0 || klen > FS_KEYWORDS_MAX || len != FS_NS_HDR + nlen + klen)
		return -EBADMSG;
	r->type = v[1];
	r->has_uri = v[2] & FS_NS_HAS_URI;
	r->parent = tsn_get_be64(v + 4);
	r->seq = tsn_get_be64(v + 12);
	r->mode = tsn_get_be32(v + 20);
	r->uid = tsn_get_be32(v + 24);
	r->gid = tsn_get_be32(v + 28);
	if ((r->mode & ~07777u) != 0 || get_time(v + 32, &r->atime) != 0 ||
	    get_time(v + 44, &r->mtime) != 0 || get_time(v + 56, &r->ctime) != 0)
		return -EBADMSG;
	r->uri.size = tsn_get_be64(v + 68);
	memcpy(r->uri.id, v + 76, TSN_ID_LEN);
	memcpy(r->uri.key, v + 108, TSN_KEY_LEN);
	if (r->uri.size > TSN_FILE_MAX)
		return -EBADMSG;
	if (!r->has_uri && (r->uri.size != 0 || memcmp(v + 76, zero, sizeof(zero)) != 0))
		return -EBADMSG;
	memcpy(r->name, v + FS_NS_HDR, nlen);
	r->name[nlen] = '\0';
	/* The root (parent 0) is named "/"; every other name is one path
	 * component. */
	if (r->parent == 0 ? strcmp(r->name, "/") != 0 :
	    memchr(r->name, '/', nlen) != NULL || memchr(r->name, '\0', nlen) != NULL ||
	    strcmp(r->name, ".") == 0 || strcmp(r->name, "..") == 0)
		return -EBADMSG;
	r->keywords = v + FS_NS_HDR + nlen;
	r->klen = (uint32_t)klen;
	return 0;
}

int
fs_ns_put(struct tsn_fs *fs, struct fs_node *n)
{
	uint8_t k[FS_NS_IKEY_LEN], *v;
	size_t len;
	int rc;

	if (n->kind != FS_DIR && n->kind != FS_FILE)
		return 0;
	if ((v = malloc(FS_NS_HDR + FS_NAME_MAX + FS_KEYWORDS_MAX)) == NULL)
		return -ENOMEM;
	n->seq = fs->seq++;
	fs_ns_key(k, n->ino);
	len = fs_ns_encode(n, n->parent != NULL ? n->parent->ino : 0, v);
	rc = tsn_store_kv_put(fs->store, TSN_KV_NAMESPACE, k, sizeof(k), v, len, 0);
	free(v);
	if (rc < 0)
		tsn_log(TSN_LOG_ERROR, "mount: cannot write the record of '%s': %s", n->name,
		        strerror(-rc));
	return rc;
}

int
fs_ns_delete(struct tsn_fs *fs, uint64_t id)
{
	uint8_t k[FS_NS_IKEY_LEN];
	int rc;

	fs_ns_key(k, id);
	rc = tsn_store_kv_delete(fs->store, TSN_KV_NAMESPACE, k, sizeof(k));
	if (rc < 0)
		tsn_log(TSN_LOG_ERROR, "mount: cannot delete record %llu: %s",
		        (unsigned long long)id, strerror(-rc));
	return rc;
}

int
fs_ns_sync(struct tsn_fs *fs)
{
	static const char key[] = "msync";
	uint8_t v[8];
	struct timespec ts;

	fs_now(&ts);
	tsn_put_be64(v, (uint64_t)ts.tv_sec);
	return tsn_store_kv_put(fs->store, TSN_KV_NAMESPACE, key, sizeof(key) - 1, v, sizeof(v), 1);
}

static void
id_key(uint8_t k[1 + TSN_ID_LEN], int table, const uint8_t id[TSN_ID_LEN])
{
	k[0] = (uint8_t)table;
	memcpy(k + 1, id, TSN_ID_LEN);
}

int
fs_ns_pin_put(struct tsn_fs *fs, const struct tsn_uri *uri, int external)
{
	uint8_t k[1 + TSN_ID_LEN], v[FS_NS_PIN_LEN];

	id_key(k, 'u', uri->id);
	v[0] = FS_NS_VERSION;
	v[1] = external ? 1 : 0;
	tsn_put_be64(v + 2, uri->size);
	memcpy(v + 10, uri->key, TSN_KEY_LEN);
	return tsn_store_kv_put(fs->store, TSN_KV_NAMESPACE, k, sizeof(k), v, sizeof(v), 0);
}

int
fs_ns_pin_delete(struct tsn_fs *fs, const uint8_t id[TSN_ID_LEN])
{
	uint8_t k[1 + TSN_ID_LEN];

	id_key(k, 'u', id);
	return tsn_store_kv_delete(fs->store, TSN_KV_NAMESPACE, k, sizeof(k));
}

int
fs_ns_pin_parse(const uint8_t id[TSN_ID_LEN], const uint8_t *v, size_t len,
                struct tsn_uri *uri, int *external)
{
	if (len != FS_NS_PIN_LEN || v[0] != FS_NS_VERSION || (v[1] & ~1u) != 0 ||
	    tsn_get_be64(v + 2) > TSN_FILE_MAX)
		return -EBADMSG;
	*external = v[1] & 1;
	uri->size = tsn_get_be64(v + 2);
	memcpy(uri->id, id, TSN_ID_LEN);
	memcpy(uri->key, v + 10, TSN_KEY_LEN);
	return 0;
}

int
fs_ns_queue_put(struct tsn_fs *fs, const struct tsn_uri *uri)
{
	uint8_t k[1 + TSN_ID_LEN], v[FS_NS_QUEUE_LEN];

	id_key(k, 'q', uri->id);
	v[0] = FS_NS_VERSION;
	tsn_put_be64(v + 1, uri->size);
	memcpy(v + 9, uri->key, TSN_KEY_LEN);
	return tsn_store_kv_put(fs->store, TSN_KV_NAMESPACE, k, sizeof(k), v, sizeof(v), 0);
}

int
fs_ns_queue_delete(struct tsn_fs *fs, const uint8_t id[TSN_ID_LEN])
{
	uint8_t k[1 + TSN_ID_LEN];

	id_key(k, 'q', id);
	return tsn_store_kv_delete(fs->store, TSN_KV_NAMESPACE, k, sizeof(k));
}

int
fs_ns_queue_parse(const uint8_t id[TSN_ID_LEN], const uint8_t *v, size_t len,
                  struct tsn_uri *uri)
{
	if (len != FS_NS_QUEUE_LEN || v[0] != FS_NS_VERSION || tsn_get_be64(v + 1) > TSN_FILE_MAX)
		return -EBADMSG;
	uri->size = tsn_get_be64(v + 1);
	memcpy(uri->id, id, TSN_ID_LEN);
	memcpy(uri->key, v + 9, TSN_KEY_LEN);
	return 0;
}

struct queue_walk {
	int (*cb)(void *ud, const struct tsn_uri *uri);
	void *ud;
};

static int
queue_cb(void *ud, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct queue_walk *w = ud;
	const uint8_t *k = key;
	struct tsn_uri uri;

	if (klen != 1 + TSN_ID_LEN || k[0] != 'q')
		return 0;
	if (fs_ns_queue_parse(k + 1, val, vlen, &uri) != 0) {
		tsn_log(TSN_LOG_WARN, "mount: unreadable push queue record (skipped)");
		return 0;
	}
	return w->cb(w->ud, &uri);
}

int
fs_ns_queue_list(struct tsn_fs *fs, int (*cb)(void *ud, const struct tsn_uri *uri), void *ud)
{
	struct queue_walk w = {cb, ud};

	return tsn_store_kv_list(fs->store, TSN_KV_NAMESPACE, queue_cb, &w);
}
