/*
 * dht.h: the sans-I/O Kademlia node core.
 *
 * The core owns a routing table, a record store, the queries in flight and
 * the running operations. It never touches a socket, a clock, a thread or a
 * global RNG: the caller feeds it datagrams with tsn_dht_receive, time with
 * tsn_dht_tick (which returns when to call it next), and supplies datagram
 * output and randomness through struct tsn_dht_cb. Many nodes can live in
 * one process (the simulator in tests/net/ runs 200).
 *
 * Time: now_ms is the caller's clock in milliseconds; it must never go
 * backwards. Record expiries are absolute Unix times in ms, so a real node
 * passes wall-clock time (a simulator passes its virtual clock).
 *
 * Operations (lookup, get_records, put_record, ping) are one-shot: each
 * call either fails now with a negative errno and never calls back, or
 * returns 0 and later calls its completion callback exactly once, from
 * inside tsn_dht_receive, tsn_dht_tick or tsn_dht_free (then with
 * -ECANCELED). Nothing completes inside the call that started it.
 *
 * Every request leaves through one internal function (dht_send_request in
 * dht.c): the place where anonymity forwarding will wrap requests.
 *
 * Caps: queries in flight, concurrent operations, records, routing table
 * size and rate-limit sources are all bounded by fields of tsn_dht_opts.
 *
 * Threads: one owner thread for all calls on one struct tsn_dht (the libuv
 * loop thread in the daemon). Callbacks run on that thread, may start new
 * operations, and must not call tsn_dht_receive, tsn_dht_tick or
 * tsn_dht_free.
 */
#ifndef TSN_NET_DHT_H
#define TSN_NET_DHT_H

#include <stddef.h>
#include <stdint.h>

#include "id.h"
#include "ratelimit.h"
#include "record.h"
#include "table.h"
#include "wire.h"

#define TSN_DHT_ALPHA_MAX 8
#define TSN_DHT_CAND_MAX 64   /* candidates one lookup tracks */
#define TSN_DHT_BOOT_MAX 16   /* bootstrap addresses remembered */

struct tsn_dht;

struct tsn_dht_opts {
	uint8_t id[TSN_ID_LEN];      /* own node id (BLAKE2b-256 of the public key) */
	unsigned k;                  /* replication and bucket size; default 20, max TSN_WIRE_NODES_MAX */
	unsigned alpha;              /* queries in flight per lookup; default 3, max TSN_DHT_ALPHA_MAX */
	uint32_t query_timeout_ms;   /* one query; default 2000 */
	uint32_t op_timeout_ms;      /* a whole operation; default 30000 */
	unsigned max_inflight;       /* queries awaiting an answer; default 256 */
	unsigned max_ops;            /* concurrent lookups, gets and puts; default 32 */
	unsigned max_get_records;    /* records one get collects; default 64 */
	unsigned max_pages;          /* VALUES pages one get asks a node for; default 8 */
	/*
	 * Extra VALUES pages one keyword get may ask for, all nodes together;
	 * default 192. A get whose records are KEYWORD records (many per key)
	 * pages a node past max_pages while its pages still bring records new
	 * to the get, drawing on this budget, so a word held by hundreds of
	 * files is read whole. A keyword get thus sends at most
	 * k * max_pages + max_kw_pages FIND_VALUE and keeps max_get_records.
	 */
	unsigned max_kw_pages;
	uint64_t expire_every_ms;    /* record expiry sweep period; default 60000 */
	struct tsn_table_opts table; /* own_id and k are set from id and k */
	struct tsn_recstore_opts records;
	struct tsn_ratelimit_opts rate;
	/*
	 * Optional scratch space: two messages (in, out) the core uses only
	 * inside one call, never across calls. Cores that are never called
	 * concurrently, and whose callbacks never call into any of them, may
	 * share one (tsn-sim runs 100,000 cores with one). Borrowed: must
	 * outlive the core. NULL (default): the core allocates its own,
	 * 2 * sizeof(struct tsn_msg), about 46 KiB.
	 */
	struct tsn_msg *scratch;
};

/* Fill *o with defaults (id zero). */
void tsn_dht_opts_default(struct tsn_dht_opts *o);

