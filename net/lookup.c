/*
 * lookup.c: iterative Kademlia operations: node lookups, record gets, puts
 * and the internal join and bucket-refresh lookups.
 *
 * An operation keeps up to TSN_DHT_CAND_MAX candidates sorted by XOR
 * distance to its target, with alpha queries in flight. It ends when the k
 * closest candidates that have not failed have all answered (or at its
 * deadline). A query that times out marks its node failed (and tells the
 * routing table), which lets the next candidate into the k closest; before
 * the end, failed nodes closer than the k-th answer get one more try.
 * A put then sends STORE to those k nodes. Completions are deferred to
 * lookup_reap, so nothing completes inside the call that started it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dht_i.h"

/* Queries a candidate gets before it counts as failed for good. */
#define LOOKUP_TRIES 2
/* A put waits at most this many query timeouts for room to send its STOREs. */
#define STORE_WAIT_TIMEOUTS 4

static void step(struct tsn_dht *d, uint64_t now, struct dht_op *op);

static unsigned
op_slot(const struct tsn_dht *d, const struct dht_op *op)
{
	for (unsigned i = 0; i < d->o.max_ops; i++)
		if (d->ops[i] == op)
			return i;
	return UINT32_MAX; /* not reached: ops are in their slot until reaped */
}

unsigned
lookup_count(const struct tsn_dht *d, uint8_t kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->o.max_ops; i++)
		if (d->ops[i] != NULL && d->ops[i]->kind == kind)
			n++;
	return n;
}

static int
cand_find(const struct dht_op *op, const uint8_t id[TSN_ID_LEN])
{
	for (size_t i = 0; i < op->ncand; i++)
		if (memcmp(op->cand[i].c.id, id, TSN_ID_LEN) == 0)
			return (int)i;
	return -1;
}

/* Insert c in distance order; when full, the farthest gives way. */
static void
cand_add(struct tsn_dht *d, struct dht_op *op, const struct tsn_contact *c)
{
	size_t at;

	if (memcmp(c->id, d->o.id, TSN_ID_LEN) == 0 ||
	    tsn_addr_is_martian(&c->addr, d->o.table.allow_loopback) || cand_find(op, c->id) >= 0)
		return;
	if (op->ncand == TSN_DHT_CAND_MAX) {
		if (tsn_id_dist_cmp(op->target, c->id, op->cand[op->ncand - 1].c.id) >= 0)
			return;
		op->ncand--; /* its query, if any, still counts in op->inflight */
	}
	at = op->ncand;
	while (at > 0 && tsn_id_dist_cmp(op->target, c->id, op->cand[at - 1].c.id) < 0) {
		op->cand[at] = op->cand[at - 1];
		at--;
	}
	memset(&op->cand[at], 0, sizeof(op->cand[at]));
	op->cand[at].c = *c;
	op->ncand++;
	op->any_cand = true;
}

/*
 * Keep rec (already checked) in the results: per slot only the highest seq.
 * Returns true when rec was new to the get (a new slot, or a higher seq).
 */
static bool
merge_record(struct tsn_dht *d, struct dht_op *op, const struct tsn_record *rec)
{
	if (rec->type == TSN_REC_KEYWORD)
		op->keyword = true;
	for (size_t i = 0; i < op->nrecs; i++) {
		if (!tsn_record_same_slot(&op->recs[i], rec))
			continue;
		if (tsn_record_is_signed(rec->type) && rec->seq > op->recs[i].seq) {
			op->recs[i] = *rec;
			return true;
		}
		if (!tsn_record_is_signed(rec->type) && rec->expiry_ms > op->recs[i].expiry_ms)
			op->recs[i].expiry_ms = rec->expiry_ms;
		return false;
	}
	if (op->nrecs == d->o.max_get_records)
		return false;
	op->recs[op->nrecs++] = *rec;
	return true;
}

/*
 * True when op holds a record byte for byte equal to rec in every signed
 * field (signature included): it was verified when merged, so a copy from
 * another holder needs no second Ed25519 check. The k holders of a record
 * all send the same bytes; verifying each copy made a get to completion
 * cost ~20 signature checks (1.8 ms on 50 local nodes).
 */
