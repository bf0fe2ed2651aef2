/*
 * dht.c: the node core: datagrams in and out, the query table, timers.
 * Iterative operations live in lookup.c; see dht.h for the contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dht_i.h"
#include "util.h"

#define MAX_SLEEP_MS 60000

void
tsn_dht_opts_default(struct tsn_dht_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->k = 20;
	o->alpha = 3;
	o->query_timeout_ms = 2000;
	o->op_timeout_ms = 30000;
	o->max_inflight = 256;
	o->max_ops = 32;
	o->max_get_records = 64;
	o->max_pages = 8;
	o->max_kw_pages = 192;
	o->expire_every_ms = 60000;
	tsn_table_opts_default(&o->table);
	tsn_recstore_opts_default(&o->records);
	tsn_ratelimit_opts_default(&o->rate);
}

int
tsn_dht_new(struct tsn_dht **out, const struct tsn_dht_opts *o, const struct tsn_dht_cb *cb,
            void *ud, uint64_t now_ms)
{
	struct tsn_dht_opts def;
	struct tsn_dht *d;
	int rc = -ENOMEM;

	*out = NULL;
	tsn_dht_opts_default(&def);
	if (cb == NULL || cb->send == NULL || cb->random == NULL || o == NULL ||
	    o->k > TSN_WIRE_NODES_MAX || o->alpha > TSN_DHT_ALPHA_MAX)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->o = *o;
	d->cb = *cb;
	d->ud = ud;
#define DEF(f) if (d->o.f == 0) d->o.f = def.f
	DEF(k); DEF(alpha); DEF(query_timeout_ms); DEF(op_timeout_ms); DEF(max_inflight);
	DEF(max_ops); DEF(max_get_records); DEF(max_pages); DEF(max_kw_pages);
	DEF(expire_every_ms);
#undef DEF
	memcpy(d->o.table.own_id, d->o.id, TSN_ID_LEN);
	d->o.table.k = d->o.k;
	if ((rc = tsn_table_new(&d->table, &d->o.table, now_ms)) != 0)
		goto fail;
	if ((rc = tsn_recstore_new(&d->rs, &d->o.records)) != 0)
		goto fail;
	if ((rc = tsn_ratelimit_new(&d->rl, &d->o.rate)) != 0)
		goto fail;
	rc = -ENOMEM;
	d->q = calloc(d->o.max_inflight, sizeof(d->q[0]));
	d->ops = calloc(d->o.max_ops, sizeof(d->ops[0]));
	if (d->o.scratch == NULL)
		d->own_msgs = malloc(2 * sizeof(struct tsn_msg));
	if (d->q == NULL || d->ops == NULL || (d->o.scratch == NULL && d->own_msgs == NULL))
		goto fail;
	d->in = d->o.scratch != NULL ? &d->o.scratch[0] : &d->own_msgs[0];
	d->out = d->o.scratch != NULL ? &d->o.scratch[1] : &d->own_msgs[1];
	d->next_expire = now_ms + d->o.expire_every_ms;
	*out = d;
	return 0;
fail:
	free(d->own_msgs);
	free(d->ops);
	free(d->q);
	tsn_ratelimit_free(d->rl);
	tsn_recstore_free(d->rs);
	tsn_table_free(d->table);
	free(d);
	return rc;
}

void
tsn_dht_free(struct tsn_dht *d)
{
	if (d == NULL)
		return;
	lookup_cancel_all(d, -ECANCELED);
	for (unsigned i = 0; i < d->o.max_inflight; i++) {
		struct dht_query *q = &d->q[i];
		if (q->purpose == Q_PING_OP && d->cb.ping_done != NULL)
			d->cb.ping_done(d->ud, q->op_ud, -ECANCELED, NULL);
		q->purpose = Q_FREE;
	}
	free(d->own_msgs);
	free(d->ops);
	free(d->q);
	tsn_ratelimit_free(d->rl);
	tsn_recstore_free(d->rs);
	tsn_table_free(d->table);
	free(d);
}

static struct dht_op *
op_of(struct tsn_dht *d, const struct dht_query *q)
{
	struct dht_op *op;

	if (q->op >= d->o.max_ops || (op = d->ops[q->op]) == NULL || op->gen != q->op_gen)
		return NULL;
	return op;
}

static bool
txid_in_use(const struct tsn_dht *d, uint64_t txid)
{
	for (unsigned i = 0; i < d->o.max_inflight; i++)
		if (d->q[i].purpose != Q_FREE && d->q[i].txid == txid)
			return true;
	return false;
}

int
dht_send_request(struct tsn_dht *d, uint64_t now, const struct tsn_addr *to, const uint8_t *id,
                 struct tsn_msg *m, uint8_t purpose, unsigned op, void *op_ud)
{
	struct dht_query *q = NULL;
	uint64_t txid = 0;
	int len, rc, tries = 0;

	/* Anonymity forwarding (FORWARD envelopes) will wrap requests here. */
	if (d->nq >= d->o.max_inflight) {
		d->st.busy++;
		return -EAGAIN;
	}
	for (unsigned i = 0; i < d->o.max_inflight && q == NULL; i++)
		if (d->q[i].purpose == Q_FREE)
			q = &d->q[i];
	do {
		d->cb.random(d->ud, &txid, sizeof(txid));
	} while (txid_in_use(d, txid) && ++tries < 4);
	if (tries == 4)
		return -EAGAIN; /* a broken random source */
	m->h.txid = txid;
	memcpy(m->h.sender, d->o.id, TSN_ID_LEN);
	len = tsn_wire_encode(m, d->buf, sizeof(d->buf));
	if (len < 0)
		return len;
	rc = d->cb.send(d->ud, to, d->buf, (size_t)len);
	if (rc < 0) {
		d->st.send_errors++;
		return rc;
	}
	d->st.tx++;
	d->st.tx_bytes += (uint64_t)len;
	memset(q, 0, sizeof(*q));
	q->purpose = purpose;
	q->type = m->h.type;
	q->txid = txid;
	q->deadline = now + d->o.query_timeout_ms;
	q->to = *to;
	q->id_known = id != NULL;
	if (id != NULL)
		memcpy(q->id, id, TSN_ID_LEN);
	q->op = op;
	if (op < d->o.max_ops && d->ops[op] != NULL)
		q->op_gen = d->ops[op]->gen;
	q->op_ud = op_ud;
	d->nq++;
	return 0;
}

