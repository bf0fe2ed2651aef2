/*
 * readdir.c: opendir takes a snapshot of the directory (names, inode
 * numbers, types), readdir and readdirplus page through it with offset =
 * index + 1, releasedir frees it. A name removed after opendir may still
 * be listed (as POSIX allows); readdirplus skips entries whose node is
 * gone by then, and counts a lookup only for entries that fit the reply.
 * uri/ lists nothing (any URI can be looked up; none can be listed).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"

static void
dirh_free(struct fs_dirh *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

static int
add(struct fs_dirh *d, size_t *cap, uint64_t ino, uint32_t mode, const char *name)
{
	void *p;

	if (d->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		if (c > SIZE_MAX / sizeof(*d->v) || (p = realloc(d->v, c * sizeof(*d->v))) == NULL)
			return -ENOMEM;
		d->v = p;
		*cap = c;
	}
	if ((d->v[d->n].name = strdup(name)) == NULL)
		return -ENOMEM;
	d->v[d->n].ino = ino;
	d->v[d->n].mode = mode;
	d->n++;
	return 0;
}

static uint32_t
type_of(const struct fs_node *n)
{
	return n->kind == FS_DIR || n->kind == FS_SDIR ? S_IFDIR : S_IFREG;
}

void
fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_dirh *d;
	struct fs_node *n, *c;
	size_t cap = 0;
	int rc = 0;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n == NULL)
		rc = -ENOENT;
	else if (n->kind != FS_DIR && n->kind != FS_SDIR)
		rc = -ENOTDIR;
	if (rc == 0)
		rc = add(d, &cap, n->ino, S_IFDIR, ".");
	if (rc == 0)
		rc = add(d, &cap, n->parent ? n->parent->ino : n->ino, S_IFDIR, "..");
	for (c = rc == 0 ? n->child : NULL; c != NULL && rc == 0; c = c->snext)
		if (c->kind != FS_URI || c->result)
			rc = add(d, &cap, c->ino, type_of(c), c->name);
	if (rc == 0) {
		d->hnext = fs->dirhs;
		if (fs->dirhs != NULL)
			fs->dirhs->hprev = d;
		fs->dirhs = d;
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0) {
		dirh_free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

static void
list(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, int plus)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_dirh *d = (struct fs_dirh *)(uintptr_t)fi->fh;
	struct fuse_entry_param e;
	struct fs_node *n;
	size_t pos = 0, need;
	char *buf;

	if (size > 1024 * 1024)
		size = 1024 * 1024;
	if ((buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (plus)
		pthread_mutex_lock(&fs->mu);
	for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
		struct fs_dirent *de = &d->v[i];
		if (!plus) {
			struct stat st = {.st_ino = de->ino, .st_mode = de->mode};
			need = fuse_add_direntry(req, buf + pos, size - pos, de->name, &st,
			                         (off_t)(i + 1));
		} else if (i < 2) {
			/* "." and "..": the kernel takes no lookup for them. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = de->ino;
			e.attr.st_mode = de->mode;
			need = fuse_add_direntry_plus(req, buf + pos, size - pos, de->name, &e,
			                              (off_t)(i + 1));
		} else {
			if ((n = fs_node_get(fs, de->ino)) == NULL || !n->linked)
				continue;
			fs_entry_locked(fs, n, &e); /* counts the lookup ... */
			need = fuse_add_direntry_plus(req, buf + pos, size - pos, de->name, &e,
			                              (off_t)(i + 1));
			if (need > size - pos)
				n->nlookup--; /* ... unless it did not fit */
		}
		if (need > size - pos)
			break;
		pos += need;
	}
	if (plus)
		pthread_mutex_unlock(&fs->mu);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void
fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	list(req, size, off, fi, 0);
}

void
fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                  struct fuse_file_info *fi)
{
	(void)ino;
	list(req, size, off, fi, 1);
}

static void
unlist(struct tsn_fs *fs, struct fs_dirh *d)
{
	if (d->hprev != NULL)
		d->hprev->hnext = d->hnext;
	else
		fs->dirhs = d->hnext;
	if (d->hnext != NULL)
		d->hnext->hprev = d->hprev;
}

void
fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_dirh *d = (struct fs_dirh *)(uintptr_t)fi->fh;

	(void)ino;
	pthread_mutex_lock(&fs->mu);
	unlist(fs, d);
	pthread_mutex_unlock(&fs->mu);
	dirh_free(d);
	fuse_reply_err(req, 0);
}

void
fs_dirhs_free(struct tsn_fs *fs)
{
	struct fs_dirh *d, *next;

	for (d = fs->dirhs; d != NULL; d = next) {
		next = d->hnext;
		dirh_free(d);
	}
	fs->dirhs = NULL;
}