static bool
already_verified(const struct dht_op *op, const struct tsn_record *rec)
{
	for (size_t i = 0; i < op->nrecs; i++) {
		const struct tsn_record *h = &op->recs[i];
		if (h->type == rec->type && h->seq == rec->seq && h->expiry_ms == rec->expiry_ms &&
		    h->salt_len == rec->salt_len && h->value_len == rec->value_len &&
		    memcmp(h->key, rec->key, TSN_ID_LEN) == 0 &&
		    memcmp(h->salt, rec->salt, rec->salt_len) == 0 &&
		    memcmp(h->value, rec->value, rec->value_len) == 0 &&
		    (!tsn_record_is_signed(rec->type) ||
		     (memcmp(h->pubkey, rec->pubkey, TSN_REC_PK_LEN) == 0 &&
		      memcmp(h->sig, rec->sig, TSN_REC_SIG_LEN) == 0)))
			return true;
	}
	return false;
}

static void
local_records(struct tsn_dht *d, uint64_t now, struct dht_op *op)
{
	struct tsn_record rec;
	size_t start = 0, total, n;

	do {
		n = tsn_recstore_get(d->rs, now, op->target, start, d->blobs, TSN_WIRE_VALUES_MAX, &total);
		for (size_t i = 0; i < n; i++) {
			size_t used;
			/* verified when stored */
			if (tsn_record_decode(d->blobs[i].p, d->blobs[i].len, &rec, &used) == 0)
				merge_record(d, op, &rec);
		}
		start += n;
	} while (n > 0 && start < total);
}

int
lookup_start(struct tsn_dht *d, uint64_t now, uint8_t kind, const uint8_t target[TSN_ID_LEN],
             unsigned flags, const struct tsn_record *rec, void *op_ud)
{
	struct tsn_contact near[TSN_WIRE_NODES_MAX];
	struct dht_op *op;
	unsigned slot;
	size_t n;

	for (slot = 0; slot < d->o.max_ops && d->ops[slot] != NULL; slot++)
		;
	if (slot == d->o.max_ops)
		return -EAGAIN;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return -ENOMEM;
	if (kind == OP_VALUES && (op->recs = calloc(d->o.max_get_records, sizeof(op->recs[0]))) == NULL)
		goto nomem;
	if (kind == OP_PUT) {
		if ((op->rec = malloc(sizeof(*op->rec))) == NULL)
			goto nomem;
		*op->rec = *rec;
	}
	op->gen = ++d->gen;
	op->kind = kind;
	op->flags = flags;
	memcpy(op->target, target, TSN_ID_LEN);
	op->op_ud = op_ud;
	op->deadline = now + d->o.op_timeout_ms;
	d->ops[slot] = op;
	d->nops++;

	n = tsn_table_closest(d->table, target, NULL, false, near, d->o.k);
	for (size_t i = 0; i < n; i++)
		cand_add(d, op, &near[i]);
	if (kind == OP_VALUES)
		local_records(d, now, op);
	step(d, now, op); /* may finish it; the callback waits for lookup_reap */
	return 0;
nomem:
	free(op->recs);
	free(op);
	return -ENOMEM;
}

static void
finish(struct tsn_dht *d, struct dht_op *op, int status)
{
	op->done = true;
	op->status = status;
	d->reap_due = true;
}

static unsigned
count_answered(const struct dht_op *op, unsigned k)
{
	unsigned n = 0;

	for (size_t i = 0; i < op->ncand && n < k; i++)
		if (op->cand[i].state == C_ANSWERED)
			n++;
	return n;
}

/*
 * Send STORE to each of the k closest that answered and has none yet. A
 * STORE the query table has no room for (-EAGAIN) is left for lookup_tick
 * to retry (op->starved): a node putting many records at once (a file's
 * keywords) filled its table and dropped the rest, so a third of tsn-sim's
 * keyword records reached fewer than k nodes.
 */
static void
send_stores(struct tsn_dht *d, uint64_t now, struct dht_op *op)
{
	unsigned sent = 0, slot = op_slot(d, op);
	int rc;

	op->starved = false;
	for (size_t i = 0; i < op->ncand && sent < d->o.k; i++) {
		struct dht_cand *c = &op->cand[i];
		if (c->state != C_ANSWERED)
			continue;
		sent++;
		if (c->store_sent)
			continue;
		d->out->h.type = TSN_MSG_STORE;
		d->out->u.store.rc = 0;
		d->out->u.store.rec = *op->rec;
		rc = dht_send_request(d, now, &c->c.addr, c->c.id, d->out, Q_STORE, slot, NULL);
		if (rc == -EAGAIN) {
			op->starved = true;
			continue;
		}
		c->store_sent = true; /* or failed to send: not tried again */
		if (rc == 0) {
			op->stores_out++;
			op->deadline = now + d->o.query_timeout_ms + 1;
		}
	}
}

