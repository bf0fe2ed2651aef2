/*
 * sim_lookups.c: the `lookups` scenario. Build the network, optionally
 * kill a fraction of it silently (--dead: those nodes stay in everyone's
 * routing table), then start lookups of random ids from random live nodes,
 * cfg.rate per virtual second, and measure each:
 *   success      the first node returned is the true closest live node
 *                (the origin itself excluded: a lookup never returns it)
 *   rounds       the lookup's depth (see sim_op.c)
 *   hops         the round of the query that reached the true closest node
 *   latency_ms   virtual time from start to completion
 *   msgs         requests sent + replies received
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

#define RETRY_MS 100

struct lk_run {
	struct sim_report *rep;
	struct sim_op *ops;
	uint32_t *origin;
	unsigned count, finished;
	bool done;
};

bool
sim_lookup_record(struct sim *s, struct sim_report *rep, const struct sim_op *op, uint64_t id)
{
	uint32_t truth = UINT32_MAX;
	size_t nt = sim_view_closest(s, op->target, op->origin, &truth, 1);
	bool ok = op->status == 0 && nt == 1 && op->nres > 0 && op->res[0] == truth;
	unsigned hops = nt == 1 ? sim_op_round_of(op, truth) : 0;
	uint64_t lat = op->end_ms - op->start_ms;

	sim_report_count(rep, "lookup", ok);
	sim_report_add(rep, "lookup", "lookup.rounds", op->rounds);
	if (hops > 0)
		sim_report_add(rep, "lookup", "lookup.hops", hops);
	sim_report_add(rep, "lookup", "lookup.latency_ms", (double)lat);
	sim_report_add(rep, "lookup", "lookup.msgs", op->msgs);
	sim_report_row(rep, "lookup", id, op->origin, op->start_ms, lat, op->rounds, hops, op->msgs,
	               ok, op->status);
	return ok;
}

static void
lk_done(struct sim *s, struct sim_op *op)
{
	struct lk_run *L = op->ud;

	(void)sim_lookup_record(s, L->rep, op, op->tag);
	sim_op_clear(op);
	if (++L->finished == L->count)
		L->done = true;
}

static void
lk_start(struct sim *s, void *p, uint32_t i)
{
	struct lk_run *L = p;
	struct sim_op *op = &L->ops[i];
	uint8_t target[TSN_ID_LEN];
	int rc;

	if (op->tag == 0) { /* first attempt: draw origin and target */
		op->tag = i + 1u;
		L->origin[i] = sim_random_up(s, &s->rng_work);
		sim_rng_bytes(&s->rng_work, op->target, TSN_ID_LEN);
	}
	memcpy(target, op->target, TSN_ID_LEN);
	if (L->origin[i] == UINT32_MAX || !sim_node_is_up(s, L->origin[i]))
		L->origin[i] = sim_random_up(s, &s->rng_work); /* churn took it */
	rc = L->origin[i] == UINT32_MAX ? -ENETDOWN
	     : sim_op_start(s, op, SIM_OP_LOOKUP, L->origin[i], target, NULL, lk_done, L);
	if (rc == -EAGAIN) {
		sim_task(s, s->now + RETRY_MS, lk_start, L, i);
	} else if (rc != 0) {
		op->status = rc;
		op->origin = L->origin[i] == UINT32_MAX ? 0 : L->origin[i];
		op->start_ms = op->end_ms = s->now;
		op->nres = 0;
		lk_done(s, op);
	}
}

int
sim_lookups_run(struct sim *s, struct sim_report *rep, unsigned count)
{
	struct lk_run L = {.rep = rep, .count = count, .done = count == 0};
	double rate = s->cfg.rate > 0 ? s->cfg.rate : 100;
	uint64_t t0 = s->now, span = (uint64_t)((double)count * 1000.0 / rate);

	L.ops = calloc(count ? count : 1, sizeof(L.ops[0]));
	L.origin = calloc(count ? count : 1, sizeof(L.origin[0]));
	if (L.ops == NULL || L.origin == NULL) {
		free(L.ops);
		free(L.origin);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < count; i++)
		sim_task(s, t0 + (uint64_t)((double)i * 1000.0 / rate), lk_start, &L, i);
	if (!sim_run_until_set(s, &L.done, t0 + span + 10u * s->dopts.op_timeout_ms + 60000)) {
		fprintf(stderr, "tsn-sim: lookups did not finish in virtual time\n");
		exit(1); /* the cores broke their deadlines: a bug, not a figure */
	}
	free(L.ops);
	free(L.origin);
	return 0;
}

int
sim_scen_lookups(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out)
{
	struct sim *s;
	int rc;

	sim_report_mark(rep);
	sim_print_header(cfg, out, "lookups");
	if ((rc = sim_new(&s, cfg, out)) != 0 || (rc = sim_build(s)) != 0)
		goto done;
	sim_report_built(rep);
	if (cfg->dead > 0)
		fprintf(out, "dead: %u of %u nodes vanished at once, still in routing tables\n",
		        sim_kill_fraction(s, cfg->dead, &s->rng_fail), s->n);
	s->t_measure = s->now;
	fprintf(out, "lookups: %u of random ids from random live nodes, %.0f per second\n",
	        cfg->lookups, cfg->rate);
	if ((rc = sim_lookups_run(s, rep, cfg->lookups)) != 0)
		goto done;
	sim_report_table(rep, out);
	sim_print_net(s, out);
	sim_report_wall(rep, out, "lookups", s->n);
done:
	if (rc != 0)
		fprintf(stderr, "tsn-sim: lookups: %s\n", strerror(-rc));
	sim_free(s);
	return rc;
}
