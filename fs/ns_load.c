/*
 * ns_load.c: read the namespace at mount time and repair what a crash
 * (or a bug) left:
 *   - two records with the same (parent, name): a rename over an existing
 *     name writes the moved record, then deletes the replaced one; a crash
 *     between leaves both. The higher seq (the moved one) wins; the other
 *     is deleted and its content unreferenced.
 *   - a record whose parent is missing or not a directory, or in a cycle:
 *     moved to the root as "lost+found.<id>" (never thrown away).
 *   - pins ('u') nothing uses: unpinned; used URIs without a pin: pinned.
 * Unreadable records are logged and left alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "fs_ns_i.h"
#include "util.h"

struct loaded {
	struct fs_node *n;
	uint64_t parent;
};

struct load {
	struct tsn_fs *fs;
	struct loaded *v;
	size_t n, cap;
	uint64_t max_id, max_seq;
	size_t bad;
	int err;
};

static struct fs_node *
node_from(const struct fs_ns_rec *r, uint64_t id)
{
	struct fs_node *n = fs_node_new(r->type == FS_NS_DIR ? FS_DIR : FS_FILE, id, r->name);

	if (n == NULL)
		return NULL;
	n->mode = r->mode | (r->type == FS_NS_DIR ? S_IFDIR : S_IFREG);
	n->uid = r->uid;
	n->gid = r->gid;
	n->atime = r->atime;
	n->mtime = r->mtime;
	n->ctime = r->ctime;
	n->seq = r->seq;
	n->has_uri = r->has_uri;
	n->uri = r->uri;
	n->size = r->has_uri ? r->uri.size : 0;
	if (r->klen > 0) {
		if ((n->keywords = malloc(r->klen)) == NULL) {
			fs_node_free(n);
			return NULL;
		}
		memcpy(n->keywords, r->keywords, r->klen);
		n->klen = r->klen;
	}
	return n;
}

static int
load_node(struct load *l, uint64_t id, const uint8_t *v, size_t vlen)
{
	struct fs_ns_rec r;
	struct fs_node *n;
	void *p;

	if (fs_ns_parse(v, vlen, &r) != 0 || id == 0 || id >= FS_SYNTH ||
	    (id == FS_ROOT_ID) != (r.parent == 0) || (id == FS_ROOT_ID && r.type != FS_NS_DIR)) {
		tsn_log(TSN_LOG_ERROR, "mount: namespace record %llu is unreadable (left alone)",
		        (unsigned long long)id);
		l->bad++;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		if (cap > SIZE_MAX / sizeof(*l->v) || (p = realloc(l->v, cap * sizeof(*l->v))) == NULL)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	if ((n = node_from(&r, id)) == NULL)
		return -ENOMEM;
	l->v[l->n].n = n;
	l->v[l->n++].parent = r.parent;
	if (id > l->max_id)
		l->max_id = id;
	if (r.seq > l->max_seq)
		l->max_seq = r.seq;
	return 0;
}

static int
load_cb(void *ud, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct load *l = ud;
	const uint8_t *k = key;
	struct tsn_uri uri;
	uint64_t id = 0;
	int ext;

	if (klen == FS_NS_IKEY_LEN && k[0] == 'i') {
		for (int i = 1; i < FS_NS_IKEY_LEN; i++)
			id = id << 8 | k[i];
		return load_node(l, id, val, vlen);
	}
	if (klen == 1 + TSN_ID_LEN && k[0] == 'u') {
		if (fs_ns_pin_parse(k + 1, val, vlen, &uri, &ext) != 0) {
			tsn_log(TSN_LOG_ERROR, "mount: unreadable pin record (left alone)");
			return 0;
		}
		return fs_pin_load_record(l->fs, &uri, ext);
	}
	return 0; /* 'q' (push.c), 'm' */
}

/* Link n under the root as "lost+found.<id>" and rewrite its record. */
static int
relink_lost(struct tsn_fs *fs, struct fs_node *n)
{
	char name[64];

	snprintf(name, sizeof(name), "lost+found.%llu", (unsigned long long)n->ino);
	tsn_log(TSN_LOG_WARN, "mount: '%s' (record %llu) has no place in the tree: now /%s",
	        n->name, (unsigned long long)n->ino, name);
	if (fs_dir_link(fs, fs->root, n, name) < 0)
		return -ENOMEM;
	return fs_ns_put(fs, n);
}