struct tsn_dht_cb {
	/*
	 * Send one datagram (len <= TSN_WIRE_MTU; buf borrowed for the call).
	 * Returns 0 or a negative errno (the query then fails at once). Must
	 * not call back into the dht. Required.
	 */
	int (*send)(void *ud, const struct tsn_addr *to, const uint8_t *buf, size_t len);
	/* Fill buf with len random bytes (a seeded source is fine). Required. */
	void (*random)(void *ud, void *buf, size_t len);
	/*
	 * Completions, each optional (NULL: not told). op_ud is what the
	 * operation was started with. Arrays are borrowed for the call.
	 *   lookup_done: status 0 and the up-to-k closest nodes that answered,
	 *     closest first; -EHOSTUNREACH (none answered), -ETIMEDOUT,
	 *     -ECANCELED.
	 *   get_done: status 0 and the valid records found (signature and key
	 *     checked; per signer and salt only the highest seq); -ENOENT
	 *     (nobody holds one), -EHOSTUNREACH, -ETIMEDOUT, -ECANCELED.
	 *   put_done: status = number of nodes that stored the record (this
	 *     node included when it is among the k closest), or, when none
	 *     stored it, the first refusal received (-ESTALE, -EBADMSG,
	 *     -ENOSPC, -ERANGE, -EPROTONOSUPPORT), -EHOSTUNREACH (nobody
	 *     answered), -ECANCELED.
	 *   ping_done: 0 and the node id that answered; -ETIMEDOUT, -ECANCELED.
	 */
	void (*lookup_done)(void *ud, void *op_ud, int status, const struct tsn_contact *nodes,
	                    size_t n);
	void (*get_done)(void *ud, void *op_ud, int status, const struct tsn_record *recs,
	                 size_t n);
	void (*put_done)(void *ud, void *op_ud, int status);
	void (*ping_done)(void *ud, void *op_ud, int status, const uint8_t id[TSN_ID_LEN]);
};

struct tsn_dht_stats {
	uint64_t rx, tx, rx_bytes, tx_bytes;
	uint64_t bad_version;   /* dropped: unknown protocol version */
	uint64_t bad_type;      /* dropped: unknown or reserved message type */
	uint64_t malformed;     /* dropped: failed to decode */
	uint64_t martian;       /* dropped: impossible source address */
	uint64_t from_self;     /* dropped: own id or own address */
	uint64_t rate_limited;  /* dropped: request over its token bucket */
	uint64_t unsolicited;   /* dropped: reply matching no query */
	uint64_t mismatched;    /* dropped: reply of the wrong type or node id */
	uint64_t busy;          /* requests not sent: in-flight table full */
	uint64_t send_errors;
	uint64_t requests_in, replies_in, timeouts;
	uint64_t stores_accepted, stores_refused;
	size_t peers, records, record_bytes, inflight, ops;
};

/*
 * Create a node. o: options (copied; NULL fields take defaults), cb: copied,
 * both send and random required; ud passed to every callback. now_ms starts
 * the clock (bucket refresh deadlines). Returns 0, -EINVAL or -ENOMEM;
 * *out NULL on failure.
 */
int tsn_dht_new(struct tsn_dht **out, const struct tsn_dht_opts *o, const struct tsn_dht_cb *cb,
                void *ud, uint64_t now_ms);
/*
 * Free the node. Running operations complete with -ECANCELED first (their
 * callbacks must not call into the dht). NULL is a no-op.
 */
void tsn_dht_free(struct tsn_dht *d);

/*
 * One datagram arrived from `from`. Requests are answered (through
 * cb.send) unless rate-limited; replies advance the operations waiting for
 * them, whose callbacks may run now. Returns 0 when used, or why it was
 * dropped (also counted in the stats): -EADDRNOTAVAIL (martian source),
 * -EPROTONOSUPPORT, -EOPNOTSUPP, -EBADMSG (see tsn_wire_decode), -ELOOP
 * (from ourselves), -EAGAIN (rate-limited), -ENOENT (reply to nothing),
 * -EPROTO (reply of the wrong type or from another node id).
 * Cost: O(in-flight + table) worst case, plus one Ed25519 verify per record.
 */