static void
send_reply(struct tsn_dht *d, const struct tsn_addr *to, const uint8_t *buf, int len)
{
	if (len < 0) {
		tsn_log(TSN_LOG_ERROR, "dht: cannot encode a reply: %s", strerror(-len));
		return;
	}
	if (d->cb.send(d->ud, to, buf, (size_t)len) < 0) {
		d->st.send_errors++;
		return;
	}
	d->st.tx++;
	d->st.tx_bytes += (uint64_t)len;
}

static void
reply_hdr(struct tsn_dht *d, const struct tsn_msg *req, uint8_t type)
{
	d->out->h.type = type;
	d->out->h.txid = req->h.txid;
	memcpy(d->out->h.sender, d->o.id, TSN_ID_LEN);
}

/* Tell the routing table about a node we heard from; ping its LRS if asked. */
static void
note_contact(struct tsn_dht *d, uint64_t now, const uint8_t id[TSN_ID_LEN],
             const struct tsn_addr *from, bool replied)
{
	struct tsn_contact c, lrs;
	struct tsn_msg *m = d->out;

	memcpy(c.id, id, TSN_ID_LEN);
	c.addr = *from;
	if (tsn_table_seen(d->table, now, &c, replied, &lrs) != TSN_TABLE_PING)
		return;
	m->h.type = TSN_MSG_PING;
	/* If the table is full the ping is skipped; the table asks again later. */
	(void)dht_send_request(d, now, &lrs.addr, lrs.id, m, Q_PING_LRS, UINT32_MAX, NULL);
}

