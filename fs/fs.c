/*
 * fs.c: the mount's life (tsn_fs_new .. tsn_fs_free), the fixed nodes
 * (uri/, search/, .tsn/), FUSE init and statfs, the operations table, and
 * the attribute helpers the op files share.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs_i.h"
#include "util.h"

void
fs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

int
fs_reserved_name(const struct fs_node *parent, const char *name)
{
	return parent->ino == FS_ROOT_ID &&
	       (strcmp(name, "uri") == 0 || strcmp(name, "search") == 0 ||
	        strcmp(name, ".tsn") == 0);
}

int
fs_check_name(const char *name)
{
	size_t len = strlen(name);

	if (len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EINVAL;
	return 0;
}

void
fs_stat_locked(struct tsn_fs *fs, const struct fs_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_blksize = FS_BLKSIZE;
	switch (n->kind) {
	case FS_DIR:
		st->st_mode = n->mode;
		st->st_nlink = 2 + n->nsubdirs;
		st->st_size = 4096;
		break;
	case FS_FILE:
		st->st_mode = n->mode;
		st->st_nlink = n->linked ? 1 : 0;
		st->st_size = (off_t)n->size;
		break;
	case FS_SDIR:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_size = 4096;
		break;
	case FS_INFO:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		break;
	default: /* FS_URI */
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)n->uri.size;
		break;
	}
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
	if (n->kind == FS_DIR || n->kind == FS_FILE) {
		st->st_uid = n->uid;
		st->st_gid = n->gid;
		st->st_atim = n->atime;
		st->st_mtim = n->mtime;
		st->st_ctim = n->ctime;
	} else {
		st->st_uid = fs->uid;
		st->st_gid = fs->gid;
		st->st_atim = st->st_mtim = st->st_ctim = fs->started;
	}
}

void
fs_entry_locked(struct tsn_fs *fs, struct fs_node *n, struct fuse_entry_param *e)
{
	double ttl = n->kind == FS_URI ? FS_URI_TTL : n->kind == FS_INFO ? 0.0 : FS_TTL;

	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = ttl;
	e->entry_timeout = ttl;
	fs_stat_locked(fs, n, &e->attr);
	n->nlookup++;
}

static int
special(struct tsn_fs *fs, struct fs_node *dir, int kind, uint64_t ino, const char *name,
        int info)
{
	struct fs_node *n = fs_node_new(kind, ino, name);

	if (n == NULL)
		return -ENOMEM;
	n->info = (uint8_t)info;
	fs_node_insert(fs, n);
	return fs_dir_link(fs, dir, n, name);
}

int
fs_special_init(struct tsn_fs *fs)
{
	struct fs_node *info;

	if (special(fs, fs->root, FS_SDIR, FS_INO_URI, "uri", 0) < 0 ||
	    special(fs, fs->root, FS_SDIR, FS_INO_SEARCH, "search", 0) < 0 ||
	    special(fs, fs->root, FS_SDIR, FS_INO_INFO, ".tsn", 0) < 0)
		return -ENOMEM;
	info = fs_node_get(fs, FS_INO_INFO);
	if (special(fs, info, FS_INFO, FS_INO_INFO_STATUS, "status", FS_INFO_STATUS) < 0 ||
	    special(fs, info, FS_INFO, FS_INO_INFO_PEERS, "peers", FS_INFO_PEERS) < 0 ||
	    special(fs, info, FS_INFO, FS_INO_INFO_STATS, "stats", FS_INFO_STATS) < 0)
		return -ENOMEM;
	return 0;
}

/* Undo mountinfo's octal escapes (\040 for a space...) in place. */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else
			*w++ = *s;
	}
	*w = '\0';
}

/* The device (major:minor) of the fuse.tsn mount at mnt, from mountinfo: a
 * stat of the mount point would be a request to this very process. */
