/*
 * node_i.h (internal to the runtime: node.c, node_req.c, node_peers.c, node_repair.c,
 * node_udp.c, node_tcp.c, node_chunk.c, node_fetch.c): the state of a running node, owned
 * by its loop thread except where a field says otherwise.
 *
 * Life of a request (struct node_req): a caller thread allocates it and
 * appends it to the bounded queue (node_req.c); the loop moves it to the active
 * list (kept in deadline order: every request gets the same timeout from a
 * clock that never goes back) and starts it. It completes exactly once
 * through node_req_complete (user callback, then off the active list);
 * whatever still refers to it (a dht operation, thread pool work) holds a
 * reference and, when it comes back to a request already done, only drops
 * it. Buffers the user gave (fetch) are written on the loop thread only,
 * just before the callback, so pool work never touches them.
 */
#ifndef TSN_NET_NODE_I_H
#define TSN_NET_NODE_I_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dht.h"
#include "frame.h"
#include "node.h"

/* ---- caps (docs/protocol.md, "Chunk transfer (TCP)") ---- */
#define NODE_REQ_MAX 1024          /* requests queued or running, all kinds */
#define NODE_FETCH_MAX 32          /* chunk fetches running at once; more wait */
#define NODE_PUSH_MAX 16           /* chunk pushes running at once; more wait */
#define NODE_FETCH_PARALLEL 2      /* holders one fetch asks at once, at most */
#define NODE_FETCH_HEDGE_MS 100    /* ...the second only when the first is this slow
                                      (0: both at once; measured: two blocks for one
                                      cost ~25% of loopback throughput) */
#define NODE_CAND_MAX 40           /* nodes one fetch or push may try (seeds + a lookup) */
#define NODE_CONN_MAX 128          /* TCP connections, both directions */
#define NODE_CONN_CALLS_MAX 16     /* requests in flight on one outgoing connection */
#define NODE_CONN_SERVE_MAX 8      /* requests of one connection served at once */
#define NODE_SERVE_MAX 64          /* requests served at once, all connections */
#define NODE_ATTEMPT_MS 5000       /* one request to one holder, connect included */
#define NODE_IDLE_MS 60000         /* an idle connection is closed after this */
#define NODE_STALL_MS 20000        /* a connection served but making no progress: closed */
#define NODE_RBUF_MIN 65536        /* read buffer of a connection: grows to ... */
#define NODE_RBUF_MAX (TSN_FRAME_MAX + NODE_RBUF_MIN) /* ... at most one frame + a read */
#define NODE_BLK_FREE_MAX 32       /* block buffers kept for reuse */
#define NODE_CACHE_PENDING_MAX 16  /* fetched blocks being written to the store as cached */
#define NODE_UDP_QUEUE_MAX 256     /* datagrams waiting for the socket */
#define NODE_PEERS_SAVE_MAX 128    /* contacts saved for the next start */
#define NODE_PEERS_SNAP_MAX 1024   /* contacts tsn_node_peers can show */
#define NODE_HOUSEKEEP_MS 250      /* status snapshot period */
#define NODE_SAVE_FIRST_MS 10000   /* first peers save after start */
#define NODE_SAVE_EVERY_MS 60000   /* then at most this often, when changed */
#define NODE_DHT_MAX_OPS 64

/* A block buffer: node-owned, reference-counted (several writes may send it). */
struct node_blk {
	struct node_blk *next;  /* free list */
	unsigned refs;
	size_t len;
	/* Aligned, so that the store writes a cached copy with direct I/O. */
	_Alignas(TSN_STORE_DIO_ALIGN) uint8_t data[TSN_BLOCK_MAX];
};

enum node_req_kind { REQ_PUSH = 1, REQ_FETCH, REQ_PUT_RECORD, REQ_GET_RECORDS, REQ_LOOKUP };
enum node_wait { WAIT_NONE = 0, WAIT_DHT, WAIT_PUSH, WAIT_FETCH };

struct node_chunk;
struct node_repair;
struct node_records;

/* Push flags (node_req.flags of a REQ_PUSH; node_req_push). */
#define NODE_PUSH_CHECK 0x01u   /* ask CHUNK_HAS first; CHUNK_PUT only where missing */
#define NODE_PUSH_REFRESH 0x02u /* the HAS restarts the held lifetime (owner republish) */
#define NODE_PUSH_NOSELF 0x04u  /* this node is no candidate (it leaves) */

