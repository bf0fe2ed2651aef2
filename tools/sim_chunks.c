/*
 * sim_chunks.c: abstract chunks. A chunk is an id, a size and the set of
 * nodes holding a copy; no bytes are encoded or moved. What is real is
 * how holders are found: by measured lookups through the cores.
 *
 *   place   the owner looks the id up; the first r nodes of the result
 *           (closest first; the owner itself is never in its own result)
 *           become the holders.
 *   repair  the first live holder looks the id up and pushes a copy to the
 *           first r nodes of the result; live holders keep theirs.
 *   check   a random live node looks the id up; the chunk is retrievable
 *           when the result names a live holder.
 */
#include <errno.h>
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

/* Do the r true closest live nodes (except `except`) all hold c? */
static bool
at_closest(const struct sim *s, const struct sim_chunk *c, unsigned r, uint32_t except)
{
	uint32_t truth[SIM_REPLICAS_MAX];
	size_t n = sim_view_closest(s, c->id, except, truth, r);

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

	c->nh = 0;
	for (size_t j = 0; j < op->nres && c->nh < x->r; j++)
		add_holder(c, op->res[j]);
	record_op(x, "place", op, i, op->status == 0 && c->nh == x->r);
	if (c->nh > 0 && at_closest(s, c, x->r, c->owner))
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
	struct sim_chunk *c = &x->c[i];

	(void)rec;
	for (unsigned j = 0; j < c->nh; j++) {
		if (sim_node_is_up(s, c->holders[j])) {
			*origin = c->holders[j];
			memcpy(target, c->id, TSN_ID_LEN);
			return true;
		}
	}
	return false; /* no copy left: nothing can repair it */
}

static void
repair_result(struct sim *s, struct sim_batch *b, size_t i, struct sim_op *op)
{
	struct ch_ctx *x = b->ud;
	struct sim_chunk *c = &x->c[i];
	unsigned pushed = 0;

	/* dead holders are forgotten; the live keep their copies */
	for (unsigned j = 0; j < c->nh;) {
		if (!sim_node_is_up(s, c->holders[j]))
			c->holders[j] = c->holders[--c->nh];
		else
			j++;
	}
	for (size_t j = 0; j < op->nres && pushed < x->r; j++, pushed++)
		add_holder(c, op->res[j]);
	record_op(x, "repair", op, i, op->status == 0 && pushed == x->r);
	(*x->a)++;
	if (at_closest(s, c, x->r, UINT32_MAX))
		(*x->b)++;
}

int
sim_chunks_repair(struct sim *s, struct sim_report *rep, struct sim_chunk *c, size_t n,
                  unsigned r, unsigned *repaired, unsigned *exact)
{
	struct ch_ctx x = {.rep = rep, .c = c, .group = "repair", .r = r, .a = repaired, .b = exact};
	struct sim_batch b = {.kind = SIM_OP_LOOKUP, .n = n, .window = WINDOW, .setup = repair_setup,
	                      .result = repair_result, .ud = &x};

	*repaired = *exact = 0;
	return sim_batch_run(s, &b, MAX_MS);
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
