/*
 * sim_churn.c: nodes coming and going. Session lengths and downtimes are
 * Weibull (shape cfg.shape, medians cfg.session_s and cfg.downtime_s), as
 * measured in deployed P2P networks (Stutzbach and Rejaie, "Understanding
 * churn in peer-to-peer networks", IMC 2006: shapes of roughly 0.3 to 0.6). A leaving node vanishes without a word (its
 * core is freed); a returning node keeps its id and address, starts a fresh
 * core and joins through a random live node (as a restarted tsnd would with
 * one saved peer). Each node's next event carries its epoch, so an event
 * made stale by another cause of going down is ignored.
 */
#include <stdint.h>

#include "sim_i.h"

static void churn_leave(struct sim *s, void *p, uint32_t i);

static uint64_t
draw_ms(struct sim *s, double median_s)
{
	double ms = sim_rng_weibull(&s->rng_churn, s->cfg.shape, median_s * 1000.0);

	if (!(ms >= 1.0))
		ms = 1.0;
	if (ms > 1e12)
		ms = 1e12;
	return (uint64_t)ms;
}

static void *
epoch_tag(const struct sim *s, uint32_t i)
{
	return (void *)(uintptr_t)s->nodes[i].epoch;
}

static void
churn_return(struct sim *s, void *p, uint32_t i)
{
	struct tsn_addr via;
	uint32_t v;

	if ((uintptr_t)p != s->nodes[i].epoch || sim_node_is_up(s, i) || s->now >= s->churn_until)
		return;
	v = sim_random_up(s, &s->rng_churn);
	if (sim_node_up(s, i) != 0)
		return;
	s->churn_joins++;
	if (v != UINT32_MAX) {
		sim_net_addr(v, &via);
		(void)tsn_dht_bootstrap(s->nodes[i].dht, s->now, &via);
		sim_kick(s, i);
	}
	sim_task(s, s->now + draw_ms(s, s->cfg.session_s), churn_leave, epoch_tag(s, i), i);
}

static void
churn_leave(struct sim *s, void *p, uint32_t i)
{
	if ((uintptr_t)p != s->nodes[i].epoch || !sim_node_is_up(s, i) || s->now >= s->churn_until)
		return;
	sim_node_down(s, i);
	s->churn_leaves++;
	sim_task(s, s->now + draw_ms(s, s->cfg.downtime_s), churn_return, epoch_tag(s, i), i);
}

void
sim_churn_start(struct sim *s, uint64_t until)
{
	s->churn_until = until;
	for (uint32_t i = 0; i < s->n; i++)
		if (sim_node_is_up(s, i))
			sim_task(s, s->now + draw_ms(s, s->cfg.session_s), churn_leave, epoch_tag(s, i), i);
}
