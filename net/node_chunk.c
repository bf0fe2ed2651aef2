/*
 * node_chunk.c: chunk placement (push and repair check), serving peers'
 * requests, and what the push shares with the fetch (node_fetch.c): the
 * candidate holders and the pool work (node_chunk_i.h).
 *
 * Push: read the block from the local store and look its id up in the dht,
 * at the same time. Of the nodes found and this one, the `replicas` closest
 * to the id hold it: this node keeps it as held when it is one of them,
 * the others get CHUNK_PUT in parallel; a refusal or failure passes the
 * copy to the next closest node (this one too, when it comes next). With
 * NODE_PUSH_CHECK each gets CHUNK_HAS first and CHUNK_PUT only when it
 * lacks the block (repair, leave). Result: the number of holders.
 *
 * Serving: CHUNK_GET reads the store on the pool; CHUNK_PUT is hashed and
 * stored as held on the pool (it counts against the quota: -ENOSPC is
 * answered as FULL). Every store access and hash runs on the libuv thread
 * pool; the loop thread only copies and routes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_chunk_i.h"
#include "util.h"

struct chunk_work {
	uv_work_t w;
	struct tsn_node *n;
	uint8_t kind;              /* enum node_work_kind */
	uint8_t id[TSN_ID_LEN];
	struct node_blk *blk;      /* a reference */
	struct node_req *req;      /* a reference (push, fetch) */
	struct node_conn *conn;    /* a reference (serve) */
	uint64_t reqid;
	uint64_t since;            /* W_PUSH_HOLD, W_SERVE_PUT: held lifetime start (0 = now) */
	long rc;
};

static void after_work(uv_work_t *w, int status);

/* ---- pool side: only the store (thread-safe), the id and the block ---- */

static int
check_id(const struct node_blk *b, const uint8_t id[TSN_ID_LEN])
{
	uint8_t h[TSN_ID_LEN];

	tsn_block_id(b->data, b->len, h);
	return memcmp(h, id, TSN_ID_LEN) == 0 ? 0 : -EBADMSG;
}

static void
run_work(uv_work_t *w)
{
	struct chunk_work *cw = w->data;
	struct tsn_store *s = cw->n->store;
	int rc;

	switch (cw->kind) {
	case W_FETCH_LOCAL:
	case W_PUSH_READ:
	case W_SERVE_GET:
		cw->rc = tsn_store_chunk_get(s, cw->id, cw->blk->data, TSN_BLOCK_MAX);
		if (cw->rc > 0)
			cw->blk->len = (size_t)cw->rc;
		break;
	case W_FETCH_VERIFY:
		cw->rc = check_id(cw->blk, cw->id);
		break;
	case W_FETCH_CACHE:
		rc = tsn_store_chunk_put(s, cw->id, cw->blk->data, cw->blk->len, TSN_CHUNK_CACHED);
		if (rc != 0)
			tsn_log(TSN_LOG_DEBUG, "node: cannot cache a fetched chunk: %s", strerror(-rc));
		break;
	case W_PUSH_HOLD:
		cw->rc = tsn_store_chunk_hold(s, cw->id, cw->blk->data, cw->blk->len, cw->since);
		break;
	case W_SERVE_HAS:
		/* cw->reqid's flags ride in blk->len (no block): see serve_has */
		rc = tsn_store_chunk_keeps(s, cw->id, (cw->blk->len & TSN_FRAME_HAS_REFRESH) != 0);
		cw->rc = rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
		break;
	case W_SERVE_PUT:
		if ((cw->rc = check_id(cw->blk, cw->id)) == 0)
			cw->rc = tsn_store_chunk_hold(s, cw->id, cw->blk->data, cw->blk->len, cw->since);
		break;
	default:
		cw->rc = -EINVAL;
		break;
	}
}

static int
queue_work(struct tsn_node *n, uint8_t kind, const uint8_t id[TSN_ID_LEN], struct node_blk *blk,
           struct node_req *req, struct node_conn *conn, uint64_t reqid, uint64_t since)
{
	struct chunk_work *cw = calloc(1, sizeof(*cw));
	int rc;

