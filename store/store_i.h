/*
 * store_i.h: internals shared by the files of the local store (store*.c).
 * Never included from outside store/store*.c.
 *
 * Files and their jobs:
 *   store.c         open, close, lock file, session, stats scan, stat
 *   store_index.c   key and value codecs, leveldb helpers, staging of entry
 *                   changes (with the LRU key and the stats delta)
 *   store_body.c    chunk body files: path, write (temp + rename), read, unlink
 *   store_chunk.c   chunk_put/get/has/drop, eviction
 *   store_file.c    file_commit/remove/get/list
 *   store_gc.c      gc
 *   store_secret.c  private_secret
 *
 * Locking: s->mu serialises every read-modify-write of the index, the stats,
 * s->seq and s->reserved, and every rename into or unlink from chunks/ (so
 * "an entry exists" and "its body exists" change together for other
 * threads). Plain leveldb reads and body reads/writes of temp files run
 * without it.
 */
#ifndef TSN_STORE_I_H
#define TSN_STORE_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <leveldb/c.h>

#include "store.h"

/* Index key prefixes (first byte of every key). */
#define TSN_STORE__K_CHUNK 'c' /* + id[32] -> chunk entry */
#define TSN_STORE__K_LRU 'a'   /* + be64 seq + id[32] -> "" (evictable chunks) */
#define TSN_STORE__K_FILE 'f'  /* + root id[32] -> file record */
#define TSN_STORE__K_META 'm'  /* + name -> meta value */
/* 'p', 'r', 'n': the kv tables of store.h (TSN_KV_*), store_kv.c. */

#define TSN_STORE__CKEY_LEN (1 + TSN_ID_LEN)
#define TSN_STORE__AKEY_LEN (1 + 8 + TSN_ID_LEN)
#define TSN_STORE__FKEY_LEN (1 + TSN_ID_LEN)

/* Chunk entry flags. */
#define TSN_STORE__F_CACHED 0x01u
#define TSN_STORE__F_HELD 0x02u
#define TSN_STORE__F_KNOWN (TSN_STORE__F_CACHED | TSN_STORE__F_HELD)

#define TSN_STORE__ENTRY_VERSION 1
#define TSN_STORE__ENTRY_LEN 32
#define TSN_STORE__FILE_VERSION 1
#define TSN_STORE__FILE_HDR 54 /* fixed part, before the name bytes */
#define TSN_STORE__NAME_MAX 255

/* Hex id plus NUL, for log lines. */
#define TSN_STORE__HEX_LEN (2 * TSN_ID_LEN + 1)

/* A chunk entry, decoded ('c' value). */
struct tsn_store__entry {
	uint8_t flags;     /* TSN_STORE__F_* */
	uint32_t len;      /* body length in bytes */
	uint32_t pins;     /* number of file occurrences pinning it */
	uint64_t seq;      /* access sequence number (LRU order) */
	uint64_t atime_ms; /* last access, wall clock, ms since the epoch */
	uint32_t session;  /* session of the process that last put it */
};

/* Changes of the in-memory stats, applied once the batch is written. */
struct tsn_store__delta {
	int64_t chunks[4];
	int64_t bytes[4];
	int64_t files;
};

struct tsn_store {
	char *path;          /* the data dir, as given */
	int dirfd;           /* the data dir (syncfs, secret, lock) */
	int chunksfd;        /* DATADIR/chunks */
	int lockfd;          /* DATADIR/lock, flock'ed */
	leveldb_t *db;
	leveldb_options_t *dbopts;
	leveldb_cache_t *dbcache;
	leveldb_readoptions_t *ropts;
	leveldb_writeoptions_t *wopts;      /* sync = 0 */
	leveldb_writeoptions_t *wopts_sync; /* sync = 1 */
	pthread_mutex_t mu;
	uint32_t session;    /* this process's session number */
	atomic_uint_fast64_t tmpseq; /* temp file counter */
	atomic_int dio;      /* 0 once the file system refused a direct write */
	/* Under mu: */
	uint64_t seq;        /* last access sequence number handed out */
	uint64_t reserved;   /* bytes of bodies being written (quota) */
	struct tsn_store_stat st;
};

/* ---- store_index.c ---- */

/* Role (TSN_STAT_*) of an entry: pinned > held > cached > pending. */
int tsn_store__role(const struct tsn_store__entry *e);
/* 1 when the chunk is in the LRU ('a' key present): cached role. */
int tsn_store__evictable(const struct tsn_store__entry *e);

void tsn_store__ckey(uint8_t k[TSN_STORE__CKEY_LEN], const uint8_t id[TSN_ID_LEN]);
void tsn_store__akey(uint8_t k[TSN_STORE__AKEY_LEN], uint64_t seq, const uint8_t id[TSN_ID_LEN]);
void tsn_store__fkey(uint8_t k[TSN_STORE__FKEY_LEN], const uint8_t id[TSN_ID_LEN]);

void tsn_store__entry_encode(const struct tsn_store__entry *e, uint8_t out[TSN_STORE__ENTRY_LEN]);
/* Bounded parse. Returns 0 or -EBADMSG. */
int tsn_store__entry_parse(const uint8_t *p, size_t len, struct tsn_store__entry *e);