/* What a push did (written just before its callback when asked for). */
struct node_push_res {
	unsigned holders;  /* copies after the push */
	unsigned had;      /* copies found in place (HAS answered yes; this node) */
	unsigned put;      /* copies sent */
	uint64_t put_bytes; /* block bytes of those copies */
	size_t closest;    /* candidates known */
	bool self;         /* this node holds a copy as one of the closest */
};

struct node_req {
	struct node_req *next, *prev;    /* the queue, then the active list */
	struct node_req *wnext, *wprev;  /* a wait list (wait != WAIT_NONE) */
	uint8_t kind;
	uint8_t wait;
	bool done;                       /* completed: the user was called */
	bool running;                    /* push, fetch: counted in npush/nfetch */
	bool dht_started;                /* a dht operation holds a reference */
	unsigned refs;                   /* active list + dht op + pool work */
	uint64_t deadline;               /* node clock, ms */
	void *ud;
	union {
		tsn_node_status_fn status;
		tsn_node_fetch_fn fetch;
		tsn_node_records_fn records;
		tsn_node_lookup_fn lookup;
	} cb;
	uint8_t key[TSN_ID_LEN];         /* chunk id or record key */
	unsigned flags;                  /* get_records; push: NODE_PUSH_* */
	struct node_push_res *res;       /* push: filled before the callback, or NULL */
	uint64_t since_ms;               /* push: the copies' lifetime start (wall clock);
	                                  * 0 = now (an owner's push: CHUNK_PUT), else a
	                                  * copy of a held chunk (CHUNK_COPY with its age) */
	uint8_t *buf;                    /* fetch: the caller's buffer */
	size_t cap;
	struct tsn_record *rec;          /* put_record: a copy */
	struct node_chunk *chunk;        /* push, fetch: their state (node_chunk_i.h) */
};

struct node_call;
/* A call's end: status 0 and blk (DATA; the reference is the callee's) or
 * NULL (ACK 0), else -errno. Never runs after node_tcp_call_cancel. */
typedef void (*node_call_fn)(void *owner, struct node_call *call, int status,
                             struct node_blk *blk);

/* A request sent (or waiting to be sent) on an outgoing connection. */
struct node_call {
	struct node_call *next, *prev;   /* conn->calls, creation (= deadline) order */
	struct node_conn *conn;
	uint64_t reqid;
	uint8_t type;                    /* CHUNK_GET, CHUNK_PUT, CHUNK_COPY or CHUNK_HAS */
	uint8_t flags;                   /* HAS: TSN_FRAME_HAS_* */
	uint32_t age_s;                  /* COPY: the copy's age */
	bool sent;
	uint8_t id[TSN_ID_LEN];
	struct node_blk *blk;            /* PUT: the block (a reference) */
	uint64_t deadline;
	node_call_fn done;
	void *owner;
};

struct node_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;                /* call deadlines and idle timeout */
	uv_connect_t connect;
	struct tsn_node *n;
	struct node_conn *next, *prev;   /* n->conns */
	struct tsn_addr peer;            /* outgoing: listener address; incoming: remote */
	bool outgoing, connected, closing, paused;
	bool broken;                     /* a write failed: closed from the timer */
	bool processing;                 /* inside conn_process */
	unsigned closes;                 /* close callbacks still awaited */
	unsigned refs;                   /* writes and pool work using it (+1 while open) */
	uint8_t *rbuf;                   /* unprocessed bytes at the front */
	size_t rlen, rcap, want;         /* want: length of the frame being received */
	struct node_call *calls, *calls_tail;
	unsigned ncalls, nsent;
	uint64_t next_reqid;
	unsigned serving;                /* requests of the peer being served */
	uint64_t last_active;
};

struct tsn_node {
	/* set at start, then read-only */
	struct tsn_store *store;
	uint8_t id[TSN_ID_LEN];
	struct tsn_addr addr;
	unsigned replicas;
	uint32_t timeout_ms;
	bool allow_loopback;
	uv_thread_t thread;
	bool thread_started;

	/* clock (any thread, under clock_mu) */
	uv_mutex_t clock_mu;
	uint64_t clock_last, clock_mono;

	/* request queue (any thread, under q_mu) */
	uv_mutex_t q_mu;
	struct node_req *q_head, *q_tail;
	size_t outstanding;              /* queued + running, capped at NODE_REQ_MAX */
	bool q_closed;                   /* stop called: calls fail with -ECANCELED */
	bool stop_asked;

	/* status snapshot (any thread, under s_mu) */
	uv_mutex_t s_mu;
	struct tsn_node_status snap;
	struct tsn_contact *snap_peers;  /* NODE_PEERS_SNAP_MAX */
	size_t snap_npeers;