int tsn_dht_receive(struct tsn_dht *d, uint64_t now_ms, const struct tsn_addr *from,
                    const uint8_t *buf, size_t len);
/*
 * Advance timers to now_ms: time out queries, move and complete
 * operations, expire records, refresh buckets. Returns the next time (ms,
 * > now_ms) it must be called. Starting an operation or receiving a
 * datagram can move that deadline earlier: call tick again after them.
 * Cost: O(max_inflight + max_ops * TSN_DHT_CAND_MAX + 256).
 */
uint64_t tsn_dht_tick(struct tsn_dht *d, uint64_t now_ms);

/*
 * Join through a node known only by address: ping it; when it answers it
 * enters the table and a lookup of our own id (the join lookup) fills the
 * table, then every bucket is refreshed once. Until a join lookup has been
 * answered by k nodes the node keeps trying, with backoff from 2 s to 60 s
 * (in a network of k nodes or fewer: one lookup a minute): the join
 * lookup as soon as it has any contact, and pings of the remembered
 * bootstrap addresses (up to TSN_DHT_BOOT_MAX, oldest forgotten first)
 * whenever its table is empty, so a lost datagram or a peer that starts
 * later does not leave it alone. No callback. Returns 0, -EADDRNOTAVAIL
 * (martian), -EAGAIN (in-flight table full; the address is still
 * remembered and retried), or the send error.
 */
int tsn_dht_bootstrap(struct tsn_dht *d, uint64_t now_ms, const struct tsn_addr *addr);

/* Find the k closest nodes to key (cb.lookup_done). Returns 0, -EAGAIN (max_ops). */
int tsn_dht_lookup(struct tsn_dht *d, uint64_t now_ms, const uint8_t key[TSN_ID_LEN],
                   void *op_ud);

/* Stop at the first valid record (for immutable records: all are the same). */
#define TSN_DHT_GET_FIRST 1u
/*
 * Collect the records stored under key from this node and the k closest
 * (cb.get_done). flags: TSN_DHT_GET_FIRST or 0. Returns 0, -EAGAIN, -ENOMEM.
 */
int tsn_dht_get_records(struct tsn_dht *d, uint64_t now_ms, const uint8_t key[TSN_ID_LEN],
                        unsigned flags, void *op_ud);
/*
 * Store a copy of rec at the k closest nodes to its key (cb.put_done).
 * Returns 0, -EBADMSG (rec does not verify), -ETIMEDOUT (already expired),
 * -EAGAIN, -ENOMEM.
 */
int tsn_dht_put_record(struct tsn_dht *d, uint64_t now_ms, const struct tsn_record *rec,
                       void *op_ud);
/*
 * Count the node as joined: its routing table was filled by other means
 * (tsn-sim's fast join tells each core its contacts as datagrams), so no
 * join lookup and no post-join bucket refresh runs. If the table empties
 * later, joining resumes as after tsn_dht_bootstrap.
 */
void tsn_dht_set_joined(struct tsn_dht *d);
/* Ping addr (cb.ping_done). Returns 0, -EADDRNOTAVAIL, -EAGAIN, or the send error. */
int tsn_dht_ping(struct tsn_dht *d, uint64_t now_ms, const struct tsn_addr *addr, void *op_ud);

/* Counters and sizes. */
void tsn_dht_stats(const struct tsn_dht *d, struct tsn_dht_stats *st);
/* Own id (borrowed, lives as long as d). */
const uint8_t *tsn_dht_id(const struct tsn_dht *d);
/* Copy up to max known contacts (for saving peers). Returns how many. */
size_t tsn_dht_peers(const struct tsn_dht *d, struct tsn_contact *out, size_t max);
/* The routing table and record store, read-only for inspection and tests. */
const struct tsn_table *tsn_dht_table(const struct tsn_dht *d);
struct tsn_recstore *tsn_dht_records(struct tsn_dht *d);
/* Refuse contacts at addr (one of our own addresses). Returns 0 or -ENOSPC. */
int tsn_dht_add_own_addr(struct tsn_dht *d, const struct tsn_addr *addr);

#endif