	if (cw == NULL)
		return -ENOMEM;
	cw->since = since;
	cw->w.data = cw;
	cw->n = n;
	cw->kind = kind;
	memcpy(cw->id, id, TSN_ID_LEN);
	cw->blk = blk;
	cw->req = req;
	cw->conn = conn;
	cw->reqid = reqid;
	if ((rc = uv_queue_work(&n->loop, &cw->w, run_work, after_work)) != 0) {
		free(cw);
		return rc;
	}
	blk->refs++;
	if (req != NULL) {
		req->refs++;
		req->chunk->works++;
	}
	if (conn != NULL)
		conn->refs++;
	return 0;
}

int
node_chunk_work(struct tsn_node *n, uint8_t kind, const uint8_t id[TSN_ID_LEN],
                struct node_blk *blk, struct node_req *req, struct node_conn *conn,
                uint64_t reqid)
{
	return queue_work(n, kind, id, blk, req, conn, reqid, 0);
}

/* ---- candidates ---- */

/* Insert c in distance order (the caller checked there is room). */
static void
cand_insert(struct node_chunk *ch, const uint8_t key[TSN_ID_LEN], const struct tsn_contact *c,
            bool self)
{
	size_t at = ch->ncand;

	while (at > 0 && tsn_id_dist_cmp(key, c->id, ch->cand[at - 1].c.id) < 0) {
		ch->cand[at] = ch->cand[at - 1];
		at--;
	}
	memset(&ch->cand[at], 0, sizeof(ch->cand[at]));
	ch->cand[at].c = *c;
	ch->cand[at].self = self;
	ch->ncand++;
}

void
node_chunk_cand_merge(struct tsn_node *n, struct node_chunk *ch, const uint8_t key[TSN_ID_LEN],
                      const struct tsn_contact *nodes, size_t nn)
{
	for (size_t i = 0; i < nn; i++) {
		bool known = false;

		if (memcmp(nodes[i].id, n->id, TSN_ID_LEN) == 0 || ch->ncand >= NODE_CAND_MAX)
			continue;
		for (size_t j = 0; j < ch->ncand && !known; j++)
			known = memcmp(ch->cand[j].c.id, nodes[i].id, TSN_ID_LEN) == 0;
		if (!known)
			cand_insert(ch, key, &nodes[i], false);
	}
}

struct cand *
node_chunk_cand_of(struct node_chunk *ch, const struct node_call *call)
{
	for (size_t i = 0; i < ch->ncand; i++)
		if (ch->cand[i].call == call)
			return &ch->cand[i];
	return NULL; /* not reached: a call's owner is its candidate */
}

/* The age in seconds of a copy whose lifetime began at since (wall ms). */
static uint32_t
copy_age(struct tsn_node *n, uint64_t since)
{
	uint64_t now = node_now(n);

	if (since >= now)
		return 0;
	return (now - since) / 1000u > UINT32_MAX ? UINT32_MAX : (uint32_t)((now - since) / 1000u);
}

bool
node_chunk_ask_next(struct tsn_node *n, struct node_req *req, uint8_t type, node_call_fn done)
{
	struct node_chunk *ch = req->chunk;
	char where[TSN_ADDR_STRLEN];
	int err = 0;

	for (size_t i = 0; i < ch->ncand; i++) {
		struct cand *c = &ch->cand[i];
		if (c->state != C_NEW)
			continue;
		if (c->self) {
			if (queue_work(n, W_PUSH_HOLD, req->key, ch->blk, req, NULL, 0,
			               req->since_ms) != 0) {
				c->state = C_FAILED;
				continue;
			}
			c->state = C_ASKED;
			ch->inflight++;
			return true;
		}
		c->has = type == TSN_FRAME_CHUNK_PUT && (req->flags & NODE_PUSH_CHECK) && !c->checked;
		if (c->has)
			c->call = node_tcp_call(n, &c->c.addr,
			                        (uint8_t)(TSN_FRAME_CHUNK_HAS |
			                        ((req->flags & NODE_PUSH_REFRESH) ? NODE_CALL_REFRESH : 0)),
			                        req->key, NULL, 0, done, req, &err);
		else if (type == TSN_FRAME_CHUNK_PUT && req->since_ms != 0)
			c->call = node_tcp_call(n, &c->c.addr, TSN_FRAME_CHUNK_COPY, req->key, ch->blk,
			                        copy_age(n, req->since_ms), done, req, &err);
		else
			c->call = node_tcp_call(n, &c->c.addr, type, req->key,
			                        type == TSN_FRAME_CHUNK_PUT ? ch->blk : NULL, 0, done, req,
			                        &err);
		if (c->call == NULL) {
			c->state = C_FAILED;
			tsn_log(TSN_LOG_DEBUG, "node: cannot reach %s: %s",
			        tsn_addr_format(&c->c.addr, where), strerror(-err));
			continue;
		}
		c->state = C_ASKED;
		ch->inflight++;
		return true;
	}
	return false;
}

