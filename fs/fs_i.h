/*
 * fs_i.h: what the files of the FUSE driver share. Internal to fs/.
 *
 * Objects:
 *   struct tsn_fs       one mount: the store, the node, the inode table
 *   struct fs_node      one inode: a directory or file of the namespace, a
 *                       uri/ entry, or one of the fixed nodes (root, uri/,
 *                       search/, .tsn/ and its files)
 *   struct fs_content   the data of one namespace file: its committed URI
 *                       or an encoder stream or a staging file (write.c)
 *   struct fs_handle    one open file (fi->fh)
 *   struct fs_net       the network fetches of one open uri/ entry (net.c)
 *
 * Locks, in the order they may be taken:
 *   fs_content.lock (rwlock, per file)  its data state; held across disk I/O
 *   fs_handle.mu                        the handle's reader
 *   tsn_fs.pin_mu                       URI reference counts (pins.c)
 *   tsn_fs.mu                           inode table, tree, names, attributes,
 *                                       namespace records; never held across
 *                                       slow I/O (record puts are not synced)
 * No lock is held while replying to the kernel.
 *
 * Inode lifetime: a node lives while it is in the namespace (linked), or
 * the kernel holds lookups on it (nlookup), or it has open handles (nopen).
 * unlink only unlinks; the last forget or release frees (fs_node_put).
 */
#ifndef TSN_FS_I_H
#define TSN_FS_I_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"
#include "store.h"
#include "tree.h"
#include "uri.h"

#define FS_NAME_MAX 255
#define FS_KEYWORDS_MAX 4096            /* user.tsn.keywords value */
#define FS_BLKSIZE (1024 * 1024)        /* st_blksize: cp uses 1 MiB requests */
#define FS_ENCODER_THREADS 2
#define FS_IO_BUF (1024 * 1024)         /* staging copies */
#define FS_TTL 1.0                      /* entry/attr timeout, namespace nodes */
#define FS_URI_TTL 3600.0               /* uri/ entries never change */
#define FS_NET_WAITERS_MAX 48           /* FUSE threads waiting on the network */
#define FS_MAX_THREADS 64               /* FUSE worker threads */
#define FS_RA_CHUNKS 32                 /* read-ahead window of one uri/ handle */
#define FS_NET_SLOTS (FS_RA_CHUNKS + 4) /* block buffers of one uri/ handle */
#define FS_NET_BUFS_MAX 256             /* block buffers of all handles (64 MiB) */
#define FS_WAIT_STEP_MS 250             /* network waits look at the session this often */
#define FS_SEARCHES_MAX 32              /* search/ folders kept */
#define FS_SEARCH_WAIT_MS 1500          /* a first lookup waits this long for results */
#define FS_SEARCH_RUN_MS 10000          /* a search collects results this long */
#define FS_READAHEAD_KB 1024            /* the mount's kernel read-ahead (readahead=) */

/* Fixed inode numbers. Namespace nodes use their persistent id (root = 1);
 * the others live above FS_SYNTH, uri/ entries from FS_SYNTH_DYN on. */
#define FS_ROOT_ID 1
#define FS_SYNTH (UINT64_C(1) << 62)
#define FS_INO_URI (FS_SYNTH + 1)
#define FS_INO_SEARCH (FS_SYNTH + 2)
#define FS_INO_INFO (FS_SYNTH + 3)
#define FS_INO_INFO_STATUS (FS_SYNTH + 4)
#define FS_INO_INFO_PEERS (FS_SYNTH + 5)
#define FS_INO_INFO_STATS (FS_SYNTH + 6)
#define FS_SYNTH_DYN (FS_SYNTH + 64)

enum fs_kind {
	FS_DIR = 1,   /* namespace directory (the root included) */
	FS_FILE = 2,  /* namespace file */
	FS_SDIR = 3,  /* uri/, search/, .tsn/ */
	FS_INFO = 4,  /* .tsn/status, peers, stats */
	FS_URI = 5,   /* uri/<tsn-uri> */
};

enum fs_info_kind { FS_INFO_STATUS = 0, FS_INFO_PEERS = 1, FS_INFO_STATS = 2 };

struct fs_content;

