/*
 * node_req.c: requests (node.h's calls) from the caller's thread to their
 * one completion on the loop thread: the bounded queue, the active list and
 * its deadline timer, the wait lists (a dht at max_ops, push and fetch
 * caps), the dht glue (callbacks, tick timer), and the blocking forms.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "node_i.h"
#include "util.h"

/* ---- lists ---- */

static void
act_append(struct tsn_node *n, struct node_req *r)
{
	r->next = NULL;
	r->prev = n->act_tail;
	if (n->act_tail != NULL)
		n->act_tail->next = r;
	else
		n->act_head = r;
	n->act_tail = r;
}

static void
act_remove(struct tsn_node *n, struct node_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		n->act_head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		n->act_tail = r->prev;
	r->next = r->prev = NULL;
}

static void
wait_append(struct tsn_node *n, struct node_req *r, uint8_t w)
{
	r->wait = w;
	r->wnext = NULL;
	r->wprev = n->wait_tail[w];
	if (n->wait_tail[w] != NULL)
		n->wait_tail[w]->wnext = r;
	else
		n->wait_head[w] = r;
	n->wait_tail[w] = r;
}

static void
wait_remove(struct tsn_node *n, struct node_req *r)
{
	uint8_t w = r->wait;

	if (w == WAIT_NONE)
		return;
	if (r->wprev != NULL)
		r->wprev->wnext = r->wnext;
	else
		n->wait_head[w] = r->wnext;
	if (r->wnext != NULL)
		r->wnext->wprev = r->wprev;
	else
		n->wait_tail[w] = r->wprev;
	r->wnext = r->wprev = NULL;
	r->wait = WAIT_NONE;
}

/* ---- completion and deadlines ---- */

static void
req_free(struct node_req *r)
{
	free(r->rec);
	free(r);
}

void
node_req_unref(struct tsn_node *n, struct node_req *req)
{
	if (--req->refs > 0)
		return;
	node_chunk_free(n, req);
	req_free(req);
}

void
node_req_complete(struct tsn_node *n, struct node_req *req, long status, const void *items,
                  size_t nitems)
{
	if (req->done)
		return;
	req->done = true;
	act_remove(n, req);
	wait_remove(n, req);
	if (req->running) {
		node_chunk_abort(n, req);
		if (req->kind == REQ_PUSH)
			n->npush--;
		else
			n->nfetch--;
		node_kick(n); /* a waiting push or fetch may start */
	}
	node_publish(n, false); /* a caller told of a result sees the counters that go with it */
	switch (req->kind) {
	case REQ_PUSH:
	case REQ_PUT_RECORD:
		req->cb.status(req->ud, (int)status);
		break;
	case REQ_FETCH:
		req->cb.fetch(req->ud, status);
		break;
	case REQ_GET_RECORDS:
		req->cb.records(req->ud, (int)status, status == 0 ? items : NULL,
		                status == 0 ? nitems : 0);
		break;
	case REQ_LOOKUP:
		req->cb.lookup(req->ud, (int)status, status == 0 ? items : NULL,
		               status == 0 ? nitems : 0);
		break;
	default:
		break;
	}
	uv_mutex_lock(&n->q_mu);
	n->outstanding--;
	uv_mutex_unlock(&n->q_mu);
	node_req_unref(n, req); /* the active list's */
}

static void deadline_cb(uv_timer_t *t);

static void
arm_deadline(struct tsn_node *n)
{
	uint64_t now;

	if (n->stopping)
		return;
	if (n->act_head == NULL) {
		uv_timer_stop(&n->deadline);
		return;
	}
	now = node_now(n);
	uv_timer_start(&n->deadline, deadline_cb,
	               n->act_head->deadline > now ? n->act_head->deadline - now : 0, 0);
}

/* Every request has the same timeout, so the active list is in deadline order. */
static void
deadline_cb(uv_timer_t *t)
{
	struct tsn_node *n = t->data;
	uint64_t now = node_now(n);

	while (n->act_head != NULL && n->act_head->deadline <= now)
		node_req_complete(n, n->act_head, -ETIMEDOUT, NULL, 0);
	arm_deadline(n);
}

/* ---- the dht ---- */

static void tick_cb(uv_timer_t *t);

void
node_kick(struct tsn_node *n)
{
	if (n->kicked || n->stopping)
		return;
	n->kicked = true;
	uv_timer_start(&n->tick, tick_cb, 0, 0);
}

