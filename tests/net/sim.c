/* sim.c: the in-memory network for DHT tests (see sim.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum { EV_PKT = 1, EV_TICK = 2 };

struct ev {
	uint64_t at, seq;
	uint8_t kind;
	unsigned node;
	uint64_t version;     /* EV_TICK: stale when != node's version */
	struct tsn_addr from; /* EV_PKT */
	size_t len;
	uint8_t *buf;
};

struct node {
	struct sim *s;
	unsigned idx;
	struct tsn_dht *dht;
	uint8_t id[TSN_ID_LEN];
	uint64_t rng;
	uint64_t version;
	bool down;
};

struct sim {
	uint64_t now, seq, rng, sent;
	unsigned n, lat_min, lat_max, loss;
	struct node *nodes;
	struct ev *heap;
	size_t nheap, capheap;
	unsigned raw_count;
	size_t raw_len;
	uint8_t raw_last[TSN_WIRE_MTU];
};

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static bool
ev_less(const struct ev *a, const struct ev *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void
heap_push(struct sim *s, struct ev e)
{
	size_t i;

	if (s->nheap == s->capheap) {
		s->capheap = s->capheap ? s->capheap * 2 : 1024;
		s->heap = realloc(s->heap, s->capheap * sizeof(s->heap[0]));
		if (s->heap == NULL)
			abort();
	}
	e.seq = s->seq++;
	i = s->nheap++;
	while (i > 0 && ev_less(&e, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
}

static struct ev
heap_pop(struct sim *s)
{
	struct ev top = s->heap[0], last = s->heap[--s->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && ev_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap > 0)
		s->heap[i] = last;
	return top;
}

struct tsn_addr
sim_addr(unsigned i)
{
	struct tsn_addr a;
	const uint8_t lo[4] = {127, 0, 0, 1};

	tsn_addr_v4(&a, lo, (uint16_t)(SIM_PORT0 + i));
	return a;
}

static int
cb_send(void *ud, const struct tsn_addr *to, const uint8_t *buf, size_t len)
{
	struct node *nd = ud;
	struct sim *s = nd->s;
	struct ev e = {0};

	if (len > TSN_WIRE_MTU) {
		fprintf(stderr, "sim: node %u sent %zu bytes > MTU\n", nd->idx, len);
		abort();
	}
	s->sent++;
	if (nd->down)
		return 0;
	if (to->port == SIM_RAW_PORT) {
		s->raw_count++;
		memcpy(s->raw_last, buf, len);
		s->raw_len = len;
		return 0;
	}
	if (to->port < SIM_PORT0 || to->port >= SIM_PORT0 + s->n)
		return 0; /* nobody there: lost */
	if (s->loss > 0 && splitmix(&s->rng) % 100 < s->loss)
		return 0;
	e.kind = EV_PKT;
	e.node = to->port - SIM_PORT0;
	e.at = s->now + s->lat_min +
	       (s->lat_max > s->lat_min ? splitmix(&s->rng) % (s->lat_max - s->lat_min + 1) : 0);
	e.from = sim_addr(nd->idx);
	e.len = len;
	e.buf = malloc(len);
	if (e.buf == NULL)
		abort();
	memcpy(e.buf, buf, len);
	heap_push(s, e);
	return 0;
}

static void
cb_random(void *ud, void *buf, size_t len)
{
	struct node *nd = ud;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = splitmix(&nd->rng);
		memcpy(p + i, &r, len - i < 8 ? len - i : 8);
	}
}

static void
cb_lookup(void *ud, void *op_ud, int status, const struct tsn_contact *nodes, size_t n)
{
	struct sim_op *op = op_ud;

	op->calls++;
	op->status = status;
	op->n = n;
	memcpy(op->nodes, nodes, n * sizeof(nodes[0]));
}

static void
cb_get(void *ud, void *op_ud, int status, const struct tsn_record *recs, size_t n)
{
	struct sim_op *op = op_ud;

	op->calls++;
	op->status = status;
	op->n = n;
	free(op->recs);
	op->recs = NULL;
	if (n > 0) {
		op->recs = malloc(n * sizeof(recs[0]));
		if (op->recs == NULL)
			abort();
		memcpy(op->recs, recs, n * sizeof(recs[0]));
	}
}

static void
cb_put(void *ud, void *op_ud, int status)
{
	struct sim_op *op = op_ud;

	op->calls++;
	op->status = status;
}

static void
cb_ping(void *ud, void *op_ud, int status, const uint8_t id[TSN_ID_LEN])
{
	struct sim_op *op = op_ud;

	op->calls++;
	op->status = status;
	if (id != NULL)
		memcpy(op->id, id, TSN_ID_LEN);
}

static const struct tsn_dht_cb sim_cb = {
	.send = cb_send, .random = cb_random, .lookup_done = cb_lookup,
	.get_done = cb_get, .put_done = cb_put, .ping_done = cb_ping,
};

void
sim_kick(struct sim *s, unsigned i)
{
	struct node *nd = &s->nodes[i];
	struct ev e = {0};

	e.kind = EV_TICK;
	e.node = i;
	e.version = ++nd->version;
	e.at = tsn_dht_tick(nd->dht, s->now);
	heap_push(s, e);
}

struct sim *
sim_new(const struct sim_opts *o)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct tsn_dht_opts dopts;

	if (s == NULL)
		abort();
	s->n = o->nodes;
	s->rng = o->seed;
	s->lat_min = o->lat_min_ms;
	s->lat_max = o->lat_max_ms;
	s->loss = o->loss_pct;
	s->now = SIM_T0;
	s->nodes = calloc(s->n, sizeof(s->nodes[0]));
	if (s->nodes == NULL)
		abort();
	if (o->dht != NULL) {
		dopts = *o->dht;
	} else {
		tsn_dht_opts_default(&dopts);
		dopts.table.allow_loopback = true;
	}
	for (unsigned i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		struct tsn_addr self = sim_addr(i);
		nd->s = s;
		nd->idx = i;
		nd->rng = splitmix(&s->rng);
		cb_random(nd, nd->id, TSN_ID_LEN);
		memcpy(dopts.id, nd->id, TSN_ID_LEN);
		if (tsn_dht_new(&nd->dht, &dopts, &sim_cb, nd, s->now) != 0)
			abort();
		tsn_dht_add_own_addr(nd->dht, &self);
		sim_kick(s, i);
	}
	return s;
}

void
sim_free(struct sim *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->n; i++)
		tsn_dht_free(s->nodes[i].dht);
	for (size_t i = 0; i < s->nheap; i++)
		free(s->heap[i].buf);
	free(s->heap);
	free(s->nodes);
	free(s);
}

