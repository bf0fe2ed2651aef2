/*
 * ops_dir.c: names: lookup, forget, mkdir, mknod, unlink, rmdir, rename;
 * symlink and link are refused. Each op takes fs->mu for the tree change
 * and its record write (not synced), and replies after dropping it. Keyword
 * publishing follows names: unlink withdraws a file's records, rename
 * publishes them under the new name and withdraws the old name's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "publish.h"
#include "util.h"

void
fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct fs_node *p, *n;
	struct fs_search *wait = NULL;
	int rc = 0;

	if (strlen(name) > FS_NAME_MAX && parent != FS_INO_URI) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	p = fs_node_get(fs, parent);
	if (p == NULL)
		rc = -ENOENT;
	else if (p->kind != FS_DIR && p->kind != FS_SDIR)
		rc = -ENOTDIR;
	else if (p->ino == FS_INO_URI)
		rc = fs_uri_lookup_locked(fs, p, name, &n);
	else if (p->ino == FS_INO_SEARCH)
		rc = fs_search_lookup_locked(fs, p, name, &n, &wait);
	else if ((n = fs_dir_find(fs, p, name)) == NULL)
		rc = -ENOENT;
	if (rc == 0 && wait != NULL) {
		/* A new search: give it a short while, then answer (it goes on). */
		n->nlookup++; /* keeps n while fs->mu is dropped */
		pthread_mutex_unlock(&fs->mu);
		fs_search_wait(fs, wait);
		pthread_mutex_lock(&fs->mu);
		n->nlookup--;
	}
	if (rc == 0)
		fs_entry_locked(fs, n, &e);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void
forget_one(struct tsn_fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_node *n;
	int dead = 0;

	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n != NULL)
		dead = fs_node_put(fs, n, nlookup, 0);
	pthread_mutex_unlock(&fs->mu);
	if (dead)
		fs_node_destroy(fs, n);
}

void
fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

void
fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct tsn_fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void
fs_dir_touch(struct tsn_fs *fs, struct fs_node *dir)
{
	fs_now(&dir->mtime);
	dir->ctime = dir->mtime;
	fs_ns_put(fs, dir);
}

int
fs_check_create(struct tsn_fs *fs, fuse_ino_t parent, const char *name, struct fs_node **dir)
{
	struct fs_node *p = fs_node_get(fs, parent);
	int rc;

	if (p == NULL)
		return -ENOENT;
	if (p->kind == FS_SDIR)
		return -EPERM;
	if (p->kind != FS_DIR)
		return -ENOTDIR;
	if ((rc = fs_check_name(name)) < 0)
		return rc;
	if (fs_reserved_name(p, name) || fs_dir_find(fs, p, name) != NULL)
		return -EEXIST;
	*dir = p;
	return 0;
}

/* A new namespace node of kind under dir, linked and recorded. */
static int
make_node(struct tsn_fs *fs, fuse_req_t req, struct fs_node *dir, const char *name, int kind,
          mode_t mode, struct fs_node **out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_node *n;
	int rc;

	if ((n = fs_node_new(kind, fs->next_id, name)) == NULL)
		return -ENOMEM;
	n->mode = (kind == FS_DIR ? S_IFDIR : S_IFREG) | (mode & 07777);
	n->uid = ctx->uid;
	n->gid = ctx->gid;
	if (dir->mode & S_ISGID) {
		/* BSD group semantics, as local file systems do. */
		n->gid = dir->gid;
		if (kind == FS_DIR)
			n->mode |= S_ISGID;
	}
	fs_now(&n->mtime);
	n->atime = n->ctime = n->mtime;
	if (kind == FS_FILE)
		fs_content_created(n);
	if ((rc = fs_dir_link(fs, dir, n, name)) < 0) {
		fs_node_free(n);
		return rc;
	}
	if ((rc = fs_ns_put(fs, n)) < 0) {
		fs_dir_unlink(fs, n);
		fs_node_free(n);
		return rc == -ENOSPC ? rc : -EIO;
	}
	fs->next_id++;
	fs_node_insert(fs, n);
	fs_dir_touch(fs, dir);
	*out = n;
	return 0;
}

int
fs_file_make(struct tsn_fs *fs, fuse_req_t req, struct fs_node *dir, const char *name,
             mode_t mode, struct fs_node **out)
{
	return make_node(fs, req, dir, name, FS_FILE, mode, out);
}