/* Start req's dht operation now. Returns 0, -EAGAIN (dht busy) or -errno. */
static int
dht_try(struct tsn_node *n, struct node_req *req)
{
	uint64_t now = node_now(n);
	int rc;

	switch (req->kind) {
	case REQ_PUSH:
	case REQ_FETCH:
	case REQ_LOOKUP:
		rc = tsn_dht_lookup(n->dht, now, req->key, req);
		break;
	case REQ_GET_RECORDS:
		rc = tsn_dht_get_records(n->dht, now, req->key, req->flags, req);
		break;
	case REQ_PUT_RECORD:
		rc = tsn_dht_put_record(n->dht, now, req->rec, req);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == 0) {
		req->refs++;
		req->dht_started = true;
		node_kick(n);
	}
	return rc;
}

int
node_dht_start(struct tsn_node *n, struct node_req *req)
{
	int rc = dht_try(n, req);

	if (rc == -EAGAIN) {
		wait_append(n, req, WAIT_DHT);
		return 0;
	}
	return rc;
}

/* The dht's operation for req ended (possibly after req completed). */
static struct node_req *
dht_back(void *op_ud)
{
	struct node_req *req = op_ud;

	req->dht_started = false;
	return req;
}

static void
on_lookup_done(void *ud, void *op_ud, int status, const struct tsn_contact *nodes, size_t nn)
{
	struct tsn_node *n = ud;
	struct node_req *req = dht_back(op_ud);

	if (!req->done) {
		if (req->kind == REQ_LOOKUP)
			node_req_complete(n, req, status, nodes, nn);
		else
			node_chunk_lookup_done(n, req, status, nodes, nn);
	}
	node_req_unref(n, req);
}

static void
on_get_done(void *ud, void *op_ud, int status, const struct tsn_record *recs, size_t nr)
{
	struct tsn_node *n = ud;
	struct node_req *req = dht_back(op_ud);

	node_req_complete(n, req, status, recs, nr);
	node_req_unref(n, req);
}

static void
on_put_done(void *ud, void *op_ud, int status)
{
	struct tsn_node *n = ud;
	struct node_req *req = dht_back(op_ud);

	node_req_complete(n, req, status, NULL, 0);
	node_req_unref(n, req);
}

static void
on_random(void *ud, void *buf, size_t len)
{
	(void)ud;
	randombytes_buf(buf, len);
}

/* Start what waits for a free dht slot or a free push/fetch slot. */
static void
start_waiting(struct tsn_node *n)
{
	struct node_req *r;
	int rc;

	while ((r = n->wait_head[WAIT_DHT]) != NULL) {
		rc = dht_try(n, r);
		if (rc == -EAGAIN)
			break;
		wait_remove(n, r);
		if (rc == 0)
			continue;
		if (r->kind == REQ_PUSH || r->kind == REQ_FETCH)
			node_chunk_lookup_done(n, r, rc, NULL, 0);
		else
			node_req_complete(n, r, rc, NULL, 0);
	}
	while (n->npush < NODE_PUSH_MAX && (r = n->wait_head[WAIT_PUSH]) != NULL) {
		wait_remove(n, r);
		n->npush++;
		r->running = true;
		node_chunk_push_start(n, r);
	}
	while (n->nfetch < NODE_FETCH_MAX && (r = n->wait_head[WAIT_FETCH]) != NULL) {
		wait_remove(n, r);
		n->nfetch++;
		r->running = true;
		node_fetch_start(n, r);
	}
}

static void
tick_cb(uv_timer_t *t)
{
	struct tsn_node *n = t->data;
	uint64_t now, next;

	n->kicked = false;
	if (n->stopping)
		return;
	now = node_now(n);
	next = tsn_dht_tick(n->dht, now);
	start_waiting(n);
	node_publish(n, false);
	if (!n->kicked)
		uv_timer_start(&n->tick, tick_cb, next > now ? next - now : 1, 0);
}

/* ---- starting ---- */

static void
req_start(struct tsn_node *n, struct node_req *req)
{
	int rc;

	switch (req->kind) {
	case REQ_PUSH:
		if (n->npush >= NODE_PUSH_MAX) {
			wait_append(n, req, WAIT_PUSH);
			return;
		}
		n->npush++;
		req->running = true;
		node_chunk_push_start(n, req);
		return;
	case REQ_FETCH:
		if (n->nfetch >= NODE_FETCH_MAX) {
			wait_append(n, req, WAIT_FETCH);
			return;
		}
		n->nfetch++;
		req->running = true;
		node_fetch_start(n, req);
		return;
	default:
		if ((rc = node_dht_start(n, req)) != 0)
			node_req_complete(n, req, rc, NULL, 0);
		return;
	}
}

