/*
 * node.h: a running TSN node. The DHT core (dht.h), a UDP socket and a TCP
 * listener on the same port number, and the chunk transfers, all owned by
 * one libuv loop in a background thread. This is the only part of net/ that
 * includes uv.h (node_*.c); the protocol code stays sans-I/O.
 *
 * Other threads talk to the node through the calls below. Each call is
 * thread-safe and goes through one bounded request queue: at most 1024
 * requests queued or running (-EAGAIN beyond). An asynchronous call either
 * fails now with -errno (-EINVAL bad arguments, -EAGAIN queue full,
 * -ECANCELED the node is stopping, -ENOMEM; its callback never runs) or
 * returns 0 and its callback runs exactly once, later, on the loop thread,
 * no later than its deadline (opts.timeout_ms after the call, to within a
 * timer tick), with -ETIMEDOUT then. Callbacks must not block and must not
 * call tsn_node_stop; they may call the asynchronous calls again. Arrays
 * given to a callback are borrowed for the call. The *_wait forms block
 * the calling thread until completion; on the loop thread (inside a
 * callback) they fail with -EDEADLK.
 *
 * Chunks: the node reads and writes chunk bodies in the store it is given
 * (shared; the store is thread-safe). Disk I/O and hashing run on the libuv
 * thread pool, never on the loop thread. Chunk bodies travel over TCP (one
 * connection per peer, reused, length-framed, capped bytes in flight per
 * peer); records and lookups over UDP (dht.h, docs/protocol.md, "Chunk
 * transfer (TCP)" for the frames, caps and rules). At most 32 fetches and
 * 16 pushes run at once; more wait in the queue (their deadline runs).
 *
 * Placement: a chunk lives at the `replicas` nodes closest to its id (XOR
 * distance), this node included when it is among them (then it keeps the
 * chunk as held). A node that refuses (full, bad block, unreachable) passes
 * its copy to the next closest. A fetch asks the closest nodes its routing
 * table knows, then those a lookup finds, in turn (a second one at once
 * only when the first has not answered in 100 ms), checks BLAKE2b(block) ==
 * id on the pool, and keeps the block as cached after the callback (best
 * effort: not when 16 cache writes are already pending or the store is
 * full).
 *
 * Names: tree.h (store/) also has a `struct tsn_node` (a tree node). A file
 * that includes both headers compiles (this header only declares the tag)
 * but the two meanings clash; keep them in separate files where possible.
 */
#ifndef TSN_NET_NODE_H
#define TSN_NET_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dht.h"
#include "record.h"
#include "store.h"

#define TSN_NODE_BOOTSTRAP_MAX 16
#define TSN_NODE_REPLICAS_DEFAULT 5
#define TSN_NODE_TIMEOUT_DEFAULT_MS 30000

struct tsn_node;

struct tsn_node_opts {
	struct tsn_store *store;  /* required, borrowed for the node's life */
	const char *datadir;      /* required: the identity key lives in DATADIR/identity */
	const char *host;         /* numeric address to bind; NULL = "0.0.0.0" */
	uint16_t port;            /* 0 = any free port (UDP and TCP get the same) */
	struct tsn_addr bootstrap[TSN_NODE_BOOTSTRAP_MAX]; /* peers to join through */
	size_t nbootstrap;        /* 0: join through the peers saved last time only
	                             (they are pinged in any case) */
	unsigned replicas;        /* r; 0 = TSN_NODE_REPLICAS_DEFAULT; at most 20 */
	uint32_t timeout_ms;      /* deadline of one request; 0 = TSN_NODE_TIMEOUT_DEFAULT_MS */
	int allow_loopback;       /* accept peers on 127.0.0.0/8 and ::1 (local test
	                             networks); also set when host is a loopback address */
	/* Repair (docs/protocol.md, "Replication and repair"). */
	uint32_t repair_interval_ms;    /* scan of held chunks; 0 = TSN_NODE_REPAIR_DEFAULT_MS */
	uint32_t republish_interval_ms; /* pinned chunks; 0 = TSN_NODE_REPUBLISH_DEFAULT_MS */
	uint64_t held_ttl_ms;           /* held chunks nobody republished are dropped
	                                   after this; 0 = TSN_NODE_HELD_TTL_DEFAULT_MS */
	uint32_t records_interval_ms;   /* re-store of the records held for the network at
	                                   the k closest; 0 = TSN_NODE_RECORDS_DEFAULT_MS */
};
#define TSN_NODE_REPAIR_DEFAULT_MS (10u * 60 * 1000)
#define TSN_NODE_REPUBLISH_DEFAULT_MS (6u * 3600 * 1000)
#define TSN_NODE_HELD_TTL_DEFAULT_MS (UINT64_C(7) * 24 * 3600 * 1000)
#define TSN_NODE_RECORDS_DEFAULT_MS (3600u * 1000)
#define TSN_NODE_REPAIR_MIN_MS 200 /* shorter intervals are raised to this */