static void
start_storing(struct tsn_dht *d, uint64_t now, struct dht_op *op)
{
	unsigned sent = 0;
	const uint8_t *kth = NULL;
	int rc;

	op->storing = true;
	op->deadline = now + d->o.query_timeout_ms + 1;
	op->store_until = now + STORE_WAIT_TIMEOUTS * d->o.query_timeout_ms;
	for (size_t i = 0; i < op->ncand && sent < d->o.k; i++) {
		if (op->cand[i].state != C_ANSWERED)
			continue;
		sent++;
		kth = op->cand[i].c.id;
	}
	send_stores(d, now, op);
	/* This node stores too when it is one of the k closest. */
	if (sent < d->o.k || tsn_id_dist_cmp(op->target, d->o.id, kth) < 0) {
		/* through the STORE_ACK codes, so local and remote refusals read alike */
		rc = tsn_wire_status_errno(tsn_wire_errno_status(tsn_recstore_put(d->rs, now, op->rec)));
		if (rc == 0)
			op->stored++;
		else if (op->store_err == 0)
			op->store_err = rc;
	}
}

/* The search phase is over (converged, or the deadline passed). */
static void
search_over(struct tsn_dht *d, uint64_t now, struct dht_op *op, bool timed_out)
{
	unsigned answered = count_answered(op, d->o.k);
	int fail = timed_out ? -ETIMEDOUT : -EHOSTUNREACH;

	switch (op->kind) {
	case OP_PUT:
		start_storing(d, now, op);
		step(d, now, op);
		return;
	case OP_VALUES:
		if (op->nrecs > 0)
			finish(d, op, 0);
		else
			finish(d, op, answered > 0 || !op->any_cand ? -ENOENT : fail);
		return;
	case OP_JOIN:
		/*
		 * Now that our neighbourhood is known, fill the farther buckets.
		 * Fewer than k answers means the network looked smaller than k
		 * nodes, possibly because our neighbours were joining too: the
		 * join is tried again later (dht.c, maintain_join, backing off).
		 */
		if (answered > 0 && !d->join_refreshed) {
			d->join_refreshed = true;
			tsn_table_touch_all_due(d->table);
		}
		if (answered >= d->o.k)
			d->joined = true;
		/* fall through */
	default:
		finish(d, op, answered > 0 ? 0 : fail);
		return;
	}
}

static void
send_query(struct tsn_dht *d, uint64_t now, struct dht_op *op, size_t i, uint16_t cursor)
{
	struct dht_cand *c = &op->cand[i];
	struct tsn_msg *m = d->out;
	int rc;

	if (op->kind == OP_VALUES) {
		m->h.type = TSN_MSG_FIND_VALUE;
		memcpy(m->u.find_value.key, op->target, TSN_ID_LEN);
		m->u.find_value.cursor = cursor;
	} else {
		m->h.type = TSN_MSG_FIND_NODE;
		memcpy(m->u.find_node.target, op->target, TSN_ID_LEN);
	}
	rc = dht_send_request(d, now, &c->c.addr, c->c.id, m, Q_LOOKUP, op_slot(d, op), NULL);
	if (rc == 0) {
		c->state = C_INFLIGHT;
		if (c->tries < UINT8_MAX)
			c->tries++;
		op->inflight++;
	} else if (rc == -EAGAIN) {
		op->starved = true; /* left NEW, retried by lookup_tick */
	} else {
		c->state = C_FAILED;
		c->tries = LOOKUP_TRIES; /* the send itself failed: no second try */
	}
}

