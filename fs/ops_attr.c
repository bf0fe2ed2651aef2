/*
 * ops_attr.c: getattr, setattr (mode, owner, times, size), and the
 * extended attributes: user.tsn.uri (read-only: the committed content's
 * URI), user.tsn.keywords (stored with the file for keyword search). Other
 * names cannot be set (ENOTSUP) and do not exist (ENODATA).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs_i.h"
#include "util.h"

#define XA_URI "user.tsn.uri"
#define XA_KEYWORDS "user.tsn.keywords"

static double
ttl_of(const struct fs_node *n)
{
	return n->kind == FS_URI ? FS_URI_TTL : n->kind == FS_INFO ? 0.0 : FS_TTL;
}

void
fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *n;
	struct stat st;
	char *text = NULL;
	size_t tlen = 0;
	double ttl = 0;

	(void)fi;
	if (ino >= FS_INO_INFO_STATUS && ino <= FS_INO_INFO_STATS) {
		/* Generated text: its size now (rendered without fs->mu). */
		if (fs_info_render(fs, (int)(ino - FS_INO_INFO_STATUS), &text, &tlen) == 0)
			free(text);
	}
	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n != NULL) {
		fs_stat_locked(fs, n, &st);
		if (n->kind == FS_INFO)
			st.st_size = (off_t)tlen;
		ttl = ttl_of(n);
	}
	pthread_mutex_unlock(&fs->mu);
	if (n == NULL)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, ttl);
}

static void
apply_attrs(struct fs_node *n, const struct stat *a, int to_set)
{
	struct timespec now;

	fs_now(&now);
	if (to_set & FUSE_SET_ATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (a->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = a->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = a->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		n->atime = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime = a->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		n->mtime = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime = a->st_mtim;
	n->ctime = (to_set & FUSE_SET_ATTR_CTIME) ? a->st_ctim : now;
}

void
fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
              struct fuse_file_info *fi)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *n;
	struct stat st;
	uint64_t old_size = 0;
	int rc = 0, commit = 0;

	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n == NULL)
		rc = -ENOENT;
	else if (n->kind != FS_DIR && n->kind != FS_FILE)
		rc = -EPERM;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && n->kind == FS_DIR)
		rc = -EISDIR;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size < 0)
		rc = -EINVAL;
	if (rc == 0)
		old_size = n->size;
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		rc = fs_content_truncate(fs, n, (uint64_t)attr->st_size);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->mu);
	apply_attrs(n, attr, to_set);
	if ((to_set & FUSE_SET_ATTR_SIZE) && (uint64_t)attr->st_size != old_size &&
	    !(to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
		n->mtime = n->ctime;
	rc = fs_ns_put(fs, n);
	fs_stat_locked(fs, n, &st);
	/* truncate(2) on a file nobody has open: no release will commit it. */
	commit = (to_set & FUSE_SET_ATTR_SIZE) && n->kind == FS_FILE &&
	         fs_content_nwriters(n) == 0 && fi == NULL;
	pthread_mutex_unlock(&fs->mu);
	if (rc == 0 && commit)
		rc = fs_content_commit(fs, n);
	if (rc < 0)
		fuse_reply_err(req, rc == -ENOSPC ? ENOSPC : EIO);
	else
		fuse_reply_attr(req, &st, ttl_of(n));
}

/* Reply with a value or its size. */
static void
reply_value(fuse_req_t req, const void *v, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

void
fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *n;
	char *v = NULL;
	size_t len = 0;
	int rc = 0;

	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n == NULL) {
		rc = -ENOENT;
	} else if (strcmp(name, XA_URI) == 0 && (n->kind == FS_FILE || n->kind == FS_URI) &&
	           n->has_uri) {
		if ((v = malloc(TSN_URI_STRLEN + 1)) == NULL)
			rc = -ENOMEM;
		else {
			tsn_uri_format(&n->uri, v);
			len = TSN_URI_STRLEN;
		}
	} else if (strcmp(name, XA_KEYWORDS) == 0 && n->klen > 0) {
		if ((v = malloc(n->klen)) == NULL)
			rc = -ENOMEM;
		else {
			memcpy(v, n->keywords, n->klen);
			len = n->klen;
		}
	} else
		rc = -ENODATA;
	pthread_mutex_unlock(&fs->mu);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, v, len, size);
	free(v);
}

void
fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *n;
	char buf[sizeof(XA_URI) + sizeof(XA_KEYWORDS)];
	size_t len = 0;

	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n != NULL && n->has_uri && (n->kind == FS_FILE || n->kind == FS_URI)) {
		memcpy(buf, XA_URI, sizeof(XA_URI));
		len += sizeof(XA_URI);
	}
	if (n != NULL && n->klen > 0) {
		memcpy(buf + len, XA_KEYWORDS, sizeof(XA_KEYWORDS));
		len += sizeof(XA_KEYWORDS);
	}
	pthread_mutex_unlock(&fs->mu);
	if (n == NULL)
		fuse_reply_err(req, ENOENT);
	else
		reply_value(req, buf, len, size);
}

void
fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
               size_t size, int flags)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *n;
	char *copy = NULL;
	int rc = 0;

	if (strcmp(name, XA_URI) == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (strcmp(name, XA_KEYWORDS) != 0) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (size > FS_KEYWORDS_MAX) {
		fuse_reply_err(req, E2BIG);
		return;
	}
	if (size > 0 && (copy = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (size > 0)
		memcpy(copy, value, size);
	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n == NULL)
		rc = -ENOENT;
	else if (n->kind != FS_FILE)
		rc = -EPERM;
	else if ((flags & XATTR_CREATE) && n->klen > 0)
		rc = -EEXIST;
	else if ((flags & XATTR_REPLACE) && n->klen == 0)
		rc = -ENODATA;
	if (rc == 0) {
		free(n->keywords);
		n->keywords = copy;
		n->klen = (uint32_t)size;
		copy = NULL;
		fs_now(&n->ctime);
		if (fs_ns_put(fs, n) < 0)
			rc = -EIO;
	}
	pthread_mutex_unlock(&fs->mu);
	free(copy);
	fuse_reply_err(req, -rc);
}

void
fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct fs_node *n;
	int rc = 0;

	pthread_mutex_lock(&fs->mu);
	n = fs_node_get(fs, ino);
	if (n == NULL)
		rc = -ENOENT;
	else if (strcmp(name, XA_URI) == 0)
		rc = n->has_uri ? -EPERM : -ENODATA;
	else if (strcmp(name, XA_KEYWORDS) != 0 || n->klen == 0)
		rc = -ENODATA;
	else {
		free(n->keywords);
		n->keywords = NULL;
		n->klen = 0;
		fs_now(&n->ctime);
		if (fs_ns_put(fs, n) < 0)
			rc = -EIO;
	}
	pthread_mutex_unlock(&fs->mu);
	fuse_reply_err(req, -rc);
}
