/*
 * fs.h: the TSN file system, served through libfuse's low-level API.
 *
 *   /                 your files and folders (namespace in the store's
 *                     TSN_KV_NAMESPACE table; docs/formats.md "Mount namespace")
 *   /uri/<tsn-uri>    any file of the network by its URI, read-only
 *   /search/<words>/  keyword search results, read-only (fs/search.c)
 *   /.tsn/status, peers, stats   the node's figures as text
 *
 * Life: tsn_fs_new (loads the namespace, repairs what a crash left), then
 * a fuse session made with tsn_fs_ops() and the fs as userdata, then
 * tsn_fs_set_session before the loop. After the loop: tsn_fs_flush_all,
 * tsn_fs_quiesce (no new network requests), tsn_node_stop, tsn_fs_free,
 * tsn_store_close.
 *
 * Threads: every operation may run on any FUSE worker thread at once
 * (fuse_session_loop_mt). Nothing waits on the network without the
 * timeout, and reads waiting on it honour FUSE interrupts.
 */
#ifndef TSN_FS_H
#define TSN_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tsn_fs;
struct tsn_store;
struct tsn_node;
struct fuse_lowlevel_ops;
struct fuse_session;

struct tsn_fs_opts {
	struct tsn_store *store; /* required, borrowed for the fs's life */
	struct tsn_node *node;   /* borrowed; NULL: no network (uri/ reads only the
	                            local store; pushes wait in their queue) */
	uint32_t timeout_ms;     /* bound of one network wait; 0 = 30 s */
	struct tsn_publisher *publisher; /* borrowed; NULL: no keyword publishing */
	uid_t uid;               /* owner of a new root, of uri/ and .tsn/ */
	gid_t gid;
};

/*
 * Load the namespace of opts->store and start the push worker (when a node
 * is given). Returns 0 or -errno; on failure *out is NULL and err (errlen
 * bytes) says why in one line.
 */
int tsn_fs_new(struct tsn_fs **out, const struct tsn_fs_opts *opts, char *err, size_t errlen);
/* The operations table (static). */
const struct fuse_lowlevel_ops *tsn_fs_ops(void);
/* The session (for notifications); before the loop. */
void tsn_fs_set_session(struct tsn_fs *fs, struct fuse_session *se);
/*
 * Commit every file with uncommitted writes (after the loop ended: a
 * SIGTERM while files were open). Returns 0 or the first error.
 */
int tsn_fs_flush_all(struct tsn_fs *fs);
/* No new network requests from here on; call before tsn_node_stop. */
void tsn_fs_quiesce(struct tsn_fs *fs);
/* Join the push worker and free everything; after tsn_node_stop. NULL: no-op. */
void tsn_fs_free(struct tsn_fs *fs);

#endif
