/*
 * store.h: the local store of one data dir.
 *
 *   DATADIR/lock        flock'ed by the one process that owns the dir
 *   DATADIR/index/      leveldb: chunk entries, LRU order, files, meta
 *   DATADIR/chunks/ab/<hex id>      chunk bodies, one file each
 *   DATADIR/secret      per-user convergence secret (0600), for --private
 *
 * A chunk is one of (see docs/formats.md):
 *   pinned   pins > 0: part of a file you put; never evicted
 *   held     pins == 0, kept for the network (set by net/; never evicted by
 *            the LRU, only by net/ after handing it on)
 *   cached   pins == 0, fetched or unpinned: evicted least recently used
 *            first when a put would go over the quota
 *   pending  pins == 0, written by a put not yet committed: never evicted;
 *            `gc` drops those left by an earlier process (a killed put)
 *
 * Crash safety: a body is written to a temporary file and renamed before its
 * index entry exists; a file's pins and record are one synchronous leveldb
 * batch written after the bodies are flushed (syncfs). So after kill -9 or
 * power loss the store opens, every committed file is whole, and a put that
 * did not commit left only pending chunks that `gc` removes or a second put
 * reuses.
 *
 * Threads: every call may be made from any thread; index updates are
 * serialised inside, body reads and writes run in parallel.
 */
#ifndef TSN_STORE_H
#define TSN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"
#include "uri.h"

struct tsn_store;

struct tsn_store_opts {
	uint64_t quota; /* bytes of chunk bodies; 0 = TSN_STORE_QUOTA_DEFAULT */
};
#define TSN_STORE_QUOTA_DEFAULT (UINT64_C(10) << 30)

/*
 * Open (creating, mode 0700; its parent must exist) the data dir. Returns 0
 * or -errno; on failure *out is NULL and err (errlen bytes) says what and
 * why in one line, e.g. -EBUSY "data dir /x is in use by another process
 * (pid 123)". Cost: one scan of the chunk index (stats) and one sync write.
 * opts may be NULL (defaults); datadir is copied.
 */
int tsn_store_open(struct tsn_store **out, const char *datadir,
                   const struct tsn_store_opts *opts, char *err, size_t errlen);
/* Close and release the lock; NULL is a no-op. */
void tsn_store_close(struct tsn_store *s);
/* The data dir path (borrowed). */
const char *tsn_store_path(const struct tsn_store *s);

/*
 * The per-user convergence secret for private files, created (random, 0600)
 * on first use. Returns 0 or -errno (-EIO: the file is not 32 bytes).
 */
int tsn_store_private_secret(struct tsn_store *s, struct tsn_secret *out);

/* Buffer alignment that lets a cached block skip the page cache. */
#define TSN_STORE_DIO_ALIGN 4096

enum tsn_chunk_role {
	TSN_CHUNK_PENDING = 0, /* from a local put, awaiting tsn_store_file_commit */
	TSN_CHUNK_CACHED = 1,  /* from elsewhere; evictable */
	TSN_CHUNK_HELD = 2,    /* held for the network */
};

/*
 * Store a block the caller has checked (its id is BLAKE2b(block)). If the
 * chunk is there already its body is kept and only its role is raised
 * (cached -> pending / held; a pending put also makes a pending chunk of an
 * earlier process this one's). When the quota would be exceeded, cached
 * chunks are evicted least recently used first; -ENOSPC if that is not
 * enough (nothing is evicted then) or the disk is full. A cached block at a
 * TSN_STORE_DIO_ALIGN-aligned address is written with direct I/O (not
 * through the page cache) where the file system allows it. Returns 0,
 * -EINVAL (len 0 or over TSN_BLOCK_MAX, unknown role), -ENOSPC, -EIO.
 */
int tsn_store_chunk_put(struct tsn_store *s, const uint8_t id[TSN_ID_LEN],
                        const uint8_t *block, size_t len, enum tsn_chunk_role role);
/*
 * As tsn_store_chunk_put with TSN_CHUNK_HELD, for a copy whose lifetime began
 * at since_ms (wall clock, ms; 0 or a future time = now): a repair copy
 * expires with the copy it was made from. A chunk already held keeps the
 * later of the two starts. A plain put as held starts the lifetime now.
 */