/* mkdir and mknod: a new name of `kind` under parent, answered with its entry. */
static void
make_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int kind, mode_t mode)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct fs_node *p, *n;
	int rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = fs_check_create(fs, parent, name, &p)) == 0 &&
	    (rc = make_node(fs, req, p, name, kind, mode, &n)) == 0)
		fs_entry_locked(fs, n, &e);
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

void
fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_entry(req, parent, name, FS_DIR, mode);
}

void
fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)rdev;
	if (!S_ISREG(mode)) {
		tsn_log(TSN_LOG_WARN, "mount: mknod '%s': special files are not supported", name);
		fuse_reply_err(req, EPERM);
		return;
	}
	make_entry(req, parent, name, FS_FILE, mode);
}

void
fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link;
	(void)parent;
	tsn_log(TSN_LOG_WARN, "mount: symlink '%s': symbolic links are not supported", name);
	fuse_reply_err(req, EPERM);
}

void
fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	tsn_log(TSN_LOG_WARN, "mount: link '%s': hard links are not supported", newname);
	fuse_reply_err(req, EPERM);
}

/* unlink and rmdir. */
static void
remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *p, *n = NULL;
	struct tsn_uri wuri;
	char wname[FS_NAME_MAX + 1];
	int rc = 0, dead = 0, withdraw = 0;

	pthread_mutex_lock(&fs->pub_mu);
	pthread_mutex_lock(&fs->mu);
	p = fs_node_get(fs, parent);
	if (p == NULL)
		rc = -ENOENT;
	else if (p->ino == FS_INO_SEARCH && dir)
		rc = fs_search_forget_locked(fs, p, name) == 0 ? 1 : -ENOENT;
	else if (p->kind == FS_SDIR)
		rc = -EPERM;
	else if (p->kind != FS_DIR)
		rc = -ENOTDIR;
	else if (fs_reserved_name(p, name))
		rc = -EBUSY;
	else if ((n = fs_dir_find(fs, p, name)) == NULL)
		rc = -ENOENT;
	else if (dir && n->kind != FS_DIR)
		rc = -ENOTDIR;
	else if (!dir && n->kind == FS_DIR)
		rc = -EISDIR;
	else if (dir && n->nchildren > 0)
		rc = -ENOTEMPTY;
	else if ((rc = fs_ns_delete(fs, n->ino)) < 0)
		rc = -EIO;
	if (rc == 0) {
		if (n->kind == FS_FILE && n->has_uri) {
			withdraw = 1;
			wuri = n->uri;
			snprintf(wname, sizeof(wname), "%s", n->name);
		}
		fs_dir_unlink(fs, n);
		fs_now(&n->ctime);
		fs_dir_touch(fs, p);
		dead = fs_node_put(fs, n, 0, 0);
	}
	if (rc == 1)
		rc = 0; /* a search forgotten */
	pthread_mutex_unlock(&fs->mu);
	if (dead)
		fs_node_destroy(fs, n);
	fuse_reply_err(req, -rc);
	if (withdraw)
		fs_withdraw(fs, &wuri, wname);
	pthread_mutex_unlock(&fs->pub_mu);
}

void
fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0);
}

void
fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 1);
}

