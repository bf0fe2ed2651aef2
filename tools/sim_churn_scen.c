/*
 * sim_churn_scen.c: the `churn` scenario. Build the network; random nodes
 * put cfg.records immutable records (each stored at the k closest); then,
 * for cfg.duration_s of virtual time, nodes leave and rejoin (sim_churn.c)
 * while cfg.lookups lookups and as many record gets start at even
 * intervals from random live nodes, and every record's owner, when up,
 * puts it again every cfg.republish_s. A lookup succeeds when its first
 * node is the true closest node live at its end; a get when it returns the
 * record. An operation whose origin leaves before it ends is cancelled by
 * the core and counted apart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

#define RETRY_MS 100
#define SAMPLE_MS 10000

struct ch_run {
	struct sim_report *rep;
	struct tsn_record *recs;
	uint32_t *owner;
	struct sim_op *puts;         /* one per record: its latest (re)publication */
	unsigned nrec;
	struct sim_op *ops;          /* even: lookups, odd: gets */
	uint32_t *origin;
	unsigned count, finished, cancelled;
	bool done;
	uint64_t t_end;
	uint32_t live_min, live_max;
	uint64_t live_sum, samples;
};

static void
op_done(struct sim *s, struct sim_op *op)
{
	struct ch_run *C = op->ud;
	unsigned j = op->tag - 1;

	if (op->status == -ECANCELED) {
		C->cancelled++; /* its origin left before the end: no verdict */
		sim_report_row(C->rep, j % 2 ? "get" : "lookup", j / 2, op->origin, op->start_ms,
		               op->end_ms - op->start_ms, op->rounds, 0, op->msgs, false, op->status);
	} else if (j % 2 == 0) {
		(void)sim_lookup_record(s, C->rep, op, j / 2);
	} else {
		bool ok = op->status == 0 && op->nrecs > 0;
		uint64_t lat = op->end_ms - op->start_ms;
		sim_report_count(C->rep, "get", ok);
		sim_report_add(C->rep, "get", "get.latency_ms", (double)lat);
		sim_report_add(C->rep, "get", "get.msgs", op->msgs);
		if (op->value_round > 0)
			sim_report_add(C->rep, "get", "get.hops", op->value_round);
		sim_report_row(C->rep, "get", j / 2, op->origin, op->start_ms, lat, op->rounds,
		               op->value_round, op->msgs, ok, op->status);
	}
	sim_op_clear(op);
	if (++C->finished == C->count)
		C->done = true;
}

static void
op_start(struct sim *s, void *p, uint32_t j)
{
	struct ch_run *C = p;
	struct sim_op *op = &C->ops[j];
	uint8_t target[TSN_ID_LEN];
	int rc;

	if (op->tag == 0) {
		op->tag = j + 1;
		if (j % 2 == 0)
			sim_rng_bytes(&s->rng_work, op->target, TSN_ID_LEN);
		else
			memcpy(op->target, C->recs[sim_rng_below(&s->rng_work, C->nrec)].key, TSN_ID_LEN);
	}
	if (C->origin[j] == UINT32_MAX || !sim_node_is_up(s, C->origin[j]))
		C->origin[j] = sim_random_up(s, &s->rng_work);
	memcpy(target, op->target, TSN_ID_LEN);
	rc = C->origin[j] == UINT32_MAX ? -ENETDOWN
	     : sim_op_start(s, op, j % 2 ? SIM_OP_GET : SIM_OP_LOOKUP, C->origin[j], target, NULL,
	                    op_done, C);
	if (rc == -EAGAIN) {
		sim_task(s, s->now + RETRY_MS, op_start, C, j);
	} else if (rc != 0) {
		op->status = rc;
		op->origin = C->origin[j] == UINT32_MAX ? 0 : C->origin[j];
		op->start_ms = op->end_ms = s->now;
		op->nres = op->nrecs = 0;
		op_done(s, op);
	}
}

static void
put_done(struct sim *s, struct sim_op *op)
{
	struct ch_run *C = op->ud;
	bool ok = op->status > 0;

	sim_report_count(C->rep, "put", ok);
	sim_report_add(C->rep, "put", "put.stored", ok ? op->status : 0);
	sim_op_clear(op);
}

/* Owner of record i puts it (again), unless it is down or its last put runs. */
static void
republish(struct sim *s, void *p, uint32_t i)
{
	struct ch_run *C = p;
	struct sim_op *op = &C->puts[i];

	if (s->now >= C->t_end)
		return;
	if (!op->running && sim_node_is_up(s, C->owner[i])) {
		C->recs[i].expiry_ms = s->now + 12u * 3600 * 1000;
		(void)sim_op_start(s, op, SIM_OP_PUT, C->owner[i], NULL, &C->recs[i], put_done, C);
	}
	sim_task(s, s->now + (uint64_t)(s->cfg.republish_s * 1000.0), republish, C, i);
}