static void
reply_nodes(struct tsn_dht *d, const struct tsn_addr *from, const struct tsn_msg *req,
            const uint8_t target[TSN_ID_LEN])
{
	struct tsn_msg *m = d->out;

	reply_hdr(d, req, TSN_MSG_NODES);
	m->u.nodes.n = (uint8_t)tsn_table_closest(d->table, target, req->h.sender, true,
	                                          m->u.nodes.nodes, d->o.k);
	send_reply(d, from, d->buf, tsn_wire_encode(m, d->buf, sizeof(d->buf)));
}

static int
on_ping(struct tsn_dht *d, uint64_t now, const struct tsn_addr *from, const struct tsn_msg *req)
{
	reply_hdr(d, req, TSN_MSG_PONG);
	d->out->u.pong.observed = *from;
	send_reply(d, from, d->buf, tsn_wire_encode(d->out, d->buf, sizeof(d->buf)));
	return 0;
}

static int
on_find_node(struct tsn_dht *d, uint64_t now, const struct tsn_addr *from, const struct tsn_msg *req)
{
	reply_nodes(d, from, req, req->u.find_node.target);
	return 0;
}

static int
on_find_value(struct tsn_dht *d, uint64_t now, const struct tsn_addr *from, const struct tsn_msg *req)
{
	size_t total, n, packed, start = req->u.find_value.cursor;
	struct tsn_wire_hdr h;

	n = tsn_recstore_get(d->rs, now, req->u.find_value.key, start, d->blobs,
	                     TSN_WIRE_VALUES_MAX, &total);
	if (total > 0 && start >= total) {
		/* A cursor past the end wraps: a get starts each holder at another
		 * offset (lookup.c), so that together they return more than the
		 * first few pages every holder has alike. */
		start %= total;
		n = tsn_recstore_get(d->rs, now, req->u.find_value.key, start, d->blobs,
		                     TSN_WIRE_VALUES_MAX, &total);
	}
	if (total == 0) {
		reply_nodes(d, from, req, req->u.find_value.key);
		return 0;
	}
	h.type = TSN_MSG_VALUES;
	h.txid = req->h.txid;
	memcpy(h.sender, d->o.id, TSN_ID_LEN);
	send_reply(d, from, d->buf,
	           tsn_wire_encode_values(&h, d->blobs, n, start, total, d->buf,
	                                  sizeof(d->buf), &packed));
	return 0;
}

static int
on_store(struct tsn_dht *d, uint64_t now, const struct tsn_addr *from, const struct tsn_msg *req)
{
	int rc = req->u.store.rc;

	if (rc == 0)
		rc = tsn_recstore_put(d->rs, now, &req->u.store.rec);
	if (rc == 0)
		d->st.stores_accepted++;
	else
		d->st.stores_refused++;
	reply_hdr(d, req, TSN_MSG_STORE_ACK);
	d->out->u.store_ack.status = tsn_wire_errno_status(rc);
	send_reply(d, from, d->buf, tsn_wire_encode(d->out, d->buf, sizeof(d->buf)));
	return 0;
}

/* The reply types a request type accepts. */
static bool
reply_matches(uint8_t req, uint8_t rep)
{
	switch (req) {
	case TSN_MSG_PING: return rep == TSN_MSG_PONG;
	case TSN_MSG_FIND_NODE: return rep == TSN_MSG_NODES;
	case TSN_MSG_FIND_VALUE: return rep == TSN_MSG_NODES || rep == TSN_MSG_VALUES;
	case TSN_MSG_STORE: return rep == TSN_MSG_STORE_ACK;
	default: return false;
	}
}