static void
step(struct tsn_dht *d, uint64_t now, struct dht_op *op)
{
	unsigned seen = 0;
	size_t limit = 0;
	bool retry = false;

	if (op->done)
		return;
	if (op->storing) {
		if (op->starved && now < op->store_until)
			send_stores(d, now, op);
		else
			op->starved = false; /* waited long enough for room: the rest are dropped */
		if (!op->starved && (op->stores_out == 0 || now >= op->deadline))
			finish(d, op, op->stored > 0 ? (int)op->stored
			                             : op->store_err != 0 ? op->store_err : -EHOSTUNREACH);
		return;
	}
	if (now >= op->deadline) {
		search_over(d, now, op, true);
		return;
	}
	if (op->kind == OP_VALUES && (op->flags & TSN_DHT_GET_FIRST) && op->nrecs > 0) {
		finish(d, op, 0);
		return;
	}
	/* Keep alpha queries out to the closest candidates not yet asked. */
	op->starved = false;
	for (size_t i = 0; i < op->ncand && seen < d->o.k && op->inflight < d->o.alpha; i++) {
		struct dht_cand *c = &op->cand[i];
		if (c->state == C_FAILED)
			continue;
		if (c->state == C_NEW) {
			/*
			 * Every holder of a key returns its records in much the
			 * same order, a few per datagram and max_pages pages each:
			 * all starting at 0, a get saw the same ~16 keyword
			 * entries from every holder (tsn-sim files). Each holder
			 * starts at another offset instead (the holder wraps a
			 * cursor past its end), and pages on past its end back
			 * to where it started.
			 */
			c->first = (uint16_t)((i % 16) * 16);
			c->wrapped = false;
			send_query(d, now, op, i, c->first);
		}
		if (c->state != C_FAILED)
			seen++;
	}
	/* Converged when the k closest that have not failed have all answered;
	 * queries still out to farther nodes cannot change that set's answer. */
	seen = 0;
	for (size_t i = 0; i < op->ncand && seen < d->o.k; i++) {
		if (op->cand[i].state == C_FAILED)
			continue;
		if (op->cand[i].state != C_ANSWERED)
			return;
		seen++;
		limit = i;
	}
	/*
	 * Before ending, a node closer than the k-th answer that timed out
	 * gets one more query: one lost datagram must not drop it from the
	 * result. The lookup did not wait for it: others were asked meanwhile.
	 */
	if (seen < d->o.k)
		limit = op->ncand;
	for (size_t i = 0; i < limit && i < op->ncand; i++) {
		struct dht_cand *c = &op->cand[i];
		if (c->state == C_FAILED && c->tries < LOOKUP_TRIES) {
			c->state = C_NEW;
			retry = true;
		}
	}
	if (retry)
		step(d, now, op);
	else
		search_over(d, now, op, false);
}

/*
 * Candidate ci answered a VALUES page whose cursor of the next page is nx
 * and which brought `fresh` records new to the get: ask for the next page,
 * or not. Every get pages a node for up to max_pages pages. A keyword get
 * (many records per key, a few per page) goes on past that while the
 * node's pages still bring new records, drawing on the get's budget of
 * max_kw_pages extra pages: each node starts at another offset (step), so
 * each reads its own stretch of the list until it reaches records another
 * node already sent, and together they read it whole.
 */
static void
next_page(struct tsn_dht *d, uint64_t now, struct dht_op *op, size_t ci, uint16_t nx,
          unsigned fresh)
{
	struct dht_cand *c = &op->cand[ci];
	bool more = nx != 0, extra;

	c->state = C_ANSWERED;
	if (!more && c->first != 0 && !c->wrapped) {
		c->wrapped = true; /* at the end: go on from 0 */
		more = true;
	} else if (c->wrapped && nx >= c->first) {
		more = false; /* back where it started */
	}
	if (!more || ((op->flags & TSN_DHT_GET_FIRST) && op->nrecs > 0))
		return;
	extra = c->pages + 1u >= d->o.max_pages;
	if (extra && (!op->keyword || fresh == 0 || op->kw_pages >= d->o.max_kw_pages ||
	              op->nrecs == d->o.max_get_records))
		return;
	c->pages++;
	op->kw_pages += extra;
	send_query(d, now, op, ci, nx);
	if (c->state != C_INFLIGHT)
		c->state = C_ANSWERED;
}

