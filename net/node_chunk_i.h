/*
 * node_chunk_i.h (internal to node_chunk.c and node_fetch.c): the state of a
 * chunk push or fetch (req->chunk) and the pieces both use: the candidate
 * holders in distance order, and the store and hash work on the libuv pool.
 * Loop thread only, like the rest of struct tsn_node.
 */
#ifndef TSN_NET_NODE_CHUNK_I_H
#define TSN_NET_NODE_CHUNK_I_H

#include "node_i.h"

enum cand_state { C_NEW = 0, C_ASKED, C_FAILED, C_GOT };

struct cand {
	struct tsn_contact c;
	uint8_t state;
	bool self;                 /* push: this node (asking it = holding it here) */
	bool checked;              /* push (NODE_PUSH_CHECK): HAS answered NOTFOUND: PUT next */
	bool has;                  /* the call out is a CHUNK_HAS */
	struct node_call *call;
};

struct node_chunk {
	struct cand cand[NODE_CAND_MAX + 1]; /* by XOR distance to the id (+1: this node) */
	size_t ncand;
	unsigned inflight;                 /* calls out */
	unsigned works;                    /* pool work under way */
	bool lookup_started;               /* fetch: the lookup waits until it is needed */
	bool lookup_done;
	bool hedged;                       /* fetch: a second holder may be asked */
	bool in_hedge;                     /* fetch: on n->hedge_head's list */
	uint64_t hedge_at;
	struct node_req *hnext, *hprev;
	struct node_blk *blk;              /* push: the block, once read */
	bool placed;                       /* push: this node is among the candidates */
	unsigned holders;                  /* push: copies placed (this node included) */
	unsigned had;                      /* push: copies found there already (HAS, this node) */
	unsigned put;                      /* push: copies sent (CHUNK_PUT acknowledged) */
	uint64_t put_bytes;                /* push: block bytes of those copies */
};

/* Pool work kinds (node_chunk_work). */
enum node_work_kind {
	W_FETCH_LOCAL, W_FETCH_VERIFY, W_FETCH_CACHE, W_PUSH_READ, W_PUSH_HOLD, W_SERVE_GET, W_SERVE_PUT,
	W_SERVE_HAS
};

/* ---- node_chunk.c ---- */
/*
 * Queue pool work `kind` on blk (a reference is taken) for req or conn
 * (each referenced when not NULL; req counts it in req->chunk->works). Its
 * result comes back on the loop: fetch kinds to node_fetch_local_done and
 * node_fetch_verified, push kinds to the push, serve kinds to the peer.
 * Returns 0 or a uv error (nothing queued, nothing referenced).
 */
int node_chunk_work(struct tsn_node *n, uint8_t kind, const uint8_t id[TSN_ID_LEN],
                    struct node_blk *blk, struct node_req *req, struct node_conn *conn,
                    uint64_t reqid);
/* req->chunk, allocated; NULL after completing req with -ENOMEM. */
struct node_chunk *node_chunk_new(struct tsn_node *n, struct node_req *req);
/* Add the nodes (not this one, not known yet) as candidates, up to NODE_CAND_MAX. */
void node_chunk_cand_merge(struct tsn_node *n, struct node_chunk *ch,
                           const uint8_t key[TSN_ID_LEN], const struct tsn_contact *nodes,
                           size_t nn);
/* The candidate a call went to (NULL: not one of ch's). */
struct cand *node_chunk_cand_of(struct node_chunk *ch, const struct node_call *call);
/* Ask the next untried candidate with a call of `type` (CHUNK_GET, CHUNK_PUT:
 * a CHUNK_HAS first under NODE_PUSH_CHECK). Returns false when none is left. */
bool node_chunk_ask_next(struct tsn_node *n, struct node_req *req, uint8_t type,
                         node_call_fn done);

/* ---- node_fetch.c ---- */
/* Off the hedge list (abort). */
void node_fetch_hedge_unlink(struct tsn_node *n, struct node_req *req);
/* Pool work of a fetch came back (req not done): the local read, the hash check. */
void node_fetch_local_done(struct tsn_node *n, struct node_req *req, long rc,
                           struct node_blk *blk);
void node_fetch_verified(struct tsn_node *n, struct node_req *req, long rc,
                         struct node_blk *blk);
/* Ask more holders, start the lookup when needed, or end the fetch. */
void node_fetch_step(struct tsn_node *n, struct node_req *req);

#endif