static int
mount_dev(const char *mnt, unsigned *maj, unsigned *min)
{
	char line[8192], mp[4096];
	const char *sep;
	unsigned a, b;
	int found = 0;
	FILE *f;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &a, &b, mp) != 3)
			continue;
		if ((sep = strstr(line, " - ")) == NULL || strncmp(sep + 3, "fuse.tsn ", 9) != 0)
			continue;
		unescape(mp);
		if (strcmp(mp, mnt) == 0) {
			*maj = a; /* the last one: a mount stacked on an older one */
			*min = b;
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

void
fs_readahead_apply(struct tsn_fs *fs)
{
	char path[64], val[16];
	unsigned maj, min;
	int fd, n, rc;

	if (fs->ra_kb == 0 || fs->mountpoint == NULL || atomic_exchange(&fs->ra_tried, 1) != 0)
		return;
	if ((rc = mount_dev(fs->mountpoint, &maj, &min)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	n = snprintf(val, sizeof(val), "%u\n", fs->ra_kb);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = write(fd, val, (size_t)n) == n ? 0 : -errno;
	close(fd);
	if (rc < 0)
		goto fail;
	tsn_log(TSN_LOG_DEBUG, "mount: read-ahead %u KiB (%s)", fs->ra_kb, path);
	return;
fail:
	tsn_log(TSN_LOG_INFO, "mount: cannot set the read-ahead to %u KiB: %s (the kernel's "
	        "stays)", fs->ra_kb, strerror(-rc));
}

static void
fs_init(void *ud, struct fuse_conn_info *conn)
{
	(void)ud;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* O_DIRECT reads as plain requests, which FUSE interrupts can reach. */
	conn->want &= ~(unsigned)FUSE_CAP_ASYNC_DIO;
	/* 1 MiB requests: the kernel's cap and libfuse's buffer. */
	conn->max_write = FS_BLKSIZE;
	conn->time_gran = 1;
}

static void
fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct tsn_fs *fs = fuse_req_userdata(req);
	struct tsn_store_stat st;
	struct statvfs sv, disk;
	uint64_t used, avail, frsize = 4096;

	(void)ino;
	tsn_store_stat(fs->store, &st);
	/* Cached chunks make way for new ones: they are not "used". */
	used = st.bytes[TSN_STAT_PINNED] + st.bytes[TSN_STAT_HELD] + st.bytes[TSN_STAT_PENDING];
	avail = st.quota > used ? st.quota - used : 0;
	if (statvfs(tsn_store_path(fs->store), &disk) == 0) {
		uint64_t free_disk = (uint64_t)disk.f_bavail * disk.f_frsize +
		                     st.bytes[TSN_STAT_CACHED];
		if (avail > free_disk)
			avail = free_disk;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = FS_BLKSIZE;
	sv.f_frsize = frsize;
	sv.f_blocks = st.quota / frsize;
	sv.f_bfree = sv.f_bavail = avail / frsize;
	pthread_mutex_lock(&fs->mu);
	sv.f_files = fs->tab_n + (UINT64_C(1) << 32);
	pthread_mutex_unlock(&fs->mu);
	sv.f_ffree = sv.f_favail = UINT64_C(1) << 32;
	sv.f_namemax = FS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = fs_init,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.setattr = fs_op_setattr,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.open = fs_op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.releasedir = fs_op_releasedir,
	.statfs = fs_statfs,
	.setxattr = fs_op_setxattr,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.removexattr = fs_op_removexattr,
	.create = fs_op_create,
};

const struct fuse_lowlevel_ops *
tsn_fs_ops(void)
{
	return &ops;
}

void
tsn_fs_set_session(struct tsn_fs *fs, struct fuse_session *se)
{
	fs->se = se;
}

/* DATADIR/fs-staging, emptied of files an earlier process left. */
static int
stage_init(struct tsn_fs *fs, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	int n;

	n = snprintf(fs->stage_dir, sizeof(fs->stage_dir), "%s/fs-staging",
	             tsn_store_path(fs->store));
	if (n < 0 || (size_t)n >= sizeof(fs->stage_dir)) {
		snprintf(err, errlen, "data dir path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(fs->stage_dir, 0700) != 0 && errno != EEXIST) {
		n = -errno;
		snprintf(err, errlen, "cannot create %s: %s", fs->stage_dir, strerror(-n));
		return n;
	}
	if ((d = opendir(fs->stage_dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "stage.", 6) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	return 0;
}

int
tsn_fs_new(struct tsn_fs **out, const struct tsn_fs_opts *o, char *err, size_t errlen)
{
	struct tsn_fs *fs;
	int rc;

	*out = NULL;
	if (o->store == NULL) {
		snprintf(err, errlen, "no store");
		return -EINVAL;
	}
	if ((fs = calloc(1, sizeof(*fs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fs->store = o->store;
	fs->node = o->node;
	fs->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	fs->uid = o->uid;
	fs->gid = o->gid;
	fs->next_dyn = FS_SYNTH_DYN;
	fs->publisher = o->publisher;
	pthread_cond_init(&fs->search_cv, NULL);
	fs_now(&fs->started);
	pthread_mutex_init(&fs->mu, NULL);
	pthread_mutex_init(&fs->pin_mu, NULL);
	pthread_mutex_init(&fs->pub_mu, NULL);
	pthread_mutex_init(&fs->net_mu, NULL);
	if ((rc = fs_table_init(fs)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = stage_init(fs, err, errlen)) < 0)
		goto fail;
	if ((rc = fs_ns_load(fs, err, errlen)) < 0)
		goto fail;
	if ((rc = fs_push_start(fs)) < 0) {
		snprintf(err, errlen, "cannot start the push worker: %s", strerror(-rc));
		goto fail;
	}
	*out = fs;
	return 0;
fail:
	tsn_fs_free(fs);
	return rc;
}

int
tsn_fs_flush_all(struct tsn_fs *fs)
{
	struct fs_node **v = NULL, *n;
	size_t k = 0;
	int rc = 0, r;

	pthread_mutex_lock(&fs->mu);
	v = calloc(fs->tab_n + 1, sizeof(*v));
	for (size_t i = 0; v != NULL && i < fs->tab_cap; i++)
		for (n = fs->tab[i]; n != NULL; n = n->tnext)
			if (n->kind == FS_FILE && n->linked)
				v[k++] = n;
	pthread_mutex_unlock(&fs->mu);
	if (v == NULL)
		return -ENOMEM;
	/* No FUSE thread runs any more: the nodes stay. */
	for (size_t i = 0; i < k; i++)
		if ((r = fs_content_commit(fs, v[i])) < 0 && rc == 0)
			rc = r;
	free(v);
	return rc;
}

void
tsn_fs_quiesce(struct tsn_fs *fs)
{
	if (fs != NULL) {
		fs_search_quiesce(fs);
		fs_push_quiesce(fs);
	}
}

void
tsn_fs_free(struct tsn_fs *fs)
{
	if (fs == NULL)
		return;
	fs_push_stop(fs);
	fs_handles_free(fs);
	fs_dirhs_free(fs);
	fs_search_fini(fs);
	fs_table_fini(fs);
	fs_pin_fini(fs);
	pthread_cond_destroy(&fs->search_cv);
	pthread_mutex_destroy(&fs->mu);
	pthread_mutex_destroy(&fs->pin_mu);
	pthread_mutex_destroy(&fs->pub_mu);
	pthread_mutex_destroy(&fs->net_mu);
	free(fs);
}