int tsn_store_chunk_hold(struct tsn_store *s, const uint8_t id[TSN_ID_LEN],
                         const uint8_t *block, size_t len, uint64_t since_ms);
/*
 * Read a block into buf (cap bytes). Marks a cached chunk as recently used.
 * Returns its length, -ENOENT if absent, -EMSGSIZE if cap is too small, -EIO
 * (index error, body of the wrong size, body of a pinned or held chunk
 * missing; logged with the chunk's id). A cached or pending chunk whose body
 * vanished is forgotten: -ENOENT. The body is read without the store lock.
 * Matches tsn_fetch_fn with the store as ud (see tsn_store_fetch).
 */
long tsn_store_chunk_get(struct tsn_store *s, const uint8_t id[TSN_ID_LEN],
                         uint8_t *buf, size_t cap);
/* tsn_fetch_fn adapter: ud is the store. */
long tsn_store_fetch(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap);
/* 1 if present, 0 if not. */
int tsn_store_chunk_has(struct tsn_store *s, const uint8_t id[TSN_ID_LEN]);
/* Drop a chunk whatever its role (for net/ and tests). Returns 0 or -ENOENT. */
int tsn_store_chunk_drop(struct tsn_store *s, const uint8_t id[TSN_ID_LEN]);

/*
 * For net/ repair (store_list.c). A chunk as the index has it. role is a
 * TSN_STAT_* value (pinned > held > cached > pending); held says the held
 * flag is set whatever the role (a pinned chunk may be held too).
 * atime_ms: for a held chunk, when it was last put or touched as held (its
 * lifetime runs from there); wall clock, ms since the epoch.
 */
struct tsn_store_chunk_info {
	uint8_t id[TSN_ID_LEN];
	int role;
	int held;
	uint32_t len;
	uint64_t atime_ms;
};
/*
 * Visit the chunks whose role is in `roles` (a mask of 1u << TSN_STAT_*),
 * in id order, from a snapshot of the index (puts go on meanwhile; cb runs
 * without the store lock and may call the store). cb returns 0 to go on or
 * non-zero to stop with it. Returns 0, cb's value, or -EIO. Cost: one scan
 * of the chunk index.
 */
int tsn_store_chunk_list(struct tsn_store *s, unsigned roles,
                         int (*cb)(void *ud, const struct tsn_store_chunk_info *ci), void *ud);
/*
 * Does this store keep the chunk for good (pinned or held; a cached or
 * pending copy does not count)? With refresh (the owner asks), a held
 * chunk's lifetime starts again. Returns 1, 0 or -EIO.
 */
int tsn_store_chunk_keeps(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], int refresh);
/*
 * This node no longer holds the chunk for the network: clear the held
 * flag; a chunk neither pinned nor cached is dropped. Returns 1 (dropped),
 * 0 (kept, as pinned or cached, or it was not held), -ENOENT, -EIO.
 * A chunk pinned meanwhile is never dropped (checked under the lock).
 */
int tsn_store_chunk_unhold(struct tsn_store *s, const uint8_t id[TSN_ID_LEN]);

/* A file you put. */
struct tsn_file_info {
	struct tsn_uri uri;
	int private_;          /* encoded under the per-user secret */
	uint64_t mtime;        /* when committed, seconds since the epoch (0 at commit: now) */
	char name[256];        /* base name given at put, NUL-terminated */
};

/*
 * Record a file whose blocks were all put (as pending): walks its tree from
 * the local store and pins every block (once per occurrence), and records
 * the file, in one synchronous batch after a syncfs of the data dir.
 * Committing a file that is recorded already only updates its name, time and
 * private flag (pins are not doubled), so a put can be run again. Returns 0
 * or -errno (-ENOENT: a block is missing; -EBADMSG: a bad node; -EINVAL:
 * name not NUL-terminated). Cost: 36 bytes of memory per block of the file.
 */
