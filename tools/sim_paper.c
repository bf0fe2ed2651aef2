/*
 * sim_paper.c: the checks against the Kademlia paper (Maymounkov and
 * Mazieres, 2002) with k = 20 and alpha = 3 (or --k, --alpha):
 *   1. no churn, N in --sizes: lookups find the true closest node every
 *      time, and the median number of rounds is at most 3 (N <= 10,000) or
 *      4 (above);
 *   2. 20% of --dead-nodes nodes dead and still in routing tables: at least
 *      99.5% of lookups find the closest live node;
 *   3. --store-nodes nodes, r = --replicas (5), 20% failing at once: chunks
 *      lost before repair next to C(fN, r) / C(N, r), and none of those
 *      with a surviving copy lost after repair.
 * Each part is the lookups or store scenario on a fresh network; figures
 * get the prefixes nN., deadN. and storeN.; a verdict table ends the run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

#define SIZES_MAX 16

struct verdict {
	char what[96];
	char got[96];
	bool ok;
};

static int
parse_sizes(const char *list, unsigned *out, unsigned *n)
{
	const char *p = list;

	*n = 0;
	while (*p != '\0') {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || v < 2 || v > SIM_NODES_MAX || *n == SIZES_MAX ||
		    (*end != ',' && *end != '\0'))
			return -EINVAL;
		out[(*n)++] = (unsigned)v;
		p = *end == ',' ? end + 1 : end;
	}
	return *n > 0 ? 0 : -EINVAL;
}

static double
fig(const struct sim_report *rep, const char *name)
{
	double v = -1;
	char full[80];

	snprintf(full, sizeof(full), "%s%s", rep->prefix, name);
	(void)sim_report_get(rep, full, &v);
	return v;
}

int
sim_scen_paper(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out)
{
	struct verdict v[SIZES_MAX + 3];
	unsigned sizes[SIZES_MAX], nsizes, nv = 0, bad = 0;
	struct sim_cfg c;
	char prefix[32];
	int rc;

	if (parse_sizes(cfg->sizes, sizes, &nsizes) != 0) {
		fprintf(stderr, "tsn-sim: bad --sizes '%s' (e.g. 1000,10000,100000)\n", cfg->sizes);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nsizes; i++) {
		unsigned target = sizes[i] <= 10000 ? 3 : 4;
		double ok, rounds;
		c = *cfg;
		c.nodes = sizes[i];
		c.dead = 0;
		snprintf(prefix, sizeof(prefix), "n%u.", sizes[i]);
		sim_report_begin(rep, prefix);
		fprintf(out, "\n== paper 1: N = %u, no churn\n", sizes[i]);
		if ((rc = sim_scen_lookups(&c, rep, out)) != 0)
			return rc;
		ok = fig(rep, "lookup.success");
		rounds = fig(rep, "lookup.rounds.median");
		snprintf(v[nv].what, sizeof(v[nv].what), "N = %u: true closest found 100%%, median "
		         "rounds <= %u", sizes[i], target);
		snprintf(v[nv].got, sizeof(v[nv].got), "%.2f%%, median rounds %.0f (hops %.0f)", ok,
		         rounds, fig(rep, "lookup.hops.median"));
		v[nv].ok = ok >= 100.0 && rounds <= target;
		nv++;
	}
	c = *cfg;
	c.nodes = cfg->dead_nodes;
	c.dead = 0.2;
	snprintf(prefix, sizeof(prefix), "dead%u.", c.nodes);
	sim_report_begin(rep, prefix);
	fprintf(out, "\n== paper 2: N = %u, 20%% dead and still in routing tables\n", c.nodes);
	if ((rc = sim_scen_lookups(&c, rep, out)) != 0)
		return rc;
	snprintf(v[nv].what, sizeof(v[nv].what), "N = %u, 20%% dead: closest live found >= 99.5%%",
	         c.nodes);
	snprintf(v[nv].got, sizeof(v[nv].got), "%.2f%%", fig(rep, "lookup.success"));
	v[nv].ok = fig(rep, "lookup.success") >= 99.5;
	nv++;

	c = *cfg;
	c.nodes = cfg->store_nodes;
	c.fail = 0.2;
	if (!cfg->chunks_set)
		c.chunks = 20000; /* 0.2^5 of them is about 6 lost: fewer say little */
	snprintf(prefix, sizeof(prefix), "store%u.", c.nodes);
	sim_report_begin(rep, prefix);
	fprintf(out, "\n== paper 3: N = %u, r = %u, 20%% fail at once\n", c.nodes, c.replicas);
	if ((rc = sim_scen_store(&c, rep, out)) != 0)
		return rc;
	snprintf(v[nv].what, sizeof(v[nv].what), "N = %u, r = %u, 20%% fail: lost before repair vs "
	         "formula", c.nodes, c.replicas);
	snprintf(v[nv].got, sizeof(v[nv].got), "%.4f%% vs %.4f%% (z = %.1f)",
	         fig(rep, "store.lost_before"), fig(rep, "store.formula"), fig(rep, "store.lost_z"));
	v[nv].ok = fig(rep, "store.lost_z") <= 3 && fig(rep, "store.lost_z") >= -3;
	nv++;
	snprintf(v[nv].what, sizeof(v[nv].what), "N = %u: lost after repair, with a surviving copy: 0",
	         c.nodes);
	snprintf(v[nv].got, sizeof(v[nv].got), "%.0f", fig(rep, "store.lost_after_surviving"));
	v[nv].ok = fig(rep, "store.lost_after_surviving") == 0;
	nv++;

	fprintf(out, "\n== paper: verdicts\n");
	for (unsigned i = 0; i < nv; i++) {
		fprintf(out, "%-4s %-64s %s\n", v[i].ok ? "ok" : "MISS", v[i].what, v[i].got);
		bad += !v[i].ok;
	}
	sim_report_begin(rep, "");
	sim_report_fig(rep, "paper.missed", bad);
	return 0;
}
