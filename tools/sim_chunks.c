/*
 * sim_chunks.c: abstract chunks. A chunk is an id, a size and the set of
 * nodes holding a copy; no bytes are encoded or moved. What is real is
 * how holders are found: by measured lookups through the cores. Placement
 * and repair follow the runtime's rules (net/node_chunk.c, node_repair.c;
 * docs/protocol.md, "Replication and repair"):
 *
 *   place   the owner looks the id up; of the nodes found and the owner
 *           itself, by XOR distance to the id, the first r that are up
 *           hold it (a node that does not answer passes its copy to the
 *           next closest), the owner too when it is one of them.
 *   repair  one pass: every live holder checks its chunk as node_repair.c
 *           does: a lookup of the id; of the nodes found and itself, the
 *           first r that are up must hold it (HAS, or a PUT where it is
 *           missing; one that is down passes to the next closest); when the
 *           checker is not one of those r and r others hold it, it drops
 *           its copy. The checks run concurrently and each acts when its
 *           lookup ends.
 *   check   a random live node looks the id up; the chunk is retrievable
 *           when the result names a live holder.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

#define WINDOW 200
#define MAX_MS (24u * 3600 * 1000)

struct ch_ctx {
	struct sim_report *rep;
	struct sim_chunk *c;
	const char *group;
	unsigned r;
	unsigned *a, *b, *d;   /* counters of the job at hand */
	const uint32_t (*jobs)[2]; /* repair: (chunk, checker) */
	uint64_t put, dropped; /* repair: copies placed, copies dropped */
};

unsigned
sim_chunk_live(const struct sim *s, const struct sim_chunk *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->nh; i++)
		if (sim_node_is_up(s, c->holders[i]))
			n++;
	return n;
}

static bool
holds(const struct sim_chunk *c, uint32_t node)
{
	for (unsigned i = 0; i < c->nh; i++)
		if (c->holders[i] == node)
			return true;
	return false;
}

static void
add_holder(struct sim_chunk *c, uint32_t node)
{
	if (!holds(c, node) && c->nh < SIM_HOLDERS_MAX)
		c->holders[c->nh++] = node;
}

static void
drop_holder(struct sim_chunk *c, uint32_t node)
{
	for (unsigned i = 0; i < c->nh; i++) {
		if (c->holders[i] == node) {
			c->holders[i] = c->holders[--c->nh];
			return;
		}
	}
}

/*
 * The candidates of a push from node self (node_chunk.c): the lookup's
 * result and self, by distance to id, without duplicates. Returns how many
 * (at most TSN_WIRE_NODES_MAX + 1).
 */
static size_t
candidates(const struct sim *s, const struct sim_op *op, uint32_t self,
           uint32_t out[TSN_WIRE_NODES_MAX + 1])
{
	size_t n = 0;
	bool placed = false;

	for (size_t j = 0; j < op->nres && j < TSN_WIRE_NODES_MAX; j++) {
		if (op->res[j] == self)
			continue;
		if (!placed &&
		    tsn_id_dist_cmp(op->target, s->nodes[self].id, s->nodes[op->res[j]].id) < 0) {
			out[n++] = self;
			placed = true;
		}
		out[n++] = op->res[j];
	}
	if (!placed)
		out[n++] = self;
	return n;
}

/* Do the r true closest live nodes all hold c? */
static bool
at_closest(const struct sim *s, const struct sim_chunk *c, unsigned r)
{
	uint32_t truth[SIM_REPLICAS_MAX];
	size_t n = sim_view_closest(s, c->id, UINT32_MAX, truth, r);

	for (size_t i = 0; i < n; i++)
		if (!holds(c, truth[i]))
			return false;
	return n > 0;
}

static void
record_op(struct ch_ctx *x, const char *what, const struct sim_op *op, uint64_t id, bool ok)
{
	char name[40];
	uint64_t lat = op->end_ms - op->start_ms;

	sim_report_count(x->rep, x->group, ok);
	snprintf(name, sizeof(name), "%s.latency_ms", x->group);
	sim_report_add(x->rep, x->group, name, (double)lat);
	snprintf(name, sizeof(name), "%s.rounds", x->group);
	sim_report_add(x->rep, x->group, name, op->rounds);
	sim_report_row(x->rep, what, id, op->origin, op->start_ms, lat, op->rounds, 0, op->msgs, ok,
	               op->status);
}

/* ---- place ---- */

static bool
place_setup(struct sim *s, struct sim_batch *b, size_t i, uint32_t *origin,
            uint8_t target[TSN_ID_LEN], const struct tsn_record **rec)
{
	struct ch_ctx *x = b->ud;

	(void)rec;
	if (!sim_node_is_up(s, x->c[i].owner))
		x->c[i].owner = sim_random_up(s, &s->rng_work);
	*origin = x->c[i].owner;
	memcpy(target, x->c[i].id, TSN_ID_LEN);
	return *origin != UINT32_MAX;
}

static void
place_result(struct sim *s, struct sim_batch *b, size_t i, struct sim_op *op)
{
	struct ch_ctx *x = b->ud;
	struct sim_chunk *c = &x->c[i];

	uint32_t cand[TSN_WIRE_NODES_MAX + 1];
	size_t nc = candidates(s, op, op->origin, cand);

	c->nh = 0;
	for (size_t j = 0; j < nc && c->nh < x->r; j++)
		if (sim_node_is_up(s, cand[j]))
			add_holder(c, cand[j]);
	record_op(x, "place", op, i, op->status == 0 && c->nh == x->r);
	if (c->nh > 0 && at_closest(s, c, x->r))
		(*x->a)++;
}