int tsn_store_file_commit(struct tsn_store *s, const struct tsn_file_info *info);
/*
 * Forget a file: unpin its blocks (a block still pinned by another file
 * stays pinned; others become cached) and drop its record, in one batch.
 * If its tree is damaged (a block dropped), the blocks reached are unpinned,
 * the rest stay pinned, and the record goes (logged). Returns 0, -ENOENT
 * (not a file of yours), or -errno (then nothing changed).
 */
int tsn_store_file_remove(struct tsn_store *s, const struct tsn_uri *uri);
/* Look up one file. Returns 0, -ENOENT, or -errno. */
int tsn_store_file_get(struct tsn_store *s, const struct tsn_uri *uri, struct tsn_file_info *out);
/*
 * Visit every file, in id order; cb returns 0 to go on or -errno to stop with
 * it. cb runs without the store lock (it may call the store).
 */
int tsn_store_file_list(struct tsn_store *s,
                        int (*cb)(void *ud, const struct tsn_file_info *f), void *ud);

struct tsn_store_stat {
	uint64_t quota;
	uint64_t files;
	uint64_t chunks[4];       /* by role: pinned, held, cached, pending */
	uint64_t bytes[4];        /* body bytes by role, same order */
	uint64_t evicted;         /* chunks evicted since open */
};
enum { TSN_STAT_PINNED = 0, TSN_STAT_HELD = 1, TSN_STAT_CACHED = 2, TSN_STAT_PENDING = 3 };
/* Counted from the index at open, kept current in memory; cheap. */
void tsn_store_stat(struct tsn_store *s, struct tsn_store_stat *out);

/*
 * Drop every unpinned chunk that is not held: cached ones, and pending ones
 * left by an earlier process. Pending chunks of this process are kept (a put
 * may be under way). Also removes body files with no index entry and temp
 * files of earlier processes. Returns the number of chunks dropped (orphan
 * bodies included), or -errno; *bytes (if not NULL) gets the bytes freed
 * (temp files included). Other calls go on meanwhile (batches of 256).
 */
long tsn_store_gc(struct tsn_store *s, uint64_t *bytes);

/*
 * Drop the pending chunks of this process (written by puts of this session
 * that did not commit). Only for a caller that knows no put is under way,
 * e.g. the command line after a put failed, so the failed put's chunks do
 * not hold the quota. Returns the number dropped or -errno; *bytes (if not
 * NULL) gets their bytes.
 */
long tsn_store_drop_pending(struct tsn_store *s, uint64_t *bytes);

/*
 * Small values of the layers above, in tables of their own: saved peers,
 * DHT records held for the network, the mount's namespace, the keyword
 * publications of your files. Values are
 * opaque here; each layer versions its own. Keys up to TSN_KV_KEY_MAX
 * bytes, values up to TSN_KV_VALUE_MAX. A bad table or size is -EINVAL.
 */
#define TSN_KV_PEERS 'p'
#define TSN_KV_RECORDS 'r'
#define TSN_KV_NAMESPACE 'n'
#define TSN_KV_PUBLISHED 'k' /* keyword publications (net/publish.h) */
#define TSN_KV_KEY_MAX 512
#define TSN_KV_VALUE_MAX 65536
/* Set key to val; sync = 1 waits until it is on disk. Returns 0 or -errno. */
int tsn_store_kv_put(struct tsn_store *s, int table, const void *key, size_t klen,
                     const void *val, size_t vlen, int sync);
/* Copy key's value into buf. Returns its length, -ENOENT, -EMSGSIZE (cap), -EIO. */
long tsn_store_kv_get(struct tsn_store *s, int table, const void *key, size_t klen,
                      void *buf, size_t cap);
/* Remove key (absent is fine). Returns 0 or -errno. */
int tsn_store_kv_delete(struct tsn_store *s, int table, const void *key, size_t klen);
/* Visit every (key, value) of a table in key order, from a snapshot; cb
 * returns 0 to go on or non-zero to stop with that value. */
int tsn_store_kv_list(struct tsn_store *s, int table,
                      int (*cb)(void *ud, const void *key, size_t klen, const void *val,
                                size_t vlen),
                      void *ud);

#endif