/*
 * Start a node: load or create the identity, bind UDP and TCP, load saved
 * peers, start the loop thread, bootstrap. Returns 0 or -errno; on failure
 * *out is NULL and err (errlen bytes) says what and why in one line (e.g.
 * "cannot bind UDP 0.0.0.0:4000: Address already in use").
 * Saved peers (store kv table TSN_KV_PEERS, key "peers": u8 version 1,
 * u16 n, n contacts) are pinged at start whether or not bootstrap
 * addresses are given; they are saved 10 s after start, then every minute
 * when they changed, and at stop. Cost: a few syscalls, the identity file,
 * one kv read, a thread.
 */
int tsn_node_start(struct tsn_node **out, const struct tsn_node_opts *opts, char *err,
                   size_t errlen);
/*
 * Stop: pending requests complete with -ECANCELED (their callbacks run on
 * the loop thread before this returns), peers are saved to the store
 * (synchronously), sockets close, pool work under way finishes, the thread
 * is joined, memory freed. NULL is a no-op. Call from a thread other than
 * the loop thread, once, when no other thread can still call into n.
 */
void tsn_node_stop(struct tsn_node *n);

/* The port bound (UDP and TCP). */
uint16_t tsn_node_port(const struct tsn_node *n);
/* The node id (borrowed, lives as long as n). */
const uint8_t *tsn_node_id(const struct tsn_node *n);

typedef void (*tsn_node_status_fn)(void *ud, int status);
typedef void (*tsn_node_fetch_fn)(void *ud, long len);
typedef void (*tsn_node_records_fn)(void *ud, int status, const struct tsn_record *recs,
                                    size_t n);
typedef void (*tsn_node_lookup_fn)(void *ud, int status, const struct tsn_contact *nodes,
                                   size_t n);

/*
 * Place the local chunk id at the `replicas` closest nodes. status: the
 * number of nodes that hold it afterwards (this one included when it is
 * among the closest and kept it as held), or -ENOENT (not in the local
 * store), -EIO (store error), -EHOSTUNREACH (no node took it), -ETIMEDOUT,
 * -ECANCELED. A node alone holds it itself: status 1.
 */
int tsn_node_push_chunk(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], tsn_node_status_fn cb,
                        void *ud);
/*
 * Get block id into buf (cap bytes; TSN_BLOCK_MAX always suffices): from
 * the local store, else from the network (checked against id, then stored
 * as cached). len: the block length, or -ENOENT (every node asked answered
 * without it, or there was nobody to ask), -EMSGSIZE (cap too small),
 * -ETIMEDOUT, -ECANCELED, -ENOMEM. buf must stay valid until the callback;
 * it is written only on the loop thread just before the callback.
 */
int tsn_node_fetch_chunk(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], uint8_t *buf,
                         size_t cap, tsn_node_fetch_fn cb, void *ud);
/* Store a record at the k closest nodes. status: nodes that stored it, or -errno (dht.h put_done). */
int tsn_node_put_record(struct tsn_node *n, const struct tsn_record *rec, tsn_node_status_fn cb,
                        void *ud);
/* Records under key (dht.h get_done); flags: TSN_DHT_GET_FIRST or 0. */
int tsn_node_get_records(struct tsn_node *n, const uint8_t key[TSN_ID_LEN], unsigned flags,
                         tsn_node_records_fn cb, void *ud);
/* The k closest nodes to key (dht.h lookup_done). */
int tsn_node_lookup(struct tsn_node *n, const uint8_t key[TSN_ID_LEN], tsn_node_lookup_fn cb,
                    void *ud);