/* Link one loaded node; duplicates resolved by seq. */
static int
link_one(struct tsn_fs *fs, struct fs_node *n, uint64_t parent_id)
{
	struct fs_node *parent = fs_node_get(fs, parent_id), *old;

	if (parent == NULL || parent->kind != FS_DIR || parent == n)
		return relink_lost(fs, n);
	if (fs_reserved_name(parent, n->name) || fs_check_name(n->name) != 0)
		return relink_lost(fs, n);
	old = fs_dir_find(fs, parent, n->name);
	if (old != NULL) {
		struct fs_node *loser = old->seq < n->seq ? old : n;
		tsn_log(TSN_LOG_WARN, "mount: two records for '%s' (a rename cut short): "
		        "keeping the newer", n->name);
		if (loser->kind == FS_DIR && loser->child != NULL) {
			/* Never drop a directory with contents: keep it aside. */
			if (loser == old)
				fs_dir_unlink(fs, old);
			else
				return relink_lost(fs, n);
			if (fs_dir_link(fs, parent, n, n->name) < 0)
				return -ENOMEM;
			return relink_lost(fs, old);
		}
		if (loser == old)
			fs_dir_unlink(fs, old);
		fs_ns_delete(fs, loser->ino);
		loser->has_uri = 0; /* never counted */
		loser->linked = 0;
		if (loser == n)
			return 0;
	}
	return fs_dir_link(fs, parent, n, n->name);
}

/* Nodes that do not reach the root (a cycle) go to lost+found. */
static int
fix_cycles(struct tsn_fs *fs, struct load *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct fs_node *n = l->v[i].n, *a = n;
		size_t steps = 0;
		if (!n->linked)
			continue;
		while (a != NULL && a != fs->root && steps++ <= l->n)
			a = a->parent;
		if (a != fs->root) {
			fs_dir_unlink(fs, n);
			if (relink_lost(fs, n) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int
make_root(struct tsn_fs *fs)
{
	struct fs_node *r = fs_node_new(FS_DIR, FS_ROOT_ID, "/");

	if (r == NULL)
		return -ENOMEM;
	r->mode = S_IFDIR | 0755;
	r->uid = fs->uid;
	r->gid = fs->gid;
	fs_now(&r->mtime);
	r->atime = r->ctime = r->mtime;
	fs_node_insert(fs, r);
	fs->root = r;
	r->linked = 1;
	return fs_ns_put(fs, r);
}

int
fs_ns_load(struct tsn_fs *fs, char *err, size_t errlen)
{
	struct load l = {.fs = fs};
	size_t dropped = 0;
	int rc;

	if ((rc = tsn_store_kv_list(fs->store, TSN_KV_NAMESPACE, load_cb, &l)) != 0) {
		snprintf(err, errlen, "cannot read the namespace: %s", strerror(rc < 0 ? -rc : EIO));
		for (size_t i = 0; i < l.n; i++)
			fs_node_free(l.v[i].n);
		rc = rc < 0 ? rc : -EIO;
		goto out;
	}
	fs->next_id = l.max_id + 1 > FS_ROOT_ID + 1 ? l.max_id + 1 : FS_ROOT_ID + 1;
	fs->seq = l.max_seq + 1;
	for (size_t i = 0; i < l.n; i++) {
		fs_node_insert(fs, l.v[i].n);
		if (l.v[i].n->ino == FS_ROOT_ID) {
			fs->root = l.v[i].n;
			fs->root->linked = 1;
		}
	}
	if (fs->root == NULL && (rc = make_root(fs)) < 0) {
		snprintf(err, errlen, "cannot create the root directory: %s", strerror(-rc));
		goto out;
	}
	if ((rc = fs_special_init(fs)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].n == fs->root)
			continue;
		if ((rc = link_one(fs, l.v[i].n, l.v[i].parent)) < 0) {
			snprintf(err, errlen, "cannot build the namespace: %s", strerror(-rc));
			goto out;
		}
	}
	if ((rc = fix_cycles(fs, &l)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct fs_node *n = l.v[i].n;
		if (!n->linked && n != fs->root) {
			/* A duplicate that lost: not in the tree, never counted. */
			fs_node_put(fs, n, 0, 0);
			fs_node_free(n);
			l.v[i].n = NULL;
			dropped++;
			continue;
		}
		if (n->kind == FS_FILE && n->has_uri && (rc = fs_pin_load_ref(fs, &n->uri)) < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	fs_pin_reconcile(fs);
	if (dropped > 0 || l.bad > 0)
		tsn_log(TSN_LOG_WARN, "mount: namespace repaired: %zu duplicate records dropped, "
		        "%zu unreadable", dropped, l.bad);
	rc = fs_ns_sync(fs);
	if (rc < 0)
		snprintf(err, errlen, "cannot write to the store: %s", strerror(-rc));
out:
	free(l.v);
	return rc;
}