void
node_chunk_abort(struct tsn_node *n, struct node_req *req)
{
	struct node_chunk *ch = req->chunk;

	if (ch == NULL)
		return;
	node_fetch_hedge_unlink(n, req);
	for (size_t i = 0; i < ch->ncand; i++) {
		if (ch->cand[i].call != NULL) {
			node_tcp_call_cancel(n, ch->cand[i].call);
			ch->cand[i].call = NULL;
		}
	}
	ch->inflight = 0;
}

void
node_chunk_free(struct tsn_node *n, struct node_req *req)
{
	if (req->chunk == NULL)
		return;
	node_blk_unref(n, req->chunk->blk);
	free(req->chunk);
	req->chunk = NULL;
}

struct node_chunk *
node_chunk_new(struct tsn_node *n, struct node_req *req)
{
	if ((req->chunk = calloc(1, sizeof(*req->chunk))) == NULL)
		node_req_complete(n, req, -ENOMEM, NULL, 0);
	return req->chunk;
}

/* ---- push ---- */

static void push_call_done(void *owner, struct node_call *call, int status,
                           struct node_blk *blk);

static void
push_step(struct tsn_node *n, struct node_req *req)
{
	struct node_chunk *ch = req->chunk;
	struct tsn_contact self;

	if (req->done || ch->blk == NULL || !ch->lookup_done)
		return;
	if (!ch->placed) {
		/* This node is a candidate like the others, in distance order: it
		 * holds a copy when it is among the closest, or when closer ones
		 * refuse and it comes next (not when it leaves: NODE_PUSH_NOSELF). */
		ch->placed = true;
		if (req->flags & NODE_PUSH_NOSELF)
			goto placed;
		memcpy(self.id, n->id, TSN_ID_LEN);
		self.addr = n->addr;
		cand_insert(ch, req->key, &self, true);
		if (tsn_log_level() >= TSN_LOG_DEBUG) {
			char hex[2 * TSN_ID_LEN + 1];
			size_t rank = 0;
			while (!ch->cand[rank].self)
				rank++;
			tsn_hex(req->key, 8, hex);
			tsn_log(TSN_LOG_DEBUG, "node: push %s: %zu nodes found, this one is number %zu",
			        hex, ch->ncand - 1, rank + 1);
		}
	}
placed:
	while (ch->holders + ch->inflight < n->replicas &&
	       node_chunk_ask_next(n, req, TSN_FRAME_CHUNK_PUT, push_call_done))
		;
	if (ch->inflight == 0) {
		if (req->res != NULL) {
			req->res->holders = ch->holders;
			req->res->had = ch->had;
			req->res->put = ch->put;
			req->res->put_bytes = ch->put_bytes;
			req->res->self = false;
			for (size_t i = 0; i < ch->ncand; i++)
				if (ch->cand[i].self && ch->cand[i].state == C_GOT)
					req->res->self = true;
			req->res->closest = ch->ncand;
		}
		node_req_complete(n, req, ch->holders > 0 ? (long)ch->holders : -EHOSTUNREACH, NULL, 0);
	}
}