void
node_req_accept(struct tsn_node *n, struct node_req *q)
{
	struct node_req *next;
	bool was_empty = n->act_head == NULL;

	/* append all first (deadline order), then start them in that order */
	for (struct node_req *r = q; r != NULL; r = next) {
		next = r->next;
		act_append(n, r);
	}
	if (was_empty)
		arm_deadline(n);
	for (struct node_req *r = q; r != NULL && !n->stopping; r = next) {
		next = r->next;
		if (!r->done)
			req_start(n, r);
	}
}

void
node_req_cancel_all(struct tsn_node *n, struct node_req *q)
{
	/* queued, never started: through the active list so they complete alike */
	while (q != NULL) {
		struct node_req *next = q->next;
		act_append(n, q);
		q = next;
	}
	while (n->act_head != NULL)
		node_req_complete(n, n->act_head, -ECANCELED, NULL, 0);
}

void
node_dht_callbacks(struct tsn_dht_cb *cb)
{
	memset(cb, 0, sizeof(*cb));
	cb->send = node_udp_send;
	cb->random = on_random;
	cb->lookup_done = on_lookup_done;
	cb->get_done = on_get_done;
	cb->put_done = on_put_done;
}

/* ---- calls from other threads ---- */

static struct node_req *
req_new(uint8_t kind, void *ud)
{
	struct node_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->kind = kind;
	r->ud = ud;
	r->refs = 1;
	return r;
}

/* Queue req (taken: freed on failure). Returns 0, -EAGAIN (full), -ECANCELED (stopping). */
static int
enqueue(struct tsn_node *n, struct node_req *r)
{
	int rc = 0;

	uv_mutex_lock(&n->q_mu);
	if (n->q_closed) {
		rc = -ECANCELED;
	} else if (n->outstanding >= NODE_REQ_MAX) {
		rc = -EAGAIN;
	} else {
		r->deadline = node_now(n) + n->timeout_ms;
		r->next = NULL;
		r->prev = n->q_tail;
		if (n->q_tail != NULL)
			n->q_tail->next = r;
		else
			n->q_head = r;
		n->q_tail = r;
		n->outstanding++;
		uv_async_send(&n->async);
	}
	uv_mutex_unlock(&n->q_mu);
	if (rc != 0)
		req_free(r);
	return rc;
}

int
tsn_node_push_chunk(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], tsn_node_status_fn cb,
                    void *ud)
{
	struct node_req *r;

	if (n == NULL || id == NULL || cb == NULL)
		return -EINVAL;
	if ((r = req_new(REQ_PUSH, ud)) == NULL)
		return -ENOMEM;
	r->cb.status = cb;
	memcpy(r->key, id, TSN_ID_LEN);
	return enqueue(n, r);
}

int
node_req_push(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], unsigned flags,
              uint64_t since_ms, struct node_push_res *res, tsn_node_status_fn cb, void *ud)
{
	struct node_req *r;

	if (n == NULL || id == NULL || cb == NULL)
		return -EINVAL;
	if ((r = req_new(REQ_PUSH, ud)) == NULL)
		return -ENOMEM;
	r->cb.status = cb;
	r->flags = flags;
	r->since_ms = since_ms;
	r->res = res;
	memcpy(r->key, id, TSN_ID_LEN);
	return enqueue(n, r);
}

int
tsn_node_fetch_chunk(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap,
                     tsn_node_fetch_fn cb, void *ud)
{
	struct node_req *r;

	if (n == NULL || id == NULL || buf == NULL || cap == 0 || cb == NULL)
		return -EINVAL;
	if ((r = req_new(REQ_FETCH, ud)) == NULL)
		return -ENOMEM;
	r->cb.fetch = cb;
	memcpy(r->key, id, TSN_ID_LEN);
	r->buf = buf;
	r->cap = cap;
	return enqueue(n, r);
}