int
sim_chunks_place(struct sim *s, struct sim_report *rep, struct sim_chunk *c, size_t n,
                 unsigned r, unsigned *exact)
{
	struct ch_ctx x = {.rep = rep, .c = c, .group = "place", .r = r, .a = exact};
	struct sim_batch b = {.kind = SIM_OP_LOOKUP, .n = n, .window = WINDOW, .setup = place_setup,
	                      .result = place_result, .ud = &x};

	*exact = 0;
	return sim_batch_run(s, &b, MAX_MS);
}

/* ---- repair ---- */

static bool
repair_setup(struct sim *s, struct sim_batch *b, size_t i, uint32_t *origin,
             uint8_t target[TSN_ID_LEN], const struct tsn_record **rec)
{
	struct ch_ctx *x = b->ud;
	const struct sim_chunk *c = &x->c[x->jobs[i][0]];

	(void)rec;
	*origin = x->jobs[i][1];
	memcpy(target, c->id, TSN_ID_LEN);
	return sim_node_is_up(s, *origin) && holds(c, *origin);
}

static void
repair_result(struct sim *s, struct sim_batch *b, size_t i, struct sim_op *op)
{
	struct ch_ctx *x = b->ud;
	struct sim_chunk *c = &x->c[x->jobs[i][0]];
	uint32_t cand[TSN_WIRE_NODES_MAX + 1], self = x->jobs[i][1];
	size_t nc;
	unsigned holders = 0;
	bool self_holds = false;

	if (op->status != 0) {
		record_op(x, "repair", op, x->jobs[i][0], false);
		return; /* the lookup failed: this check does nothing */
	}
	nc = candidates(s, op, self, cand);
	for (size_t j = 0; j < nc && holders < x->r; j++) {
		if (!sim_node_is_up(s, cand[j]))
			continue; /* HAS unanswered: the next closest takes its place */
		if (!holds(c, cand[j])) {
			add_holder(c, cand[j]);
			x->put++;
		}
		holders++;
		self_holds |= cand[j] == self;
	}
	/* not one of the closest, and r others hold it: the held copy goes */
	if (!self_holds && holders >= x->r) {
		drop_holder(c, self);
		x->dropped++;
	}
	record_op(x, "repair", op, x->jobs[i][0], holders >= x->r);
}

int
sim_chunks_repair(struct sim *s, struct sim_report *rep, struct sim_chunk *c, size_t n,
                  unsigned r, unsigned *repaired, unsigned *exact)
{
	struct ch_ctx x = {.rep = rep, .c = c, .group = "repair", .r = r};
	struct sim_batch b = {.kind = SIM_OP_LOOKUP, .window = WINDOW, .setup = repair_setup,
	                      .result = repair_result, .ud = &x};
	uint32_t (*jobs)[2];
	size_t nj = 0;
	int rc;

	*repaired = *exact = 0;
	/* the checks of this pass: every live holder of every chunk, at its start */
	for (size_t i = 0; i < n; i++)
		nj += sim_chunk_live(s, &c[i]);
	if ((jobs = calloc(nj ? nj : 1, sizeof(jobs[0]))) == NULL)
		return -ENOMEM;
	nj = 0;
	for (size_t i = 0; i < n; i++) {
		for (unsigned h = 0; h < c[i].nh; h++) {
			if (sim_node_is_up(s, c[i].holders[h])) {
				jobs[nj][0] = (uint32_t)i;
				jobs[nj][1] = c[i].holders[h];
				nj++;
			}
		}
		if (sim_chunk_live(s, &c[i]) > 0)
			(*repaired)++;
	}
	x.jobs = (const uint32_t (*)[2])jobs;
	b.n = nj;
	rc = sim_batch_run(s, &b, MAX_MS);
	free(jobs);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (sim_chunk_live(s, &c[i]) > 0 && at_closest(s, &c[i], r))
			(*exact)++;
	sim_report_fig(rep, "store.repair_checks", (double)nj);
	sim_report_fig(rep, "store.repair_put", (double)x.put);
	sim_report_fig(rep, "store.repair_dropped", (double)x.dropped);
	return 0;
}

/* ---- check ---- */

static bool
check_setup(struct sim *s, struct sim_batch *b, size_t i, uint32_t *origin,
            uint8_t target[TSN_ID_LEN], const struct tsn_record **rec)
{
	struct ch_ctx *x = b->ud;

	(void)rec;
	*origin = sim_random_up(s, &s->rng_work);
	memcpy(target, x->c[i].id, TSN_ID_LEN);
	return *origin != UINT32_MAX;
}

static void
check_result(struct sim *s, struct sim_batch *b, size_t i, struct sim_op *op)
{
	struct ch_ctx *x = b->ud;
	const struct sim_chunk *c = &x->c[i];
	bool found = holds(c, op->origin) && sim_node_is_up(s, op->origin);

	for (size_t j = 0; j < op->nres && !found; j++)
		found = holds(c, op->res[j]) && sim_node_is_up(s, op->res[j]);
	record_op(x, x->group, op, i, found);
	if (found)
		(*x->a)++;
	if (sim_chunk_live(s, c) > 0) {
		(*x->b)++;
		if (found)
			(*x->d)++;
	}
}

int
sim_chunks_check(struct sim *s, struct sim_report *rep, const char *group, struct sim_chunk *c,
                 size_t n, unsigned *ok, unsigned *with_copy, unsigned *with_copy_ok)
{
	struct ch_ctx x = {.rep = rep, .c = c, .group = group, .a = ok, .b = with_copy,
	                   .d = with_copy_ok};
	struct sim_batch b = {.kind = SIM_OP_LOOKUP, .n = n, .window = WINDOW, .setup = check_setup,
	                      .result = check_result, .ud = &x};

	*ok = *with_copy = *with_copy_ok = 0;
	return sim_batch_run(s, &b, MAX_MS);
}