struct fs_node {
	uint64_t ino;
	uint8_t kind;             /* enum fs_kind */
	uint8_t linked;           /* in its directory (namespace: has a record) */
	uint8_t info;             /* FS_INFO: enum fs_info_kind */
	uint8_t has_uri;          /* uri below is the committed content */
	uint8_t result;           /* FS_URI: a search result (listed while linked) */
	struct fs_node *tnext;    /* inode table chain */
	/* tree (under tsn_fs.mu) */
	struct fs_node *parent;   /* NULL when unlinked */
	char *name;               /* NUL-terminated, owned; kept after unlink */
	struct fs_node *dnext;    /* (parent, name) table chain */
	struct fs_node *child;    /* first child (directories) */
	struct fs_node *snext, *sprev; /* siblings */
	uint32_t nchildren, nsubdirs;
	uint64_t nlookup;
	uint32_t nopen;
	/* attributes (under tsn_fs.mu) */
	uint32_t mode;            /* with the type bits */
	uint32_t uid, gid;
	uint64_t size;            /* live size, uncommitted writes included */
	struct timespec atime, mtime, ctime;
	uint64_t seq;             /* of its last record write */
	struct tsn_uri uri;
	char *keywords;           /* user.tsn.keywords, owned, klen bytes */
	uint32_t klen;
	struct fs_content *c;     /* FS_FILE only */
};

struct fs_pin;

struct tsn_fs {
	struct tsn_store *store;
	struct tsn_node *node;        /* NULL: no network */
	struct fuse_session *se;
	uint32_t timeout_ms;
	uid_t uid;
	gid_t gid;
	struct timespec started;

	/* Held from a change of a file's name, content or link until what is
	 * published for it follows (commit, rename, unlink), so a rename
	 * during a commit cannot leave the new content under the old name.
	 * Taken before mu. */
	pthread_mutex_t pub_mu;

	pthread_mutex_t mu;
	struct fs_node **tab;         /* ino -> node */
	size_t tab_cap, tab_n;
	struct fs_node **dtab;        /* (parent ino, name) -> node */
	size_t dtab_cap, dtab_n;
	uint64_t next_id;             /* next persistent id */
	uint64_t next_dyn;            /* next uri/ entry inode */
	uint64_t seq;                 /* next record seq */
	struct fs_node *root;
	struct fs_handle *handles;    /* open files, freed at the end if left open */
	struct fs_dirh *dirhs;        /* open directories, likewise */

	pthread_mutex_t pin_mu;
	struct fs_pin **pins;         /* root id -> references (pins.c) */
	size_t pins_cap, pins_n;

	struct fs_push *push;         /* push.c */

	pthread_mutex_t net_mu;       /* the two counters below */
	unsigned net_waiters;         /* threads waiting on the network */
	unsigned net_bufs;            /* block buffers of all uri/ handles */
	uint64_t net_timeouts;        /* chunks nobody returned in time */

	char stage_dir[4096];         /* DATADIR/fs-staging */

	struct tsn_publisher *publisher; /* NULL: no keyword publishing */
	struct fs_search *searches;   /* search/ folders, oldest first (under mu) */
	unsigned nsearches;
	unsigned search_threads;      /* searches running (under mu) */
	int search_stop;              /* quiescing: no new search */
	pthread_cond_t search_cv;     /* with mu: a search ended */

	const char *mountpoint;       /* borrowed (mount_tsn.c); NULL: none known */
	unsigned ra_kb;               /* read-ahead to set, 0: the kernel's */
	atomic_int ra_tried;          /* fs_readahead_apply ran */
};

/* One open file. */
struct fs_handle {
	struct fs_handle *hnext, *hprev; /* tsn_fs.handles, under tsn_fs.mu */
	struct fs_node *node;
	int wr;                       /* opened for writing */
	pthread_mutex_t mu;           /* rd, rd_id */
	struct tsn_reader *rd;
	uint8_t rd_id[TSN_ID_LEN];    /* root rd is open on */
	struct fs_net *net;           /* uri/ entries */
	char *text;                   /* .tsn files: generated at open */
	size_t tlen;
};

/* One entry of an open directory (a snapshot taken at opendir). */
struct fs_dirent {
	uint64_t ino;
	uint32_t mode;
	char *name;
};

struct fs_dirh {
	struct fs_dirh *hnext, *hprev;  /* tsn_fs.dirhs, under tsn_fs.mu */
	size_t n;
	struct fs_dirent *v;
};

