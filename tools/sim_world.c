/*
 * sim_world.c: the world of the simulator: nodes and their cores, the
 * callbacks the cores call, and the run loop of the virtual clock.
 *
 * Every node's core is ticked when its timer (the deadline tsn_dht_tick
 * returned) comes, and again after each datagram it receives and each
 * operation started on it, as dht.h asks. Tasks (scenario steps) run from
 * the same loop, never from inside a core's call.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

/* Pending tasks beyond datagrams and timers: scenarios keep far fewer. */
#define SIM_TASKS_MAX (1u << 22)

static void
node_random(void *ud, void *buf, size_t len)
{
	struct sim_node *nd = ud;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = sim_splitmix(&nd->rng);
		memcpy(p + i, &r, len - i < 8 ? len - i : 8);
	}
}

int
sim_new(struct sim **out_s, const struct sim_cfg *cfg, FILE *out)
{
	struct sim *s;
	int rc = -ENOMEM;

	*out_s = NULL;
	if (cfg->nodes < 2 || cfg->nodes > SIM_NODES_MAX || cfg->k == 0 ||
	    cfg->k > TSN_WIRE_NODES_MAX || cfg->alpha == 0 || cfg->alpha > TSN_DHT_ALPHA_MAX ||
	    cfg->max_pkts == 0)
		return -EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->out = out;
	s->now = SIM_T0;
	s->t_measure = SIM_T0;
	s->n = cfg->nodes;
	sim_rng_seed(&s->rng_ids, cfg->seed, 1);
	sim_rng_seed(&s->rng_net, cfg->seed, 2);
	sim_rng_seed(&s->rng_join, cfg->seed, 3);
	sim_rng_seed(&s->rng_churn, cfg->seed, 4);
	sim_rng_seed(&s->rng_work, cfg->seed, 5);
	sim_rng_seed(&s->rng_fail, cfg->seed, 6);
	s->link_key = sim_hash3(cfg->seed, 8, 0);
	s->nodes = calloc(s->n, sizeof(s->nodes[0]));
	s->scratch = malloc(sizeof(*s->scratch));
	s->core_scratch = malloc(2 * sizeof(*s->core_scratch));
	if (s->nodes == NULL || s->scratch == NULL || s->core_scratch == NULL)
		goto fail;
	for (uint32_t i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];
		nd->s = s;
		nd->idx = i;
		nd->rng = sim_hash3(cfg->seed, 9, i);
		sim_rng_bytes(&s->rng_ids, nd->id, TSN_ID_LEN);
	}
	if ((rc = sim_evq_init(&s->q, s->n, (size_t)s->n + cfg->max_pkts + SIM_TASKS_MAX)) != 0)
		goto fail;
	if ((rc = sim_view_init(s)) != 0 || (rc = sim_net_partition(s)) != 0)
		goto fail;
	tsn_dht_opts_default(&s->dopts);
	s->dopts.k = cfg->k;
	s->dopts.alpha = cfg->alpha;
	s->dopts.max_inflight = cfg->max_inflight;
	/* One bucket per source is plenty for a node that talks to ~N/1000 peers
	 * at a time; the default 256 would cost 10 KiB per node. */
	s->dopts.rate.sources = 32;
	/* The cores are called one at a time and our callbacks never call
	 * into a core, so they can share their two message buffers (46 KiB). */
	s->dopts.scratch = s->core_scratch;
	s->cb.send = sim_net_send;
	s->cb.random = node_random;
	s->cb.lookup_done = sim_op_lookup_done;
	s->cb.get_done = sim_op_get_done;
	s->cb.put_done = sim_op_put_done;
	*out_s = s;
	return 0;
fail:
	sim_free(s);
	return rc;
}

void
sim_free(struct sim *s)
{
	struct sim_ev e;

	if (s == NULL)
		return;
	s->closing = true; /* operations cancelled now call no scenario back */
	if (s->nodes != NULL)
		for (uint32_t i = 0; i < s->n; i++)
			if (s->nodes[i].dht != NULL)
				sim_node_down(s, i);
	while (s->q.h != NULL && sim_evq_pop(&s->q, UINT64_MAX, &e))
		if (e.kind == SIM_EV_PKT)
			free(e.p);
	sim_evq_fini(&s->q);
	sim_view_fini(&s->view);
	free(s->scratch);
	free(s->core_scratch);
	free(s->nodes);
	free(s);
}