static int
on_reply(struct tsn_dht *d, uint64_t now, const struct tsn_addr *from, const struct tsn_msg *m)
{
	struct dht_query q, *slot = NULL;
	struct dht_op *op;

	for (unsigned i = 0; i < d->o.max_inflight; i++) {
		struct dht_query *x = &d->q[i];
		if (x->purpose != Q_FREE && x->txid == m->h.txid && tsn_addr_eq(&x->to, from)) {
			slot = x;
			break;
		}
	}
	if (slot == NULL) {
		d->st.unsolicited++;
		return -ENOENT;
	}
	if (!reply_matches(slot->type, m->h.type) ||
	    (slot->id_known && memcmp(slot->id, m->h.sender, TSN_ID_LEN) != 0)) {
		d->st.mismatched++; /* left to time out */
		return -EPROTO;
	}
	q = *slot;
	slot->purpose = Q_FREE;
	d->nq--;
	d->st.replies_in++;
	note_contact(d, now, m->h.sender, from, true);
	switch (q.purpose) {
	case Q_PING_OP:
		if (d->cb.ping_done != NULL)
			d->cb.ping_done(d->ud, q.op_ud, 0, m->h.sender);
		break;
	case Q_PING_BOOT:
		if (!d->joined && lookup_count(d, OP_JOIN) == 0)
			(void)lookup_start(d, now, OP_JOIN, d->o.id, 0, NULL, NULL);
		break;
	case Q_LOOKUP:
	case Q_STORE:
		if ((op = op_of(d, &q)) != NULL)
			lookup_on_reply(d, now, op, &q, m);
		break;
	default:
		break;
	}
	return 0;
}

/* Indexed by message type: requests are rate-limited and answered. */
static const struct {
	bool request;
	int (*fn)(struct tsn_dht *d, uint64_t now, const struct tsn_addr *from,
	          const struct tsn_msg *m);
} handlers[TSN_MSG_TYPE_END] = {
	[TSN_MSG_PING] = {true, on_ping},
	[TSN_MSG_PONG] = {false, on_reply},
	[TSN_MSG_FIND_NODE] = {true, on_find_node},
	[TSN_MSG_NODES] = {false, on_reply},
	[TSN_MSG_FIND_VALUE] = {true, on_find_value},
	[TSN_MSG_VALUES] = {false, on_reply},
	[TSN_MSG_STORE] = {true, on_store},
	[TSN_MSG_STORE_ACK] = {false, on_reply},
};

int
tsn_dht_receive(struct tsn_dht *d, uint64_t now_ms, const struct tsn_addr *from,
                const uint8_t *buf, size_t len)
{
	struct tsn_msg *m = d->in;
	int rc;

	d->st.rx++;
	d->st.rx_bytes += len;
	if (tsn_addr_is_martian(from, d->o.table.allow_loopback)) {
		d->st.martian++;
		return -EADDRNOTAVAIL;
	}
	rc = tsn_wire_decode(buf, len, m);
	if (rc != 0) {
		if (rc == -EPROTONOSUPPORT)
			d->st.bad_version++;
		else if (rc == -EOPNOTSUPP)
			d->st.bad_type++;
		else
			d->st.malformed++;
		return rc;
	}
	if (m->h.type >= TSN_MSG_TYPE_END || handlers[m->h.type].fn == NULL) {
		d->st.bad_type++;
		return -EOPNOTSUPP;
	}
	if (memcmp(m->h.sender, d->o.id, TSN_ID_LEN) == 0) {
		d->st.from_self++;
		return -ELOOP;
	}
	if (handlers[m->h.type].request) {
		if (!tsn_ratelimit_allow(d->rl, now_ms, from)) {
			d->st.rate_limited++;
			return -EAGAIN;
		}
		d->st.requests_in++;
		note_contact(d, now_ms, m->h.sender, from, false);
	}
	rc = handlers[m->h.type].fn(d, now_ms, from, m);
	lookup_reap(d);
	return rc;
}