/* ---- fs.c: helpers shared by the op files ---- */
void fs_now(struct timespec *ts);
/* Fill st from n (caller holds fs->mu). */
void fs_stat_locked(struct tsn_fs *fs, const struct fs_node *n, struct stat *st);
/* Lookups of n go up by one and e is filled (caller holds fs->mu). */
void fs_entry_locked(struct tsn_fs *fs, struct fs_node *n, struct fuse_entry_param *e);
int fs_reserved_name(const struct fs_node *parent, const char *name);
/* Create uri/, search/, .tsn/ and its files under fs->root. 0 or -ENOMEM. */
int fs_special_init(struct tsn_fs *fs);
/* 0, or -ENAMETOOLONG / -EINVAL (empty, '/', "." or ".."). */
int fs_check_name(const char *name);
/* Once per mount, from an operation (after FUSE's INIT, which caps it):
 * set the mount's read-ahead to fs->ra_kb in sysfs (needs root; a failure
 * is logged at info level and leaves the kernel's). */
void fs_readahead_apply(struct tsn_fs *fs);

/* ---- ops_file.c, ops_dir.c: open handles ---- */
/* Free whatever handles the kernel left open (at the end). */
void fs_handles_free(struct tsn_fs *fs);
void fs_dirhs_free(struct tsn_fs *fs);
/* Create a file (create, mknod): caller holds fs->mu; *out linked and
 * recorded, with one lookup. Returns 0 or -errno. */
int fs_file_make(struct tsn_fs *fs, fuse_req_t req, struct fs_node *dir, const char *name,
                 mode_t mode, struct fs_node **out);
/* The checks of create, mkdir, mknod on (parent, name). Caller holds fs->mu. */
int fs_check_create(struct tsn_fs *fs, fuse_ino_t parent, const char *name,
                    struct fs_node **dir);
/* The parent changed: times and record (caller holds fs->mu). */
void fs_dir_touch(struct tsn_fs *fs, struct fs_node *dir);

/* ---- inode.c: the inode table and the tree (caller holds fs->mu) ---- */
int fs_table_init(struct tsn_fs *fs);
void fs_table_fini(struct tsn_fs *fs);
struct fs_node *fs_node_new(int kind, uint64_t ino, const char *name);
struct fs_node *fs_node_get(struct tsn_fs *fs, uint64_t ino);
int fs_node_insert(struct tsn_fs *fs, struct fs_node *n);
struct fs_node *fs_dir_find(struct tsn_fs *fs, const struct fs_node *dir, const char *name);
/* Link n (unlinked, named `name`, copied) into dir. Returns 0 or -ENOMEM. */
int fs_dir_link(struct tsn_fs *fs, struct fs_node *dir, struct fs_node *n, const char *name);
void fs_dir_unlink(struct tsn_fs *fs, struct fs_node *n);
/* 1 if a is b or one of b's descendants. */
int fs_dir_within(const struct fs_node *a, const struct fs_node *b);
/* Drop nlookup lookups and nopen opens; returns 1 when n must now be
 * freed with fs_node_destroy (it has left the table). */
int fs_node_put(struct tsn_fs *fs, struct fs_node *n, uint64_t nlookup, uint32_t nopen);
/* Free a node fs_node_put gave up (without fs->mu: drops its content and pin). */
void fs_node_destroy(struct tsn_fs *fs, struct fs_node *n);
/* Free a node that was never published (no pin taken). */
void fs_node_free(struct fs_node *n);

/* ---- ns.c: namespace records in the store (TSN_KV_NAMESPACE) ---- */
/* Write n's record (caller holds fs->mu; n->seq is advanced). -errno. */
int fs_ns_put(struct tsn_fs *fs, struct fs_node *n);
int fs_ns_delete(struct tsn_fs *fs, uint64_t id);
/* Make what was written so far durable (a synced write). */
int fs_ns_sync(struct tsn_fs *fs);
/* Load the namespace, repair what a crash left, build the tree. */
int fs_ns_load(struct tsn_fs *fs, char *err, size_t errlen);
/* The push queue records. */
int fs_ns_queue_put(struct tsn_fs *fs, const struct tsn_uri *uri);
int fs_ns_queue_delete(struct tsn_fs *fs, const uint8_t id[TSN_ID_LEN]);
/* Visit every push queue record. */
int fs_ns_queue_list(struct tsn_fs *fs, int (*cb)(void *ud, const struct tsn_uri *uri), void *ud);

/* ---- pins.c: how many namespace files use each URI ---- */
/* A new reference; the first one commits the file to the store (pinned),
 * name is the base name it is recorded under. Returns 0 or -errno. */