static void
sample(struct sim *s, void *p, uint32_t arg)
{
	struct ch_run *C = p;

	(void)arg;
	if (s->view.live < C->live_min)
		C->live_min = s->view.live;
	if (s->view.live > C->live_max)
		C->live_max = s->view.live;
	C->live_sum += s->view.live;
	C->samples++;
	if (s->now + SAMPLE_MS < C->t_end)
		sim_task(s, s->now + SAMPLE_MS, sample, C, 0);
}

static int
run(struct sim *s, struct ch_run *C, FILE *out)
{
	const struct sim_cfg *c = &s->cfg;
	uint64_t t0, span = (uint64_t)(c->duration_s * 1000.0);
	bool all = false;

	/* records, put once by their owners before the churn */
	t0 = s->now;
	for (unsigned i = 0; i < C->nrec; i++) {
		char value[64];
		int len = snprintf(value, sizeof(value), "tsn-sim record %u of seed %llu", i,
		                   (unsigned long long)c->seed);
		if (tsn_record_immutable(&C->recs[i], value, (size_t)len, t0 + 12u * 3600 * 1000) != 0)
			return -EINVAL;
		C->owner[i] = sim_random_up(s, &s->rng_work);
		sim_task(s, t0 + i * 10u, republish, C, i);
	}
	C->t_end = t0 + span + 1;
	sim_run_until(s, t0 + C->nrec * 10u + 30000); /* the first puts are over */
	s->t_measure = s->now;
	C->t_end = s->now + span;
	C->live_min = UINT32_MAX;
	sim_churn_start(s, C->t_end);
	sim_task(s, s->now, sample, C, 0);
	for (unsigned j = 0; j < C->count; j++)
		sim_task(s, s->now + (uint64_t)((double)j * (double)span / C->count), op_start, C, j);
	fprintf(out, "churn: %.0f s, sessions Weibull shape %.2f median %.0f s, downtimes median %.0f s; "
	        "%u lookups and %u gets; %u records republished every %.0f s\n", c->duration_s,
	        c->shape, c->session_s, c->downtime_s, C->count / 2, C->count / 2, C->nrec,
	        c->republish_s);
	if (!sim_run_until_set(s, &C->done, C->t_end + 10u * s->dopts.op_timeout_ms)) {
		fprintf(stderr, "tsn-sim: churn operations did not finish in virtual time\n");
		exit(1); /* the cores broke their deadlines: a bug, not a figure */
	}
	/* let the last puts end too, so every op struct is idle before it is freed */
	while (!all && s->now < C->t_end + 20u * s->dopts.op_timeout_ms) {
		all = true;
		for (unsigned i = 0; i < C->nrec && all; i++)
			all = !C->puts[i].running;
		if (!all)
			sim_run_until(s, s->now + 1000);
	}
	return 0;
}

int
sim_scen_churn(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out)
{
	struct ch_run C = {.rep = rep};
	struct sim *s = NULL;
	int rc = -ENOMEM;

	sim_report_mark(rep);
	sim_print_header(cfg, out, "churn");
	C.nrec = cfg->records ? cfg->records : 1;
	C.count = 2 * cfg->lookups;
	C.recs = calloc(C.nrec, sizeof(C.recs[0]));
	C.owner = calloc(C.nrec, sizeof(C.owner[0]));
	C.puts = calloc(C.nrec, sizeof(C.puts[0]));
	C.ops = calloc(C.count ? C.count : 1, sizeof(C.ops[0]));
	C.origin = malloc((C.count ? C.count : 1) * sizeof(C.origin[0]));
	if (C.recs == NULL || C.owner == NULL || C.puts == NULL || C.ops == NULL || C.origin == NULL)
		goto done;
	memset(C.origin, 0xff, (C.count ? C.count : 1) * sizeof(C.origin[0]));
	C.done = C.count == 0;
	if ((rc = sim_new(&s, cfg, out)) != 0 || (rc = sim_build(s)) != 0)
		goto done;
	sim_report_built(rep);
	if ((rc = run(s, &C, out)) != 0)
		goto done;
	sim_report_table(rep, out);
	fprintf(out, "churn: %llu leaves, %llu rejoins; live nodes min %u, mean %.0f, max %u of %u; "
	        "%u operations cancelled by their origin leaving (not counted above)\n",
	        (unsigned long long)s->churn_leaves, (unsigned long long)s->churn_joins,
	        C.live_min == UINT32_MAX ? 0 : C.live_min,
	        C.samples ? (double)C.live_sum / (double)C.samples : 0.0, C.live_max, s->n,
	        C.cancelled);
	sim_report_fig(rep, "churn.leaves", (double)s->churn_leaves);
	sim_report_fig(rep, "churn.rejoins", (double)s->churn_joins);
	sim_print_net(s, out);
	sim_report_wall(rep, out, "churn", s->n);
done:
	if (rc != 0)
		fprintf(stderr, "tsn-sim: churn: %s\n", strerror(-rc));
	sim_free(s); /* before the op structs: cancelled operations still touch them */
	for (unsigned i = 0; C.puts != NULL && i < C.nrec; i++)
		sim_op_clear(&C.puts[i]);
	free(C.recs);
	free(C.owner);
	free(C.puts);
	free(C.ops);
	free(C.origin);
	return rc;
}