static void
time_out_queries(struct tsn_dht *d, uint64_t now)
{
	for (unsigned i = 0; i < d->o.max_inflight; i++) {
		struct dht_query q = d->q[i];
		struct dht_op *op;

		if (q.purpose == Q_FREE || q.deadline > now)
			continue;
		d->q[i].purpose = Q_FREE;
		d->nq--;
		d->st.timeouts++;
		if (q.id_known)
			(void)tsn_table_failed(d->table, q.id);
		if (q.purpose == Q_PING_OP && d->cb.ping_done != NULL)
			d->cb.ping_done(d->ud, q.op_ud, -ETIMEDOUT, NULL);
		else if ((q.purpose == Q_LOOKUP || q.purpose == Q_STORE) && (op = op_of(d, &q)) != NULL)
			lookup_on_timeout(d, now, op, &q);
	}
}

/* Start refresh lookups of due buckets, at most two at a time. */
static uint64_t
refresh_buckets(struct tsn_dht *d, uint64_t now)
{
	uint64_t next;
	int b;

	while ((b = tsn_table_due_bucket(d->table, now, &next)) >= 0) {
		uint8_t rnd[TSN_ID_LEN], target[TSN_ID_LEN];
		if (lookup_count(d, OP_REFRESH) >= 2 || d->nops >= d->o.max_ops / 2)
			return now + d->o.query_timeout_ms / 2 + 1; /* busy: try again soon */
		d->cb.random(d->ud, rnd, sizeof(rnd));
		tsn_id_in_bucket(target, d->o.id, (unsigned)b, rnd);
		tsn_table_touch(d->table, (unsigned)b, now);
		(void)lookup_start(d, now, OP_REFRESH, target, 0, NULL, NULL);
	}
	return next;
}

static int
ping_boot(struct tsn_dht *d, uint64_t now, const struct tsn_addr *addr)
{
	d->out->h.type = TSN_MSG_PING;
	return dht_send_request(d, now, addr, NULL, d->out, Q_PING_BOOT, UINT32_MAX, NULL);
}

/*
 * Until a join lookup (of our own id) has been answered by k nodes, keep
 * trying, with backoff from 2 s to 60 s: ping the bootstrap addresses, and
 * when the table is not empty run the join lookup through whatever contacts
 * we have (a lost PONG must not leave a node that others already talk to
 * unjoined). In a network of k nodes or fewer this is one lookup a minute.
 */
static uint64_t
maintain_join(struct tsn_dht *d, uint64_t now)
{
	bool alone = tsn_table_count(d->table) == 0;

	if (alone) {
		d->joined = false;
		d->join_refreshed = false;
	}
	if (d->joined || (alone && d->nboot == 0)) {
		d->boot_retry = 0;
		d->boot_backoff_ms = 0;
		return UINT64_MAX;
	}
	if (lookup_count(d, OP_JOIN) > 0)
		return UINT64_MAX; /* its end decides */
	if (d->boot_retry != 0 && now < d->boot_retry)
		return d->boot_retry;
	/* The bootstrap addresses are pinged again even when the table is
	 * not empty: two newcomers that lost their bootstrap PONGs and then
	 * found each other form an island that no join lookup through them
	 * leaves. (At first, tsn_dht_bootstrap pinged them just now.) */
	if (d->boot_retry != 0 || !alone)
		for (unsigned i = 0; i < d->nboot; i++)
			(void)ping_boot(d, now, &d->boot[i]);
	if (!alone)
		(void)lookup_start(d, now, OP_JOIN, d->o.id, 0, NULL, NULL);
	d->boot_backoff_ms = d->boot_backoff_ms == 0 ? 2000
	                     : d->boot_backoff_ms >= 30000 ? 60000 : d->boot_backoff_ms * 2;
	d->boot_retry = now + d->boot_backoff_ms;
	return d->boot_retry;
}