int
sim_node_up(struct sim *s, uint32_t i)
{
	struct sim_node *nd = &s->nodes[i];
	struct tsn_addr self;
	int rc;

	if (nd->dht != NULL)
		return 0;
	memcpy(s->dopts.id, nd->id, TSN_ID_LEN);
	if ((rc = tsn_dht_new(&nd->dht, &s->dopts, &s->cb, nd, s->now)) != 0)
		return rc;
	sim_net_addr(i, &self);
	(void)tsn_dht_add_own_addr(nd->dht, &self);
	nd->tx_free_us = 0;
	sim_view_set_live(s, i, true);
	sim_kick(s, i);
	return 0;
}

void
sim_node_down(struct sim *s, uint32_t i)
{
	struct sim_node *nd = &s->nodes[i];
	struct tsn_dht *d = nd->dht;

	if (d == NULL)
		return;
	nd->dht = NULL;
	nd->epoch++;
	sim_evq_timer_clear(&s->q, i);
	sim_view_set_live(s, i, false);
	tsn_dht_free(d); /* running operations complete with -ECANCELED */
}

static void
fatal_queue(struct sim *s, int rc)
{
	fprintf(stderr, "tsn-sim: event queue: %s (%zu events; raise --max-packets?)\n",
	        rc == -ENOSPC ? "full" : "out of memory", s->q.n);
	abort(); /* the simulator's own bound, not a peer's input: a bug or a bad option */
}

void
sim_kick(struct sim *s, uint32_t i)
{
	struct sim_node *nd = &s->nodes[i];
	int rc;

	if (nd->dht == NULL)
		return;
	if ((rc = sim_evq_timer(&s->q, i, tsn_dht_tick(nd->dht, s->now))) != 0)
		fatal_queue(s, rc);
}

void
sim_task(struct sim *s, uint64_t at, sim_task_fn fn, void *p, uint32_t arg)
{
	struct sim_ev e = {.at = at < s->now ? s->now : at, .kind = SIM_EV_TASK, .arg = arg,
	                   .p = p, .fn = fn};
	int rc;

	if ((rc = sim_evq_push(&s->q, &e)) != 0)
		fatal_queue(s, rc);
	s->tasks++;
}

static void
run_event(struct sim *s, struct sim_ev *e)
{
	if (e->at > s->now)
		s->now = e->at;
	switch (e->kind) {
	case SIM_EV_TIMER:
		sim_kick(s, e->arg);
		break;
	case SIM_EV_PKT:
		sim_net_deliver(s, e->p);
		break;
	case SIM_EV_TASK:
		s->tasks--;
		e->fn(s, e->p, e->arg);
		break;
	default:
		break;
	}
}

void
sim_run_until(struct sim *s, uint64_t until)
{
	struct sim_ev e;

	while (sim_evq_pop(&s->q, until, &e))
		run_event(s, &e);
	if (s->now < until)
		s->now = until;
}

bool
sim_run_until_set(struct sim *s, const bool *flag, uint64_t until)
{
	struct sim_ev e;

	while (!*flag && sim_evq_pop(&s->q, until, &e))
		run_event(s, &e);
	return *flag;
}

uint32_t
sim_random_up(struct sim *s, struct sim_rng *r)
{
	if (s->view.live == 0)
		return UINT32_MAX;
	return sim_view_nth_live(s, (uint32_t)sim_rng_below(r, s->view.live));
}

uint32_t
sim_kill_fraction(struct sim *s, double frac, struct sim_rng *r)
{
	uint32_t m = (uint32_t)lround(frac * s->view.live), killed = 0;

	/* one by one among the live: each pick is uniform over those left */
	while (killed < m && s->view.live > 0) {
		sim_node_down(s, sim_view_nth_live(s, (uint32_t)sim_rng_below(r, s->view.live)));
		killed++;
	}
	return killed;
}
