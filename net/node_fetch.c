/*
 * node_fetch.c: getting a chunk (tsn_node_fetch_chunk; node_chunk_i.h for
 * the state it shares with the push in node_chunk.c).
 *
 * The local store first (pool); else ask the `replicas` nodes closest to
 * the id that the routing table knows, then, when they are all asked or
 * slow, the nodes a dht lookup finds, closest first: one at a time, the
 * next one on a failure or CHUNK_NONE, and NODE_FETCH_PARALLEL (2) at a
 * time once the fetch has run for NODE_FETCH_HEDGE_MS (a hedge against a
 * slow holder that does not cost a second transfer of every block). A block
 * received is hashed on the pool, copied into the caller's buffer (on the
 * loop thread, so pool work never touches it), and then kept as cached by a
 * pool write that the caller does not wait for (at most
 * NODE_CACHE_PENDING_MAX at once; beyond that it is not cached).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_chunk_i.h"
#include "util.h"

void
node_fetch_hedge_unlink(struct tsn_node *n, struct node_req *req)
{
	struct node_chunk *ch = req->chunk;

	if (!ch->in_hedge)
		return;
	if (ch->hprev != NULL)
		ch->hprev->chunk->hnext = ch->hnext;
	else
		n->hedge_head = ch->hnext;
	if (ch->hnext != NULL)
		ch->hnext->chunk->hprev = ch->hprev;
	else
		n->hedge_tail = ch->hprev;
	ch->hnext = ch->hprev = NULL;
	ch->in_hedge = false;
}

static void fetch_call_done(void *owner, struct node_call *call, int status,
                            struct node_blk *blk);

static void
deliver(struct tsn_node *n, struct node_req *req, struct node_blk *blk)
{
	if (blk->len > req->cap) {
		node_req_complete(n, req, -EMSGSIZE, NULL, 0);
		return;
	}
	memcpy(req->buf, blk->data, blk->len);
	node_req_complete(n, req, (long)blk->len, NULL, 0);
}

static void
hedge_cb(uv_timer_t *t)
{
	struct tsn_node *n = t->data;
	uint64_t now = node_now(n);
	struct node_req *req;

	while ((req = n->hedge_head) != NULL && req->chunk->hedge_at <= now) {
		node_fetch_hedge_unlink(n, req);
		req->chunk->hedged = true;
		node_fetch_step(n, req);
	}
	if (req != NULL && !n->stopping)
		uv_timer_start(&n->hedge, hedge_cb, req->chunk->hedge_at - now, 0);
}

/* The first holder is asked now; a second one too if the first is slow. */
static void
hedge_arm(struct tsn_node *n, struct node_req *req)
{
	struct node_chunk *ch = req->chunk;

	if (NODE_FETCH_HEDGE_MS == 0) {
		ch->hedged = true;
		return;
	}
	ch->hedge_at = node_now(n) + NODE_FETCH_HEDGE_MS;
	ch->in_hedge = true;
	ch->hnext = NULL;
	ch->hprev = n->hedge_tail;
	if (n->hedge_tail != NULL)
		n->hedge_tail->chunk->hnext = req;
	else
		n->hedge_head = req;
	n->hedge_tail = req;
	if (n->hedge_head == req)
		uv_timer_start(&n->hedge, hedge_cb, NODE_FETCH_HEDGE_MS, 0);
}

void
node_fetch_step(struct tsn_node *n, struct node_req *req)
{
	struct node_chunk *ch = req->chunk;
	unsigned limit = ch->hedged ? NODE_FETCH_PARALLEL : 1;

	if (req->done)
		return;
	/* a block being hashed counts as a holder asked: it is most likely good */
	while (ch->inflight + ch->works < limit &&
	       node_chunk_ask_next(n, req, TSN_FRAME_CHUNK_GET, fetch_call_done))
		;
	/* The lookup only when the nodes known are all asked, or are slow: most
	 * fetches end without one, which spares the dht (and its peers' rate
	 * limits) a lookup per block. */
	if (!ch->lookup_started && (ch->hedged || ch->inflight + ch->works == 0)) {
		ch->lookup_started = true;
		if (node_dht_start(n, req) != 0)
			ch->lookup_done = true;
	}
	if (ch->inflight == 0 && ch->works == 0 && ch->lookup_done)
		node_req_complete(n, req, -ENOENT, NULL, 0);
}