uint64_t sim_now(const struct sim *s) { return s->now; }
unsigned sim_count(const struct sim *s) { return s->n; }
struct tsn_dht *sim_dht(struct sim *s, unsigned i) { return s->nodes[i].dht; }
const uint8_t *sim_id(const struct sim *s, unsigned i) { return s->nodes[i].id; }
uint64_t sim_sent(const struct sim *s) { return s->sent; }
unsigned sim_raw_count(const struct sim *s) { return s->raw_count; }

size_t
sim_raw_last(const struct sim *s, uint8_t *buf, size_t cap)
{
	size_t n = s->raw_len < cap ? s->raw_len : cap;

	memcpy(buf, s->raw_last, n);
	return n;
}

void
sim_set_down(struct sim *s, unsigned i, bool down)
{
	s->nodes[i].down = down;
}

/* Run one event if one is due by `until`; false when none. */
static bool
sim_step(struct sim *s, uint64_t until)
{
	struct ev e;
	struct node *nd;

	if (s->nheap == 0 || s->heap[0].at > until)
		return false;
	e = heap_pop(s);
	if (e.at > s->now)
		s->now = e.at;
	nd = &s->nodes[e.node];
	if (e.kind == EV_PKT) {
		if (!nd->down && !s->nodes[e.from.port - SIM_PORT0].down) {
			(void)tsn_dht_receive(nd->dht, s->now, &e.from, e.buf, e.len);
			sim_kick(s, e.node);
		}
		free(e.buf);
	} else if (e.version == nd->version) {
		sim_kick(s, e.node); /* ticks and schedules the next one */
	}
	return true;
}

void
sim_run_until(struct sim *s, uint64_t until)
{
	while (sim_step(s, until))
		;
	if (s->now < until)
		s->now = until;
}

bool
sim_wait(struct sim *s, struct sim_op *op, uint64_t for_ms)
{
	uint64_t until = s->now + for_ms;

	while (op->calls == 0 && sim_step(s, until))
		;
	return op->calls == 1;
}

int
sim_inject(struct sim *s, unsigned i, const struct tsn_addr *from, const uint8_t *buf, size_t len)
{
	int rc = tsn_dht_receive(s->nodes[i].dht, s->now, from, buf, len);

	sim_kick(s, i);
	return rc;
}

void
sim_op_clear(struct sim_op *op)
{
	free(op->recs);
	memset(op, 0, sizeof(*op));
}

void
sim_random_id(struct sim *s, uint8_t id[TSN_ID_LEN])
{
	for (int i = 0; i < TSN_ID_LEN; i += 8) {
		uint64_t r = splitmix(&s->rng);
		memcpy(id + i, &r, 8);
	}
}

void
sim_join_all(struct sim *s, unsigned stagger_ms, uint64_t settle_ms)
{
	for (unsigned i = 1; i < s->n; i++) {
		unsigned via = (unsigned)(splitmix(&s->rng) % i);
		struct tsn_addr a = sim_addr(via);
		if (tsn_dht_bootstrap(s->nodes[i].dht, s->now, &a) != 0)
			abort();
		sim_kick(s, i);
		sim_run_until(s, s->now + stagger_ms);
	}
	sim_run_until(s, s->now + settle_ms);
}

static const uint8_t *sort_target;

static int
by_dist(const void *a, const void *b)
{
	return tsn_id_dist_cmp(sort_target, a, b);
}

size_t
sim_true_closest(const struct sim *s, const uint8_t target[TSN_ID_LEN], int except,
                 uint8_t (*out)[TSN_ID_LEN], size_t n)
{
	uint8_t (*all)[TSN_ID_LEN] = malloc(s->n * TSN_ID_LEN);
	size_t m = 0;

	if (all == NULL)
		abort();
	for (unsigned i = 0; i < s->n; i++)
		if ((int)i != except && !s->nodes[i].down)
			memcpy(all[m++], s->nodes[i].id, TSN_ID_LEN);
	sort_target = target;
	qsort(all, m, TSN_ID_LEN, by_dist);
	if (m > n)
		m = n;
	memcpy(out, all, m * TSN_ID_LEN);
	free(all);
	return m;
}
