/*
 * sim_build.c: building the network before anything is measured.
 *
 * Real joins (the default up to cfg.join_auto_max nodes): node 0 starts
 * alone; node i comes up at i * join_stagger_ms and bootstraps from a
 * random earlier node through the core's own join (ping, join lookup,
 * bucket refreshes); then the network runs settle_s more.
 *
 * Fast path (--fast-join, the default above join_auto_max): every node's
 * routing table is filled from the global view as converged joins leave
 * it: per k-bucket, k random nodes of that bucket's subtree, or all of
 * them when fewer; each contact reaches the core as a PING datagram from
 * it (replies are dropped); then tsn_dht_set_joined. No join lookup and no
 * post-join bucket refresh runs (at 100,000 nodes those would be some 20
 * lookups per node, ~10^8 datagrams), so building takes seconds. Tables built this way
 * hold no replacement candidates and have never seen a query fail.
 */
#include <errno.h>
#include <stdlib.h>

#include "sim_i.h"

static void
join_task(struct sim *s, void *p, uint32_t i)
{
	struct tsn_addr via;
	int rc;

	(void)p;
	if ((rc = sim_node_up(s, i)) != 0) {
		fprintf(stderr, "tsn-sim: node %u: cannot start its core: %d\n", i, rc);
		return;
	}
	sim_net_addr((uint32_t)sim_rng_below(&s->rng_join, i), &via);
	(void)tsn_dht_bootstrap(s->nodes[i].dht, s->now, &via);
	sim_kick(s, i);
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Contacts per node: median, min, max (deterministic). */
static void
table_sizes(struct sim *s, size_t *med, size_t *min, size_t *max)
{
	size_t *v = malloc((size_t)s->n * sizeof(v[0])), m = 0;

	*med = *min = *max = 0;
	if (v == NULL)
		return;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->nodes[i].dht != NULL)
			v[m++] = tsn_table_count(tsn_dht_table(s->nodes[i].dht));
	if (m > 0) {
		qsort(v, m, sizeof(v[0]), cmp_size);
		*med = v[(m - 1) / 2];
		*min = v[0];
		*max = v[m - 1];
	}
	free(v);
}

int
sim_build(struct sim *s)
{
	const struct sim_cfg *c = &s->cfg;
	uint64_t t0 = s->now, settle;
	size_t med, min, max;
	int rc;

	s->real_join = c->join == SIM_JOIN_REAL || (c->join == SIM_JOIN_AUTO && s->n <= c->join_auto_max);
	settle = (uint64_t)((c->settle_s >= 0 ? c->settle_s : s->real_join ? 60.0 : 1.0) * 1000.0);
	if (s->real_join) {
		if ((rc = sim_node_up(s, 0)) != 0)
			return rc;
		for (uint32_t i = 1; i < s->n; i++)
			sim_task(s, t0 + (uint64_t)i * c->join_stagger_ms, join_task, NULL, i);
		sim_run_until(s, t0 + (uint64_t)s->n * c->join_stagger_ms + settle);
	} else {
		for (uint32_t i = 0; i < s->n; i++)
			if ((rc = sim_node_up(s, i)) != 0)
				return rc;
		s->mute = true;
		for (uint32_t i = 0; i < s->n; i++) {
			(void)sim_view_fill(s, i, &s->rng_join);
			tsn_dht_set_joined(s->nodes[i].dht);
		}
		s->mute = false;
		for (uint32_t i = 0; i < s->n; i++)
			sim_kick(s, i);
		sim_run_until(s, t0 + settle);
	}
	s->build_ms = s->now - t0;
	table_sizes(s, &med, &min, &max);
	fprintf(s->out,
	        "build: %u nodes, %s, %.1f s virtual, %llu datagrams; contacts per node: "
	        "median %zu, min %zu, max %zu\n",
	        s->n, s->real_join ? "real joins" : "fast join (tables from the global view)",
	        (double)s->build_ms / 1000.0, (unsigned long long)s->net.sent, med, min, max);
	return 0;
}