/* Checks of a rename; *src and *dst (NULL if absent) on success. */
static int
rename_check(struct tsn_fs *fs, struct fs_node *p, const char *name, struct fs_node *np,
             const char *newname, unsigned flags, struct fs_node **src, struct fs_node **dst)
{
	struct fs_node *s, *d;
	int rc;

	if (p == NULL || np == NULL)
		return -ENOENT;
	if (p->kind == FS_SDIR || np->kind == FS_SDIR)
		return -EXDEV;
	if (p->kind != FS_DIR || np->kind != FS_DIR)
		return -ENOTDIR;
	if ((rc = fs_check_name(newname)) < 0)
		return rc;
	if (fs_reserved_name(p, name) || fs_reserved_name(np, newname))
		return -EBUSY;
	if ((s = fs_dir_find(fs, p, name)) == NULL)
		return -ENOENT;
	d = fs_dir_find(fs, np, newname);
	if (d != NULL && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (s->kind == FS_DIR) {
		if (fs_dir_within(np, s))
			return -EINVAL;
		if (d != NULL && d != s && d->kind != FS_DIR)
			return -ENOTDIR;
		if (d != NULL && d != s && d->nchildren > 0)
			return -ENOTEMPTY;
	} else if (d != NULL && d->kind == FS_DIR)
		return -EISDIR;
	*src = s;
	*dst = d;
	return 0;
}

/*
 * What a rename changes in what is published, taken under fs->mu and done
 * after it is dropped (the publisher may wait for the node's queue).
 * Sharing follows the name: a file renamed is shared under the new name's
 * words (its slot is (root id, name), so that is a new slot) and the old
 * name's slot is withdrawn (tombstoned); a file it replaced is withdrawn,
 * unless it was the same content under the same name.
 */
struct rename_pub {
	bool share, drop_dst;
	struct tsn_uri uri, dst_uri;
	char old[FS_NAME_MAX + 1], name[FS_NAME_MAX + 1];
	char *kw;                  /* the file's extra keywords, owned */
	size_t klen;
};

/* Under fs->mu, after the rename: note what to publish and withdraw. */
static void
rename_pub_note(struct rename_pub *rp, const struct fs_node *src, const struct fs_node *dst,
                const char *old)
{
	memset(rp, 0, sizeof(*rp));
	if (src->kind == FS_FILE && src->has_uri && strcmp(old, src->name) != 0) {
		rp->share = true;
		rp->uri = src->uri;
		snprintf(rp->old, sizeof(rp->old), "%s", old);
		snprintf(rp->name, sizeof(rp->name), "%s", src->name);
		if (src->keywords != NULL && src->klen > 0 && (rp->kw = malloc(src->klen)) != NULL) {
			memcpy(rp->kw, src->keywords, src->klen);
			rp->klen = src->klen;
		}
	}
	if (dst != NULL && dst->kind == FS_FILE && dst->has_uri &&
	    !(src->kind == FS_FILE && src->has_uri &&
	      memcmp(dst->uri.id, src->uri.id, TSN_ID_LEN) == 0)) {
		rp->drop_dst = true;
		rp->dst_uri = dst->uri;
		snprintf(rp->name, sizeof(rp->name), "%s", src->name);
	}
}

/* Without fs->mu: the new name's records first, so the file stays findable. */
static void
rename_pub_do(struct tsn_fs *fs, struct rename_pub *rp)
{
	int rc;

	if (fs->publisher != NULL && rp->drop_dst)
		fs_withdraw(fs, &rp->dst_uri, rp->name);
	if (fs->publisher != NULL && rp->share) {
		if ((rc = tsn_publisher_share(fs->publisher, &rp->uri, rp->name, rp->kw, rp->klen)) < 0)
			tsn_log(TSN_LOG_INFO, "mount: '%s': no keyword published: %s", rp->name,
			        strerror(-rc));
		fs_withdraw(fs, &rp->uri, rp->old);
	}
	free(rp->kw);
	rp->kw = NULL;
}

void
fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
             const char *newname, unsigned int flags)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *p, *np, *src = NULL, *dst = NULL;
	struct rename_pub rp = {0};
	int rc, dead = 0;

	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		/* RENAME_EXCHANGE would need two record writes that a crash
		 * could split; RENAME_WHITEOUT is for overlays. */
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&fs->pub_mu);
	pthread_mutex_lock(&fs->mu);
	p = fs_node_get(fs, parent);
	np = fs_node_get(fs, newparent);
	rc = rename_check(fs, p, name, np, newname, flags, &src, &dst);
	if (rc < 0 || dst == src)
		goto out;
	if (dst != NULL)
		fs_dir_unlink(fs, dst);
	fs_dir_unlink(fs, src);
	if ((rc = fs_dir_link(fs, np, src, newname)) == 0) {
		/* The moved record first: a crash before the delete below
		 * leaves two records for newname, and the load keeps the newer. */
		fs_now(&src->ctime);
		if ((rc = fs_ns_put(fs, src)) < 0) {
			fs_dir_unlink(fs, src);
			rc = -EIO;
		}
	}
	if (rc < 0) {
		fs_dir_link(fs, p, src, name); /* the old name: no allocation */
		if (dst != NULL)
			fs_dir_link(fs, np, dst, newname);
		goto out;
	}
	rename_pub_note(&rp, src, dst, name);
	if (dst != NULL) {
		fs_ns_delete(fs, dst->ino);
		dst->ctime = src->ctime;
		dead = fs_node_put(fs, dst, 0, 0);
	}
	fs_dir_touch(fs, p);
	if (np != p)
		fs_dir_touch(fs, np);
out:
	pthread_mutex_unlock(&fs->mu);
	if (dead)
		fs_node_destroy(fs, dst);
	fuse_reply_err(req, -rc);
	rename_pub_do(fs, &rp);
	pthread_mutex_unlock(&fs->pub_mu);
}
