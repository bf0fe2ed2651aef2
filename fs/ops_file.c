/*
 * ops_file.c: open files: create, open, read, write, flush, release, fsync.
 *
 * A file is committed (write.c) at every close of a descriptor that could
 * write (flush: close() returns only after it, so what close() accepted is
 * on disk and named), at the last release of a writer (writes that came
 * after the flush, e.g. from a shared mapping), and at fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "util.h"

static struct fs_handle *
handle_new(struct fs_node *n, int wr)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->node = n;
	h->wr = wr;
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

static void
handle_free(struct fs_handle *h)
{
	if (h == NULL)
		return;
	tsn_reader_free(h->rd); /* before the fetch state it reads through */
	fs_net_close(h);
	free(h->text);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* Publish h: counts an open of its node (caller holds fs->mu). */
static void
handle_link(struct tsn_fs *fs, struct fs_handle *h)
{
	h->node->nopen++;
	if (h->wr && h->node->kind == FS_FILE)
		fs_content_writers(h->node, 1);
	h->hprev = NULL;
	h->hnext = fs->handles;
	if (fs->handles != NULL)
		fs->handles->hprev = h;
	fs->handles = h;
}

/* Undo handle_link and free h (and its node if that was the last use). */
static void
handle_drop(struct tsn_fs *fs, struct fs_handle *h, uint64_t nlookup)
{
	struct fs_node *n = h->node;
	int dead;

	pthread_mutex_lock(&fs->mu);
	if (h->hprev != NULL)
		h->hprev->hnext = h->hnext;
	else
		fs->handles = h->hnext;
	if (h->hnext != NULL)
		h->hnext->hprev = h->hprev;
	if (h->wr && n->kind == FS_FILE)
		fs_content_writers(n, -1);
	dead = fs_node_put(fs, n, nlookup, 1);
	pthread_mutex_unlock(&fs->mu);
	handle_free(h);
	if (dead)
		fs_node_destroy(fs, n);
}

void
fs_handles_free(struct tsn_fs *fs)
{
	struct fs_handle *h, *next;

	for (h = fs->handles; h != NULL; h = next) {
		next = h->hnext;
		handle_free(h);
	}
	fs->handles = NULL;
}

static int
wants_write(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY;
}

/* After the open is counted: O_TRUNC, generated text, caching flags. */
static int
open_setup(struct tsn_fs *fs, struct fs_handle *h, struct fuse_file_info *fi)
{
	struct fs_node *n = h->node;
	int rc = 0;

	switch (n->kind) {
	case FS_FILE:
		if ((fi->flags & O_TRUNC) && h->wr) {
			if ((rc = fs_content_truncate(fs, n, 0)) < 0)
				return rc;
			pthread_mutex_lock(&fs->mu);
			fs_now(&n->mtime);
			n->ctime = n->mtime;
			fs_ns_put(fs, n);
			pthread_mutex_unlock(&fs->mu);
		}
		fi->keep_cache = 0;
		break;
	case FS_INFO:
		fi->direct_io = 1;
		return fs_info_render(fs, n->info, &h->text, &h->tlen);
	case FS_URI:
		fi->keep_cache = 1; /* a URI's content never changes */
		return fs_net_open(fs, h);
	default:
		break;
	}
	return 0;
}

void
fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = NULL;
	struct fs_node *n;
	int rc = 0;

	fs_readahead_apply(fs);
	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n == NULL)
		rc = -ENOENT;
	else if (n->kind == FS_DIR || n->kind == FS_SDIR)
		rc = -EISDIR;
	else if (n->kind != FS_FILE && wants_write(fi))
		rc = -EACCES;
	else if ((h = handle_new(n, wants_write(fi))) == NULL)
		rc = -ENOMEM;
	else
		handle_link(fs, h);
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0 && (rc = open_setup(fs, h, fi)) < 0) {
		handle_drop(fs, h, 0);
		h = NULL;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		handle_drop(fs, h, 0); /* interrupted: no release will come */
}

void
fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
             struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct fs_handle *h = NULL;
	struct fs_node *p, *n = NULL;
	int rc;

	pthread_mutex_lock(&fs->mu);
	rc = fs_check_create(fs, parent, name, &p);
	if (rc == -EEXIST && !(fi->flags & O_EXCL) && (p = fs_node_get(fs, parent)) != NULL &&
	    (n = fs_dir_find(fs, p, name)) != NULL && n->kind == FS_FILE)
		rc = 0; /* lost a race with another create: open it */
	else if (rc == 0)
		rc = fs_file_make(fs, req, p, name, mode, &n);
	if (rc == 0 && (h = handle_new(n, wants_write(fi))) == NULL)
		rc = -ENOMEM;
	if (rc == 0) {
		handle_link(fs, h);
		fs_entry_locked(fs, n, &e);
	}
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0 && (rc = open_setup(fs, h, fi)) < 0)
		handle_drop(fs, h, 1);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) != 0)
		handle_drop(fs, h, 1);
}

void
fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	ssize_t got = 0;
	char *buf;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((buf = malloc(size > 0 ? size : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h->node->kind == FS_INFO) {
		/* The text generated at open: one consistent snapshot. Replied
		 * from a copy: once the reply is written the reader may close,
		 * and a release on another thread frees h->text while this
		 * thread is still returning from the write (ASan saw it). */
		if ((size_t)off < h->tlen) {
			got = (ssize_t)(h->tlen - (size_t)off < size ? h->tlen - (size_t)off : size);
			memcpy(buf, h->text + off, (size_t)got);
		}
	} else if (h->node->kind == FS_URI)
		got = fs_net_read(fs, h, req, buf, size, (uint64_t)off);
	else
		got = fs_content_read(fs, h, buf, size, (uint64_t)off);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
}

void
fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
            struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	int rc;

	(void)ino;
	if (h->node->kind != FS_FILE || !h->wr) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((rc = fs_content_write(fs, h->node, buf, size, (uint64_t)off)) < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

void
fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	int rc = 0;

	(void)ino;
	if (h->wr && h->node->kind == FS_FILE)
		rc = fs_content_commit(fs, h->node);
	fuse_reply_err(req, rc == -ENOSPC ? ENOSPC : rc < 0 ? EIO : 0);
}

void
fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	int rc = 0;

	(void)ino;
	(void)datasync;
	if (h->node->kind == FS_FILE)
		rc = fs_content_commit(fs, h->node);
	fuse_reply_err(req, rc == -ENOSPC ? ENOSPC : rc < 0 ? EIO : 0);
}

void
fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct fs_node *n = h->node;
	unsigned left = 1;

	(void)ino;
	if (h->wr && n->kind == FS_FILE) {
		pthread_mutex_lock(&fs->mu);
		left = fs_content_nwriters(n) - 1;
		pthread_mutex_unlock(&fs->mu);
		if (left == 0)
			fs_content_commit(fs, n); /* errors are logged; none can be returned */
	}
	handle_drop(fs, h, 0);
	fuse_reply_err(req, 0);
}