static void
push_call_done(void *owner, struct node_call *call, int status, struct node_blk *blk)
{
	struct node_req *req = owner;
	struct node_chunk *ch = req->chunk;
	struct cand *c = node_chunk_cand_of(ch, call);
	struct tsn_node *n = call->conn->n;
	char where[TSN_ADDR_STRLEN];

	node_blk_unref(n, blk); /* an ACK carries none */
	ch->inflight--;
	if (c != NULL && c->has && status == -ENOENT) {
		c->call = NULL;
		c->state = C_NEW; /* it lacks the block: a CHUNK_PUT next */
		c->checked = true;
		push_step(n, req);
		return;
	}
	if (c != NULL) {
		c->call = NULL;
		c->state = status == 0 ? C_GOT : C_FAILED;
		if (status != 0)
			tsn_log(TSN_LOG_DEBUG, "node: push to %s: %s",
			        tsn_addr_format(&c->c.addr, where), strerror(-status));
	}
	if (status == 0) {
		ch->holders++;
		if (c != NULL && c->has) {
			ch->had++;
		} else {
			ch->put++;
			ch->put_bytes += ch->blk->len;
			n->st.chunks_pushed++;
		}
	}
	push_step(n, req);
}

void
node_chunk_push_start(struct tsn_node *n, struct node_req *req)
{
	struct node_chunk *ch;
	struct node_blk *blk;
	int rc;

	if ((ch = node_chunk_new(n, req)) == NULL)
		return;
	if ((blk = node_blk_new(n)) == NULL) {
		node_req_complete(n, req, -ENOMEM, NULL, 0);
		return;
	}
	rc = node_chunk_work(n, W_PUSH_READ, req->key, blk, req, NULL, 0);
	node_blk_unref(n, blk);
	if (rc != 0) {
		node_req_complete(n, req, rc, NULL, 0);
		return;
	}
	/* the lookup runs while the block is read */
	if (node_dht_start(n, req) != 0)
		ch->lookup_done = true;
}

static void
push_read_done(struct tsn_node *n, struct node_req *req, long rc, struct node_blk *blk)
{
	if (rc < 0) {
		node_req_complete(n, req, rc, NULL, 0);
		return;
	}
	blk->refs++;
	req->chunk->blk = blk;
	push_step(n, req);
}

static void
push_hold_done(struct tsn_node *n, struct node_req *req, long rc)
{
	struct node_chunk *ch = req->chunk;
	char hex[2 * TSN_ID_LEN + 1];

	for (size_t i = 0; i < ch->ncand; i++)
		if (ch->cand[i].self)
			ch->cand[i].state = rc == 0 ? C_GOT : C_FAILED;
	ch->inflight--;
	if (rc == 0) {
		ch->holders++;
		ch->had++; /* a push starts from the local copy */
	} else {
		tsn_hex(req->key, TSN_ID_LEN, hex);
		tsn_log(TSN_LOG_WARN, "node: chunk %s: cannot hold it here: %s; the next node is asked",
		        hex, strerror((int)-rc));
	}
	push_step(n, req);
}

void
node_chunk_lookup_done(struct tsn_node *n, struct node_req *req, int status,
                       const struct tsn_contact *nodes, size_t nn)
{
	struct node_chunk *ch = req->chunk;

	if (req->done || ch == NULL)
		return;
	/* a failed lookup (no peers, timeout) leaves the candidates known so far */
	if (status == 0)
		node_chunk_cand_merge(n, ch, req->key, nodes, nn);
	ch->lookup_done = true;
	if (req->kind == REQ_PUSH)
		push_step(n, req);
	else
		node_fetch_step(n, req);
}

/* ---- serving peers ---- */

void
node_chunk_serve_get(struct tsn_node *n, struct node_conn *c, const struct tsn_frame *f)
{
	struct node_blk *blk = node_blk_new(n);
	int rc = -ENOMEM;

	if (blk != NULL) {
		rc = node_chunk_work(n, W_SERVE_GET, f->id, blk, NULL, c, f->reqid);
		node_blk_unref(n, blk);
	}
	if (rc != 0)
		node_tcp_reply(n, c, TSN_FRAME_CHUNK_NONE, f->reqid, f->id, TSN_FRAME_ST_BUSY, NULL);
}

