/*
 * dht_i.h (internal to net/): state shared by dht.c (datagrams, queries,
 * timers) and lookup.c (iterative lookups, gets and puts).
 */
#ifndef TSN_NET_DHT_I_H
#define TSN_NET_DHT_I_H

#include <stdbool.h>

#include "dht.h"

/* Why a query was sent: decides what its answer or timeout does. */
enum dht_purpose {
	Q_FREE = 0,
	Q_LOOKUP,    /* FIND_NODE or FIND_VALUE of an operation */
	Q_STORE,     /* STORE of a put */
	Q_PING_OP,   /* tsn_dht_ping */
	Q_PING_LRS,  /* the routing table asked to check its LRS contact */
	Q_PING_BOOT, /* tsn_dht_bootstrap */
};

struct dht_query {
	uint8_t purpose;
	uint8_t type;          /* request type sent */
	bool id_known;
	uint64_t txid;
	uint64_t deadline;
	struct tsn_addr to;
	uint8_t id[TSN_ID_LEN];
	unsigned op;           /* operation slot (Q_LOOKUP, Q_STORE) */
	uint32_t op_gen;       /* ...and its generation, in case the slot was reused */
	void *op_ud;           /* Q_PING_OP */
};

enum op_kind { OP_NODES = 1, OP_VALUES, OP_PUT, OP_REFRESH, OP_JOIN };
enum cand_state { C_NEW = 0, C_INFLIGHT, C_ANSWERED, C_FAILED };

struct dht_cand {
	struct tsn_contact c;
	uint8_t state;
	uint16_t pages;  /* VALUES pages asked for after the first */
	uint8_t tries;   /* queries sent to it (pages included) */
	uint16_t first;  /* VALUES: the cursor its paging started at */
	bool wrapped;    /* VALUES: paging went past the end back to 0 */
	bool store_sent; /* put: its STORE went (or failed to send) */
};

struct dht_op {
	uint32_t gen;
	uint8_t kind;
	bool storing;    /* put: search over, STOREs under way */
	bool done;       /* finished; reaped (callback, free) by lookup_reap */
	bool starved;    /* a query could not be sent (query table full) */
	unsigned flags;
	int status;
	uint8_t target[TSN_ID_LEN];
	void *op_ud;
	uint64_t deadline;
	unsigned inflight;           /* queries of this op in the query table */
	bool any_cand;               /* ever had a candidate */
	struct dht_cand cand[TSN_DHT_CAND_MAX];
	size_t ncand;                /* sorted by distance to target */
	struct tsn_record *recs;     /* get: max_get_records slots */
	size_t nrecs;
	bool keyword;                /* get: KEYWORD records seen (pages on, see max_kw_pages) */
	unsigned kw_pages;           /* get: extra pages drawn from max_kw_pages */
	struct tsn_record *rec;      /* put: the record */
	unsigned stores_out;         /* put: STOREs awaiting their ack */
	uint64_t store_until;        /* put: STOREs left unsent (query table full) wait until then */
	unsigned stored;             /* put: acks with TSN_STORE_OK (+ self) */
	int store_err;               /* put: refusal of the closest refusing node */
};

struct tsn_dht {
	struct tsn_dht_opts o;
	struct tsn_dht_cb cb;
	void *ud;
	struct tsn_table *table;
	struct tsn_recstore *rs;
	struct tsn_ratelimit *rl;
	struct dht_query *q;         /* max_inflight slots */
	unsigned nq;
	struct dht_op **ops;         /* max_ops slots, allocated while in use */
	unsigned nops;
	uint32_t gen;
	uint64_t next_expire;
	struct tsn_addr boot[TSN_DHT_BOOT_MAX]; /* bootstrap addresses, retried while alone */
	unsigned nboot;
	bool joined;                 /* a join lookup got k answers since the table was last empty */
	bool join_refreshed;         /* ...and the buckets were refreshed after a join */
	uint64_t boot_retry;         /* next join attempt; 0 = none scheduled */
	uint32_t boot_backoff_ms;
	bool reap_due;               /* some op is done but not yet reaped */
	struct tsn_dht_stats st;
	struct tsn_msg *in;          /* decoded datagram (large: kept off the stack) */
	struct tsn_msg *out;         /* reply or request being encoded */
	struct tsn_msg *own_msgs;    /* in and out, unless opts.scratch lends them */
	uint8_t buf[TSN_WIRE_MTU];
	struct tsn_blob blobs[TSN_WIRE_VALUES_MAX];
};

/*
 * dht.c: send a request (m->h.type and body set by the caller; txid and
 * sender filled here) to `to`, expecting node id `id` (NULL: unknown), and
 * remember it in the query table. The one exit of every request.
 * Returns 0, -EAGAIN (query table full) or the send error.
 */
int dht_send_request(struct tsn_dht *d, uint64_t now, const struct tsn_addr *to,
                     const uint8_t *id, struct tsn_msg *m, uint8_t purpose, unsigned op,
                     void *op_ud);

/* lookup.c: operation life cycle. */
int lookup_start(struct tsn_dht *d, uint64_t now, uint8_t kind, const uint8_t target[TSN_ID_LEN],
                 unsigned flags, const struct tsn_record *rec, void *op_ud);
/* A reply (NODES/VALUES, or STORE_ACK) to query q of operation op arrived. */
void lookup_on_reply(struct tsn_dht *d, uint64_t now, struct dht_op *op,
                     const struct dht_query *q, const struct tsn_msg *m);
/* Query q of operation op timed out (or could not be sent). */
void lookup_on_timeout(struct tsn_dht *d, uint64_t now, struct dht_op *op,
                       const struct dht_query *q);
/* Drive every operation at now (deadlines, sends); returns the next deadline. */
uint64_t lookup_tick(struct tsn_dht *d, uint64_t now);
/* Run callbacks of finished operations and free them. */
void lookup_reap(struct tsn_dht *d);
/* Finish every operation with status (tsn_dht_free). */
void lookup_cancel_all(struct tsn_dht *d, int status);
/* Operations of a kind in use. */
unsigned lookup_count(const struct tsn_dht *d, uint8_t kind);

#endif