static void
fetch_call_done(void *owner, struct node_call *call, int status, struct node_blk *blk)
{
	struct node_req *req = owner;
	struct node_chunk *ch = req->chunk;
	struct cand *c = node_chunk_cand_of(ch, call);
	struct tsn_node *n = call->conn->n;
	char where[TSN_ADDR_STRLEN];

	ch->inflight--;
	if (c != NULL) {
		c->call = NULL;
		c->state = status == 0 ? C_GOT : C_FAILED;
		if (status != 0 && status != -ENOENT)
			tsn_log(TSN_LOG_DEBUG, "node: fetch from %s: %s",
			        tsn_addr_format(&c->c.addr, where), strerror(-status));
	}
	if (status == 0 && blk != NULL) {
		if (node_chunk_work(n, W_FETCH_VERIFY, req->key, blk, req, NULL, 0) != 0)
			tsn_log(TSN_LOG_WARN, "node: cannot queue a hash check");
		node_blk_unref(n, blk);
	}
	node_fetch_step(n, req);
}

/* Not in the local store: ask the network. */
static void
fetch_network(struct tsn_node *n, struct node_req *req)
{
	struct node_chunk *ch = req->chunk;
	struct tsn_contact near[TSN_WIRE_NODES_MAX];
	size_t k;

	/* The routing table often knows the holders already: ask them first,
	 * so a fetch need not wait for a lookup (fetch_step starts one when
	 * they are not enough). */
	k = tsn_table_closest(tsn_dht_table(n->dht), req->key, NULL, true, near, n->replicas);
	node_chunk_cand_merge(n, ch, req->key, near, k);
	hedge_arm(n, req);
	node_fetch_step(n, req);
}

void
node_fetch_start(struct tsn_node *n, struct node_req *req)
{
	struct node_blk *blk;
	int rc;

	if (node_chunk_new(n, req) == NULL)
		return;
	if ((blk = node_blk_new(n)) == NULL) {
		node_req_complete(n, req, -ENOMEM, NULL, 0);
		return;
	}
	rc = node_chunk_work(n, W_FETCH_LOCAL, req->key, blk, req, NULL, 0);
	node_blk_unref(n, blk);
	if (rc != 0)
		node_req_complete(n, req, rc, NULL, 0);
}

void
node_fetch_local_done(struct tsn_node *n, struct node_req *req, long rc, struct node_blk *blk)
{
	char hex[2 * TSN_ID_LEN + 1];

	if (rc > 0) {
		deliver(n, req, blk);
		return;
	}
	if (rc != -ENOENT) {
		tsn_hex(req->key, TSN_ID_LEN, hex);
		tsn_log(TSN_LOG_WARN, "node: chunk %s: local store: %s; asking the network", hex,
		        strerror((int)-rc));
	}
	fetch_network(n, req);
}

void
node_fetch_verified(struct tsn_node *n, struct node_req *req, long rc, struct node_blk *blk)
{
	char hex[2 * TSN_ID_LEN + 1];

	if (rc == 0) {
		n->st.chunks_fetched++;
		deliver(n, req, blk);
		/* Cached after the caller has it: a file write must not add to
		 * every fetch's latency. Past the cap it is not cached at all. */
		if (n->caching < NODE_CACHE_PENDING_MAX &&
		    node_chunk_work(n, W_FETCH_CACHE, req->key, blk, NULL, NULL, 0) == 0)
			n->caching++;
		else
			n->cache_skipped++;
		return;
	}
	tsn_hex(req->key, TSN_ID_LEN, hex);
	tsn_log(TSN_LOG_WARN, "node: chunk %s: a peer sent a block that does not hash to it", hex);
	node_fetch_step(n, req);
}