	/* loop thread */
	uv_loop_t loop;
	uv_async_t async;
	uv_timer_t tick;                 /* tsn_dht_tick */
	uv_timer_t deadline;             /* head of the active list */
	uv_timer_t house;                /* status snapshot, peers save */
	uv_timer_t hedge;                /* fetches that may ask a second holder */
	struct node_req *hedge_head, *hedge_tail; /* in start order = deadline order */
	uv_udp_t udp;
	uv_tcp_t listener;
	struct tsn_dht *dht;
	bool stopping;
	bool kicked;                     /* a tick is due at once */
	bool dht_waiters;                /* retry waiting dht starts after the next tick */
	struct node_req *act_head, *act_tail;
	struct node_req *wait_head[4], *wait_tail[4]; /* by enum node_wait */
	unsigned nfetch, npush;          /* running chunk operations */
	struct node_conn *conns;
	unsigned nconns;
	unsigned serving;                /* all connections */
	unsigned npaused;                /* connections not reading (serve caps) */
	struct node_blk *blk_free;
	unsigned nblk_free;
	unsigned udp_queued;
	unsigned caching;                /* cache writes on the pool */
	uint8_t udp_rbuf[2048];
	bool saving;                     /* a peers save is on the pool */
	uint64_t next_save;
	uint8_t peers_sig[16];           /* hash of the last saved set */
	struct tsn_contact *final_peers; /* taken at stop, saved by tsn_node_stop */
	size_t nfinal_peers;
	struct tsn_node_status st;       /* counters kept by the loop */
	uint64_t cache_skipped;          /* fetched blocks not cached (too many writes pending) */
	uint32_t repair_interval_ms, republish_interval_ms; /* set at start */
	uint32_t records_interval_ms;
	uint64_t held_ttl_ms;
	uv_timer_t repair_timer;         /* node_repair.c */
	struct node_repair *repair;      /* its state (node_repair.c) */
	struct node_records *records;    /* the re-store of records (node_records.c) */
};

/* ---- node.c ---- */
/* The node's clock: Unix ms, never going back (any thread). */
uint64_t node_now(struct tsn_node *n);
/* Refresh the status snapshot (and the peers list when asked or changed). */
void node_publish(struct tsn_node *n, bool peers);
/* Block buffers (loop thread). */
struct node_blk *node_blk_new(struct tsn_node *n);
void node_blk_unref(struct tsn_node *n, struct node_blk *b);

/* ---- node_req.c ---- */
/* The dht callbacks of a node (ud: the node). */
void node_dht_callbacks(struct tsn_dht_cb *cb);
/* Requests taken from the queue (a list through ->next): active, started. */
void node_req_accept(struct tsn_node *n, struct node_req *q);
/* Stop: complete the requests of q (never started) and every active one
 * with -ECANCELED. */
void node_req_cancel_all(struct tsn_node *n, struct node_req *q);
/* A dht tick is due (a datagram arrived, an operation started). */
void node_kick(struct tsn_node *n);
/* Complete req with its result (the arguments its callback takes). */
void node_req_complete(struct tsn_node *n, struct node_req *req, long status,
                       const void *items, size_t nitems);
void node_req_unref(struct tsn_node *n, struct node_req *req);
/* Start the dht operation of req (lookup for push/fetch/lookup, get, put);
 * when the dht is busy it waits and is retried. Returns 0 or -errno. */
int node_dht_start(struct tsn_node *n, struct node_req *req);

/* ---- node_peers.c ---- */
/* Ping the peers saved last time (start, before the loop runs). */
void node_peers_load(struct tsn_node *n, uint64_t now);
/* Save the peers on the pool if they changed (housekeeping). */
void node_peers_save(struct tsn_node *n);
/* Stop: take the peers (loop thread, before the dht goes), then save them
 * (the stopping thread, after the loop ended). */
void node_peers_take_final(struct tsn_node *n);
void node_peers_save_final(struct tsn_node *n);

/* ---- node_udp.c ---- */
/* Bind the UDP socket to addr (port 0 = any). Returns 0 or a uv error. */
int node_udp_bind(struct tsn_node *n, const struct sockaddr *sa);
int node_udp_start(struct tsn_node *n);
/* The dht's send callback. */
int node_udp_send(void *ud, const struct tsn_addr *to, const uint8_t *buf, size_t len);