int fs_pin_ref(struct tsn_fs *fs, const struct tsn_uri *uri, const char *name);
/* Drop a reference; the last one unpins (tsn_store_file_remove). */
void fs_pin_unref(struct tsn_fs *fs, const struct tsn_uri *uri);
/* At load: a reference from a record (no commit), and a pin record seen. */
int fs_pin_load_ref(struct tsn_fs *fs, const struct tsn_uri *uri);
int fs_pin_load_record(struct tsn_fs *fs, const struct tsn_uri *uri, int external);
/* At load, after both: unpin what nothing uses, re-pin what lost its pin. */
void fs_pin_reconcile(struct tsn_fs *fs);
void fs_pin_fini(struct tsn_fs *fs);
/* Distinct URIs the namespace uses. */
size_t fs_pin_files(struct tsn_fs *fs);

/* ---- write.c: the data of namespace files ---- */
struct fs_content *fs_content_new(void);
void fs_content_free(struct fs_content *c);
/* Each takes the content lock itself. */
int fs_content_write(struct tsn_fs *fs, struct fs_node *n, const void *buf, size_t len,
                     uint64_t off);
int fs_content_truncate(struct tsn_fs *fs, struct fs_node *n, uint64_t size);
/* Commit if dirty: encode, pin, record, queue the push. 0 or -errno. */
int fs_content_commit(struct tsn_fs *fs, struct fs_node *n);
ssize_t fs_content_read(struct tsn_fs *fs, struct fs_handle *h, char *buf, size_t len,
                        uint64_t off);
/* Handles open for writing (caller holds fs->mu). */
void fs_content_writers(struct fs_node *n, int delta);
/* Writers still open (for release). */
unsigned fs_content_nwriters(struct fs_node *n);
/* A new file: committed (empty) at its first close. Before it is published. */
void fs_content_created(struct fs_node *n);

/* ---- uri_dir.c ---- */
/* Find or make the uri/ entry `name` (a URI text; anything else: -ENOENT). */
int fs_uri_lookup_locked(struct tsn_fs *fs, struct fs_node *dir, const char *name,
                         struct fs_node **out);

/* ---- search.c: search/ folders; keyword publishing ---- */
struct fs_search;
/* Find or make search/<name> (caller holds fs->mu); *wait: a new search
 * to pass to fs_search_wait after dropping fs->mu (else NULL). */
int fs_search_lookup_locked(struct tsn_fs *fs, struct fs_node *dir, const char *name,
                            struct fs_node **out, struct fs_search **wait);
/* Wait (without fs->mu) at most FS_SEARCH_WAIT_MS for the search to end. */
void fs_search_wait(struct tsn_fs *fs, struct fs_search *s);
/* rmdir search/<name> (caller holds fs->mu). 0 or -ENOENT. */
int fs_search_forget_locked(struct tsn_fs *fs, struct fs_node *dir, const char *name);
/* Stop and wait for the running searches (before tsn_node_stop). */
void fs_search_quiesce(struct tsn_fs *fs);
void fs_search_fini(struct tsn_fs *fs);
/* Publish the keywords of n committed as uri under name; withdraw them. Without fs->mu. */
void fs_publish(struct tsn_fs *fs, struct fs_node *n, const struct tsn_uri *uri, const char *name);
void fs_withdraw(struct tsn_fs *fs, const struct tsn_uri *uri, const char *name);

/* ---- net.c: reads of uri/ entries ---- */
int fs_net_open(struct tsn_fs *fs, struct fs_handle *h);
ssize_t fs_net_read(struct tsn_fs *fs, struct fs_handle *h, fuse_req_t req, char *buf,
                    size_t len, uint64_t off);
void fs_net_close(struct fs_handle *h);

/* ---- info.c: .tsn/ files ---- */
/* Generate the text of one file; *out malloc'ed. Returns 0 or -ENOMEM. */
int fs_info_render(struct tsn_fs *fs, int which, char **out, size_t *len);

/* ---- push.c: pushing committed files to the network ---- */
int fs_push_start(struct tsn_fs *fs);
/* Queue a pushed file (already recorded with fs_ns_queue_put). */
void fs_push_add(struct tsn_fs *fs, const struct tsn_uri *uri);
/* Stop issuing pushes (before tsn_node_stop); then join after it. */
void fs_push_quiesce(struct tsn_fs *fs);
void fs_push_stop(struct tsn_fs *fs);
size_t fs_push_pending(struct tsn_fs *fs);

/* ---- ops_*.c: the lowlevel operations ---- */
void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi);
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