int
tsn_node_put_record(struct tsn_node *n, const struct tsn_record *rec, tsn_node_status_fn cb,
                    void *ud)
{
	struct node_req *r;

	if (n == NULL || rec == NULL || cb == NULL)
		return -EINVAL;
	if (tsn_record_verify(rec) != 0)
		return -EBADMSG;
	if ((r = req_new(REQ_PUT_RECORD, ud)) == NULL)
		return -ENOMEM;
	if ((r->rec = malloc(sizeof(*r->rec))) == NULL) {
		req_free(r);
		return -ENOMEM;
	}
	*r->rec = *rec;
	r->cb.status = cb;
	memcpy(r->key, rec->key, TSN_ID_LEN);
	return enqueue(n, r);
}

int
tsn_node_get_records(struct tsn_node *n, const uint8_t key[TSN_ID_LEN], unsigned flags,
                     tsn_node_records_fn cb, void *ud)
{
	struct node_req *r;

	if (n == NULL || key == NULL || cb == NULL || (flags & ~TSN_DHT_GET_FIRST) != 0)
		return -EINVAL;
	if ((r = req_new(REQ_GET_RECORDS, ud)) == NULL)
		return -ENOMEM;
	r->cb.records = cb;
	r->flags = flags;
	memcpy(r->key, key, TSN_ID_LEN);
	return enqueue(n, r);
}

int
tsn_node_lookup(struct tsn_node *n, const uint8_t key[TSN_ID_LEN], tsn_node_lookup_fn cb, void *ud)
{
	struct node_req *r;

	if (n == NULL || key == NULL || cb == NULL)
		return -EINVAL;
	if ((r = req_new(REQ_LOOKUP, ud)) == NULL)
		return -ENOMEM;
	r->cb.lookup = cb;
	memcpy(r->key, key, TSN_ID_LEN);
	return enqueue(n, r);
}

/* ---- blocking forms ---- */

struct waiter {
	uv_mutex_t mu;
	uv_cond_t cv;
	bool done;
	long rc;
};

static int
waiter_init(struct tsn_node *n, struct waiter *w)
{
	uv_thread_t self = uv_thread_self();

	if (n == NULL)
		return -EINVAL;
	if (n->thread_started && uv_thread_equal(&self, &n->thread))
		return -EDEADLK; /* the loop would wait for itself */
	w->done = false;
	w->rc = 0;
	if (uv_mutex_init(&w->mu) != 0)
		return -ENOMEM;
	if (uv_cond_init(&w->cv) != 0) {
		uv_mutex_destroy(&w->mu);
		return -ENOMEM;
	}
	return 0;
}

static long
waiter_wait(struct waiter *w)
{
	long rc;

	uv_mutex_lock(&w->mu);
	while (!w->done)
		uv_cond_wait(&w->cv, &w->mu);
	rc = w->rc;
	uv_mutex_unlock(&w->mu);
	uv_cond_destroy(&w->cv);
	uv_mutex_destroy(&w->mu);
	return rc;
}

static void
waiter_abandon(struct waiter *w)
{
	uv_cond_destroy(&w->cv);
	uv_mutex_destroy(&w->mu);
}

/* Signal under the lock: once unlocked, w may be gone. */
static void
waiter_done(struct waiter *w, long rc)
{
	uv_mutex_lock(&w->mu);
	w->rc = rc;
	w->done = true;
	uv_cond_signal(&w->cv);
	uv_mutex_unlock(&w->mu);
}

static void
wait_status_cb(void *ud, int status)
{
	waiter_done(ud, status);
}

static void
wait_fetch_cb(void *ud, long len)
{
	waiter_done(ud, len);
}

int
tsn_node_push_chunk_wait(struct tsn_node *n, const uint8_t id[TSN_ID_LEN])
{
	struct waiter w;
	int rc;

	if ((rc = waiter_init(n, &w)) != 0)
		return rc;
	if ((rc = tsn_node_push_chunk(n, id, wait_status_cb, &w)) != 0) {
		waiter_abandon(&w);
		return rc;
	}
	return (int)waiter_wait(&w);
}

long
tsn_node_fetch_chunk_wait(struct tsn_node *n, const uint8_t id[TSN_ID_LEN], uint8_t *buf,
                          size_t cap)
{
	struct waiter w;
	int rc;

	if ((rc = waiter_init(n, &w)) != 0)
		return rc;
	if ((rc = tsn_node_fetch_chunk(n, id, buf, cap, wait_fetch_cb, &w)) != 0) {
		waiter_abandon(&w);
		return rc;
	}
	return waiter_wait(&w);
}

long
tsn_node_fetch(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap)
{
	return tsn_node_fetch_chunk_wait(ud, id, buf, cap);
}