uint64_t
tsn_dht_tick(struct tsn_dht *d, uint64_t now_ms)
{
	uint64_t next = now_ms + MAX_SLEEP_MS, t;

	time_out_queries(d, now_ms);
	if (now_ms >= d->next_expire) {
		tsn_recstore_expire(d->rs, now_ms);
		d->next_expire = now_ms + d->o.expire_every_ms;
	}
	t = refresh_buckets(d, now_ms);
	if (t < next)
		next = t;
	t = maintain_join(d, now_ms);
	if (t < next)
		next = t;
	t = lookup_tick(d, now_ms);
	if (t < next)
		next = t;
	/* a callback may start an operation that finishes at once: reap it too */
	for (int i = 0; i < 4 && d->reap_due; i++)
		lookup_reap(d);
	if (d->reap_due)
		next = now_ms + 1;
	if (d->next_expire < next)
		next = d->next_expire;
	for (unsigned i = 0; i < d->o.max_inflight; i++)
		if (d->q[i].purpose != Q_FREE && d->q[i].deadline < next)
			next = d->q[i].deadline;
	return next > now_ms ? next : now_ms + 1;
}

int
tsn_dht_bootstrap(struct tsn_dht *d, uint64_t now_ms, const struct tsn_addr *addr)
{
	unsigned i;

	if (tsn_addr_is_martian(addr, d->o.table.allow_loopback))
		return -EADDRNOTAVAIL;
	for (i = 0; i < d->nboot && !tsn_addr_eq(&d->boot[i], addr); i++)
		;
	if (i == d->nboot) {
		if (d->nboot == TSN_DHT_BOOT_MAX) {
			memmove(&d->boot[0], &d->boot[1], (TSN_DHT_BOOT_MAX - 1) * sizeof(d->boot[0]));
			d->nboot--;
		}
		d->boot[d->nboot++] = *addr;
	}
	return ping_boot(d, now_ms, addr);
}

void
tsn_dht_set_joined(struct tsn_dht *d)
{
	d->joined = true;
	d->join_refreshed = true;
	d->boot_retry = 0;
	d->boot_backoff_ms = 0;
}

int
tsn_dht_ping(struct tsn_dht *d, uint64_t now_ms, const struct tsn_addr *addr, void *op_ud)
{
	if (tsn_addr_is_martian(addr, d->o.table.allow_loopback))
		return -EADDRNOTAVAIL;
	d->out->h.type = TSN_MSG_PING;
	return dht_send_request(d, now_ms, addr, NULL, d->out, Q_PING_OP, UINT32_MAX, op_ud);
}

int
tsn_dht_lookup(struct tsn_dht *d, uint64_t now_ms, const uint8_t key[TSN_ID_LEN], void *op_ud)
{
	return lookup_start(d, now_ms, OP_NODES, key, 0, NULL, op_ud);
}

int
tsn_dht_get_records(struct tsn_dht *d, uint64_t now_ms, const uint8_t key[TSN_ID_LEN],
                    unsigned flags, void *op_ud)
{
	return lookup_start(d, now_ms, OP_VALUES, key, flags, NULL, op_ud);
}

int
tsn_dht_put_record(struct tsn_dht *d, uint64_t now_ms, const struct tsn_record *rec, void *op_ud)
{
	if (tsn_record_verify(rec) != 0)
		return -EBADMSG;
	if (rec->expiry_ms <= now_ms)
		return -ETIMEDOUT;
	return lookup_start(d, now_ms, OP_PUT, rec->key, 0, rec, op_ud);
}

void
tsn_dht_stats(const struct tsn_dht *d, struct tsn_dht_stats *st)
{
	*st = d->st;
	st->peers = tsn_table_count(d->table);
	st->records = tsn_recstore_count(d->rs);
	st->record_bytes = tsn_recstore_bytes(d->rs);
	st->inflight = d->nq;
	st->ops = d->nops;
}

const uint8_t *
tsn_dht_id(const struct tsn_dht *d)
{
	return d->o.id;
}

size_t
tsn_dht_peers(const struct tsn_dht *d, struct tsn_contact *out, size_t max)
{
	return tsn_table_contacts(d->table, out, max);
}

const struct tsn_table *
tsn_dht_table(const struct tsn_dht *d)
{
	return d->table;
}

struct tsn_recstore *
tsn_dht_records(struct tsn_dht *d)
{
	return d->rs;
}

int
tsn_dht_add_own_addr(struct tsn_dht *d, const struct tsn_addr *addr)
{
	return tsn_table_add_own_addr(d->table, addr);
}