void
node_chunk_serve_put(struct tsn_node *n, struct node_conn *c, const struct tsn_frame *f)
{
	struct node_blk *blk = node_blk_new(n);
	int rc = -ENOMEM;

	if (blk != NULL) {
		uint64_t since = 0, now = node_now(n);

		/* A COPY keeps the lifetime of the copy it was made from. */
		if (f->type == TSN_FRAME_CHUNK_COPY && f->age_s != 0)
			since = (uint64_t)f->age_s * 1000u < now ? now - (uint64_t)f->age_s * 1000u : 1;
		memcpy(blk->data, f->block, f->block_len);
		blk->len = f->block_len;
		rc = queue_work(n, W_SERVE_PUT, f->id, blk, NULL, c, f->reqid, since);
		node_blk_unref(n, blk);
	}
	if (rc != 0)
		node_tcp_reply(n, c, TSN_FRAME_CHUNK_ACK, f->reqid, f->id, TSN_FRAME_ST_BUSY, NULL);
}

void
node_chunk_serve_has(struct tsn_node *n, struct node_conn *c, const struct tsn_frame *f)
{
	struct node_blk *blk = node_blk_new(n);
	int rc = -ENOMEM;

	if (blk != NULL) {
		blk->len = f->status; /* the flags; no block travels */
		rc = node_chunk_work(n, W_SERVE_HAS, f->id, blk, NULL, c, f->reqid);
		node_blk_unref(n, blk);
	}
	if (rc != 0)
		node_tcp_reply(n, c, TSN_FRAME_CHUNK_ACK, f->reqid, f->id, TSN_FRAME_ST_BUSY, NULL);
}

static void
serve_done(struct tsn_node *n, struct chunk_work *cw)
{
	if (cw->kind == W_SERVE_GET) {
		if (cw->rc > 0) {
			node_tcp_reply(n, cw->conn, TSN_FRAME_CHUNK_DATA, cw->reqid, cw->id, 0, cw->blk);
		} else {
			node_tcp_reply(n, cw->conn, TSN_FRAME_CHUNK_NONE, cw->reqid, cw->id,
			               tsn_frame_errno_status(cw->rc == -ENOENT ? -ENOENT : -EIO), NULL);
		}
		return;
	}
	if (cw->kind == W_SERVE_HAS) {
		node_tcp_reply(n, cw->conn, TSN_FRAME_CHUNK_ACK, cw->reqid, cw->id,
		               tsn_frame_errno_status(cw->rc == 0 || cw->rc == -ENOENT ? (int)cw->rc :
		                                      -EIO), NULL);
		return;
	}
	if (cw->rc == -ENOSPC)
		node_repair_kick(n); /* full: hand on what this node no longer needs to hold */
	if (cw->rc == 0)
		n->st.chunks_accepted++;
	node_tcp_reply(n, cw->conn, TSN_FRAME_CHUNK_ACK, cw->reqid, cw->id,
	               tsn_frame_errno_status(cw->rc == 0 || cw->rc == -ENOSPC ||
	                                      cw->rc == -EBADMSG ? (int)cw->rc : -EIO), NULL);
}

static void
after_work(uv_work_t *w, int status)
{
	struct chunk_work *cw = w->data;
	struct tsn_node *n = cw->n;
	struct node_req *req = cw->req;

	if (status != 0)
		cw->rc = status; /* UV_ECANCELED */
	if (req != NULL) {
		req->chunk->works--;
		if (!req->done) {
			switch (cw->kind) {
			case W_FETCH_LOCAL: node_fetch_local_done(n, req, cw->rc, cw->blk); break;
			case W_FETCH_VERIFY: node_fetch_verified(n, req, cw->rc, cw->blk); break;
			case W_PUSH_READ: push_read_done(n, req, cw->rc, cw->blk); break;
			case W_PUSH_HOLD: push_hold_done(n, req, cw->rc); break;
			default: break;
			}
		}
		node_req_unref(n, req);
	} else if (cw->conn != NULL) {
		serve_done(n, cw);
		node_conn_unref(n, cw->conn);
	} else {
		n->caching--; /* W_FETCH_CACHE */
	}
	node_blk_unref(n, cw->blk);
	free(cw);
}