/* ---- node_tcp.c ---- */
/* Bind and listen (the caller closes the handle on failure). Returns 0 or a uv error. */
int node_tcp_bind(struct tsn_node *n, const struct sockaddr *sa);
/* type | NODE_CALL_REFRESH: a CHUNK_HAS with TSN_FRAME_HAS_REFRESH set. */
#define NODE_CALL_REFRESH 0x80u
/*
 * Send a CHUNK_GET or CHUNK_HAS (blk NULL) or CHUNK_PUT or CHUNK_COPY (age_s:
 * its age; blk: a reference is taken) of id to the node at `to`, over its
 * connection (opened if needed). done runs once, later, unless cancelled.
 * Returns the call, or NULL with *err (-EMFILE: connection cap, -ENOMEM, a
 * connect error).
 */
struct node_call *node_tcp_call(struct tsn_node *n, const struct tsn_addr *to, uint8_t type,
                                const uint8_t id[TSN_ID_LEN], struct node_blk *blk,
                                uint32_t age_s, node_call_fn done, void *owner, int *err);
/* Forget a call: its callback will not run. */
void node_tcp_call_cancel(struct tsn_node *n, struct node_call *call);
/* Close every connection (stop). */
void node_tcp_close_all(struct tsn_node *n);
/* A served request finished: resume connections paused by the caps. */
void node_tcp_serve_done(struct tsn_node *n, struct node_conn *c);
/* Send a reply frame on c (blk: a reference is taken, may be NULL). */
void node_tcp_reply(struct tsn_node *n, struct node_conn *c, uint8_t type, uint64_t reqid,
                    const uint8_t id[TSN_ID_LEN], uint8_t status, struct node_blk *blk);
void node_conn_unref(struct tsn_node *n, struct node_conn *c);

/* Queue a push of id with NODE_PUSH_* flags (any thread). res (may be
 * NULL) must live until cb. Same contract as tsn_node_push_chunk. */
int node_req_push(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], unsigned flags,
                  uint64_t since_ms, struct node_push_res *res, tsn_node_status_fn cb,
                  void *ud);

/* ---- node_repair.c ---- */
/* Start (loop thread not yet running: at start) and stop (loop thread). */
int node_repair_init(struct tsn_node *n);
void node_repair_close(struct tsn_node *n);
/* Free what the repair kept (after the loop ended). */
void node_repair_free(struct tsn_node *n);
/* The store is full: run a pass soon (loop thread; rate-limited). */
void node_repair_kick(struct tsn_node *n);

/* ---- node_records.c ---- */
/* Start (at start, from node_repair_init: 0 or a uv error), the repair
 * timer's tick (loop), stop (loop, stopping: a leave waiting ends), and
 * free (after the loop ended; NULL state is a no-op). */
int node_records_init(struct tsn_node *n);
void node_records_tick(struct tsn_node *n, uint64_t now);
void node_records_close(struct tsn_node *n);
void node_records_free(struct tsn_node *n);
/* A leave's walk of the record store: the leaving thread's, on its stack. */
struct node_rec_leave {
	uv_mutex_t mu;
	uv_cond_t cv;
	bool done;                     /* the loop is done with it (under mu) */
	uint64_t deadline;             /* no put starts after it (read-only once asked) */
	uint64_t handed, failed;       /* set with done */
};
/*
 * Ask the loop to put every record of the store again (leaving thread).
 * Returns 0 (then call node_records_leave_wait once) or -ENOMEM, -EBUSY
 * (another leave runs).
 */
int node_records_leave_start(struct tsn_node *n, struct node_rec_leave *rl, uint64_t deadline);
/* Wait until the loop is done with rl (bounded: deadline plus one request's
 * timeout), then release it. rl->handed and rl->failed say what it did. */
void node_records_leave_wait(struct tsn_node *n, struct node_rec_leave *rl);

/* ---- node_chunk.c (push, serving), node_fetch.c (fetch) ---- */
void node_chunk_push_start(struct tsn_node *n, struct node_req *req);
void node_fetch_start(struct tsn_node *n, struct node_req *req);
/* The lookup of a push or fetch finished (dht callback). */
void node_chunk_lookup_done(struct tsn_node *n, struct node_req *req, int status,
                            const struct tsn_contact *nodes, size_t nn);
/* req completed (deadline, cancel): stop its calls, free what only it used. */
void node_chunk_abort(struct tsn_node *n, struct node_req *req);
/* Free the state of a finished request (last reference gone). */
void node_chunk_free(struct tsn_node *n, struct node_req *req);
/* A peer asks (the frame is borrowed; the block is copied if needed). */
void node_chunk_serve_get(struct tsn_node *n, struct node_conn *c, const struct tsn_frame *f);
void node_chunk_serve_put(struct tsn_node *n, struct node_conn *c, const struct tsn_frame *f);
void node_chunk_serve_has(struct tsn_node *n, struct node_conn *c, const struct tsn_frame *f);

#endif