/* Encode a file record into out (TSN_STORE__FILE_HDR + 255 bytes); returns its length. */
size_t tsn_store__file_encode(const struct tsn_file_info *f, uint8_t *out);
/* Bounded parse of a record of root id. Returns 0 or -EBADMSG. */
int tsn_store__file_parse(const uint8_t id[TSN_ID_LEN], const uint8_t *p, size_t len,
                          struct tsn_file_info *f);

/*
 * Map a leveldb error string to -EIO: logs "store DIR: what: err" and frees
 * err. Returns 0 when err is NULL.
 */
int tsn_store__dberr(const struct tsn_store *s, const char *what, char *err);

/*
 * Read the entry of id. Returns 1 (found, *e set), 0 (absent), -EBADMSG (an
 * unreadable entry; logged) or -EIO (leveldb error; logged).
 */
int tsn_store__entry_get(struct tsn_store *s, const uint8_t id[TSN_ID_LEN],
                         struct tsn_store__entry *e);

/*
 * Stage in b the change of chunk id from old to new (either NULL: absent):
 * the 'c' put or delete, the 'a' keys when the LRU membership or seq
 * changes, and the stats change in d. Nothing is written yet.
 */
void tsn_store__stage(leveldb_writebatch_t *b, struct tsn_store__delta *d,
                      const uint8_t id[TSN_ID_LEN], const struct tsn_store__entry *old,
                      const struct tsn_store__entry *new_);

/* Write b (sync or not). Returns 0 or -EIO (logged with what). */
int tsn_store__write(struct tsn_store *s, leveldb_writebatch_t *b, int sync, const char *what);
/* Apply d to s->st. Caller holds s->mu. */
void tsn_store__apply(struct tsn_store *s, const struct tsn_store__delta *d);

/* Is n exactly len lowercase hex digits (a shard folder, a body's name)? */
static inline int
tsn_store__is_hex(const char *n, size_t len)
{
	return strlen(n) == len && strspn(n, "0123456789abcdef") == len;
}

/* ---- store_body.c ---- */

/* "ab/<64 hex>" relative to chunks/ (out: 3 + 64 + 1 bytes); ab = the id's
 * first byte. The 256 ab/ are made at open. */
#define TSN_STORE__BODY_PATH_LEN (3 + 2 * TSN_ID_LEN + 1)
void tsn_store__body_path(const uint8_t id[TSN_ID_LEN], char out[TSN_STORE__BODY_PATH_LEN]);

/* Temp file names, relative to chunks/: "tmp/<session>-<n>". */
#define TSN_STORE__TMP_NAME_LEN 48
/*
 * Write len bytes to a new, uniquely named temp file under chunks/tmp; its
 * name goes to tmpname. A cached body (role cached) is written with direct
 * I/O when block is TSN_STORE_DIO_ALIGN-aligned and not flushed. Returns 0,
 * -ENOSPC (disk full or over the disk quota) or -errno (logged); on failure
 * the temp file is gone. No lock needed.
 */
int tsn_store__body_write_tmp(struct tsn_store *s, const uint8_t *block, size_t len, int cached,
                              char tmpname[TSN_STORE__TMP_NAME_LEN]);
/* Remove a temp file (errors other than ENOENT logged). */
void tsn_store__tmp_unlink(struct tsn_store *s, const char *tmpname);
/*
 * Rename a temp file to the body of id (replacing any), creating ab/ if
 * it went missing. Caller holds s->mu. Returns 0 or -errno (logged).
 */
int tsn_store__body_install(struct tsn_store *s, const char *tmpname,
                            const uint8_t id[TSN_ID_LEN]);
/*
 * Read the body of id, expected to be len bytes, into buf (cap >= len).
 * Returns len, -ENOENT (no body file) or -EIO (wrong size, read error; logged).
 */
long tsn_store__body_read(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], uint32_t len,
                          uint8_t *buf, size_t cap);
/* 1 if the body of id exists with size len, 0 if not, -errno. */
int tsn_store__body_check(struct tsn_store *s, const uint8_t id[TSN_ID_LEN], uint32_t len);
/* Unlink the body of id; a missing file is fine, other errors are logged. */
void tsn_store__body_unlink(struct tsn_store *s, const uint8_t id[TSN_ID_LEN]);

/* ---- store_chunk.c ---- */

/*
 * Evict cached chunks, least recently used first, until `need` more bytes
 * fit under the quota. Caller holds s->mu. Returns 0, -ENOSPC (cannot fit
 * even with every cached chunk gone: nothing evicted) or -EIO.
 */
int tsn_store__make_room(struct tsn_store *s, uint64_t need);

/* A growing array of chunk ids (eviction victims, gc candidates). */
struct tsn_store__ids {
	uint8_t (*id)[TSN_ID_LEN];
	size_t n, cap;
};
/* Append id. Returns 0 or -ENOMEM. Free v->id with free(). */
int tsn_store__ids_add(struct tsn_store__ids *v, const uint8_t id[TSN_ID_LEN]);

#endif