void
lookup_on_reply(struct tsn_dht *d, uint64_t now, struct dht_op *op, const struct dht_query *q,
                const struct tsn_msg *m)
{
	int ci;

	if (q->purpose == Q_STORE) {
		int rc = tsn_wire_status_errno(m->u.store_ack.status);
		if (op->stores_out > 0)
			op->stores_out--;
		if (rc == 0)
			op->stored++;
		else if (op->store_err == 0)
			op->store_err = rc;
		step(d, now, op);
		return;
	}
	if (op->inflight > 0)
		op->inflight--;
	if (op->storing || op->done)
		return; /* a late answer to the search */
	ci = cand_find(op, m->h.sender);
	if (m->h.type == TSN_MSG_NODES) {
		if (ci >= 0)
			op->cand[ci].state = C_ANSWERED;
		for (unsigned i = 0; i < m->u.nodes.n; i++)
			cand_add(d, op, &m->u.nodes.nodes[i]);
	} else if (m->h.type == TSN_MSG_VALUES && op->kind == OP_VALUES) {
		unsigned fresh = 0;
		for (unsigned i = 0; i < m->u.values.n; i++) {
			const struct tsn_record *r = &m->u.values.recs[i];
			/* authenticate before use: a peer may send anything */
			if (memcmp(r->key, op->target, TSN_ID_LEN) != 0 || r->expiry_ms <= now)
				continue;
			if (already_verified(op, r))
				continue; /* a copy of what is merged already */
			if (tsn_record_verify(r) != 0)
				continue;
			fresh += merge_record(d, op, r);
		}
		if (ci >= 0)
			next_page(d, now, op, (size_t)ci, m->u.values.next, fresh);
	}
	step(d, now, op);
}

void
lookup_on_timeout(struct tsn_dht *d, uint64_t now, struct dht_op *op, const struct dht_query *q)
{
	int ci;

	if (q->purpose == Q_STORE) {
		if (op->stores_out > 0)
			op->stores_out--;
	} else if (op->inflight > 0) {
		op->inflight--;
	}
	if (q->purpose == Q_LOOKUP && !op->storing && (ci = cand_find(op, q->id)) >= 0) {
		/* a timed-out page still leaves the pages already merged */
		op->cand[ci].state = op->cand[ci].pages > 0 ? C_ANSWERED : C_FAILED;
	}
	step(d, now, op);
}

uint64_t
lookup_tick(struct tsn_dht *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < d->o.max_ops; i++) {
		struct dht_op *op = d->ops[i];
		if (op == NULL || op->done)
			continue;
		step(d, now, op);
		if (op->done)
			continue;
		if (op->deadline < next)
			next = op->deadline;
		/* a query left unsent (query table full) wants a retry soon */
		if (op->starved && now + 100 < next)
			next = now + 100;
	}
	return next;
}

static void
complete(struct tsn_dht *d, struct dht_op *op)
{
	struct tsn_contact nodes[TSN_WIRE_NODES_MAX];
	size_t n = 0;

	switch (op->kind) {
	case OP_NODES:
		for (size_t i = 0; i < op->ncand && n < d->o.k; i++)
			if (op->cand[i].state == C_ANSWERED)
				nodes[n++] = op->cand[i].c;
		if (d->cb.lookup_done != NULL)
			d->cb.lookup_done(d->ud, op->op_ud, op->status, nodes, op->status == 0 ? n : 0);
		break;
	case OP_VALUES:
		if (d->cb.get_done != NULL)
			d->cb.get_done(d->ud, op->op_ud, op->status, op->recs,
			               op->status == 0 ? op->nrecs : 0);
		break;
	case OP_PUT:
		if (d->cb.put_done != NULL)
			d->cb.put_done(d->ud, op->op_ud, op->status);
		break;
	default:
		break; /* internal: refresh, join */
	}
}

void
lookup_reap(struct tsn_dht *d)
{
	if (!d->reap_due)
		return;
	d->reap_due = false;
	for (unsigned i = 0; i < d->o.max_ops; i++) {
		struct dht_op *op = d->ops[i];
		if (op == NULL || !op->done)
			continue;
		/* Out of its slot first: the callback may start a new operation. */
		d->ops[i] = NULL;
		d->nops--;
		complete(d, op);
		free(op->recs);
		free(op->rec);
		free(op);
	}
}

void
lookup_cancel_all(struct tsn_dht *d, int status)
{
	for (unsigned i = 0; i < d->o.max_ops; i++)
		if (d->ops[i] != NULL && !d->ops[i]->done)
			finish(d, d->ops[i], status);
	lookup_reap(d);
}