/* Blocking forms (not on the loop thread: -EDEADLK). Same results as the
 * callbacks, or the error of the call that failed now. */
int tsn_node_push_chunk_wait(struct tsn_node *n, const uint8_t id[TSN_ID_LEN]);
long tsn_node_fetch_chunk_wait(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], uint8_t *buf,
                               size_t cap);
/* tsn_fetch_fn adapter (tree.h): ud is the node. */
long tsn_node_fetch(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap);

struct tsn_node_status {
	uint8_t id[TSN_ID_LEN];
	struct tsn_addr addr;          /* bound address and port */
	unsigned replicas;
	size_t peers;                  /* contacts in the routing table */
	size_t records;                /* records held for the network */
	uint64_t udp_in, udp_out;      /* bytes */
	uint64_t tcp_in, tcp_out;      /* bytes */
	uint64_t chunks_served;        /* blocks sent to peers that asked */
	uint64_t chunks_accepted;      /* blocks peers pushed to us, kept as held */
	uint64_t chunks_fetched;       /* blocks fetched from peers */
	uint64_t chunks_pushed;        /* copies placed at peers */
	uint64_t requests_pending;     /* in the queue or running */
	size_t connections;            /* TCP connections open */
	uint64_t frames_bad;           /* TCP frames of unknown version or type, skipped */
	uint64_t frames_malformed;     /* TCP connections closed on a malformed frame */
	/* repair (node_repair.c) */
	uint64_t repair_passes;        /* scans of the chunks held completed */
	uint64_t repair_checked;       /* chunks checked at their closest nodes */
	uint64_t repair_under;         /* chunks seen with fewer than r copies (since start) */
	uint64_t repair_under_now;     /* ... in the last complete pass: known under-replicated */
	uint64_t repair_copies;        /* copies placed by repair (CHUNK_PUT acknowledged) */
	uint64_t repair_handed;        /* held chunks handed on and dropped here */
	uint64_t repair_expired;       /* held chunks dropped: lifetime over */
	uint64_t repair_failed;        /* checks that failed (no node reached, timeout) */
	uint64_t repair_bytes;         /* block bytes sent in those copies and at leave */
	uint64_t records_restored;     /* records re-stored at the k closest (>= 1 node took it) */
	uint64_t records_restore_failed; /* ... re-stores no node took */
	struct tsn_dht_stats dht;
};
/* A snapshot of the figures (thread-safe, does not wait on the loop). The
 * loop refreshes it every 250 ms, after each dht tick and before each
 * request's callback, so a caller told of a result sees its counters. */
void tsn_node_status(struct tsn_node *n, struct tsn_node_status *out);
/* What a leave handed on. */
struct tsn_node_leave_res {
	uint64_t handed;          /* chunks now at r nodes other than this one */
	uint64_t short_;          /* chunks that got fewer (still placed where possible) */
	uint64_t failed;          /* chunks placed nowhere */
	uint64_t records_handed;  /* records stored at 2 or more nodes: another one has it */
	uint64_t records_failed;  /* records stored at most here (or nowhere) */
};
/*
 * Leave: hand every chunk this node holds for the network or pinned to the
 * nodes closest to it other than this one (CHUNK_HAS, then CHUNK_PUT where
 * missing, so each keeps r copies without this node), at most 16 at once,
 * and store every record of its record store again at the k closest nodes
 * to the record's key (a put, as tsn_node_put_record; on the loop, 16 at
 * once), both within timeout_ms (0: 10 minutes). Blocking: not on the loop
 * thread (-EDEADLK). The node keeps running (the caller stops it). Returns
 * 0 or -errno; *res (zeroed first) says what was handed on.
 */
int tsn_node_leave(struct tsn_node *n, uint32_t timeout_ms, struct tsn_node_leave_res *res);
/* tsn_node_leave with the default timeout, then one line on stderr, "PROG:
 * leave: ..." with its figures, whatever the log level (tsnd
 * --leave-on-exit, mount.tsn leave_on_exit). Returns tsn_node_leave's. */
int tsn_node_leave_report(struct tsn_node *n, const char *prog);

/* A snapshot of up to max contacts (at most 1024 are kept, refreshed with
 * the status). Returns how many. */
size_t tsn_node_peers(struct tsn_node *n, struct tsn_contact *out, size_t max);

#endif
