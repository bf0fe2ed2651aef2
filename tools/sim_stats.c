/*
 * sim_stats.c: what a run reports. Series of measured values (rounds,
 * latency, ...) summarised as median, p90, p99 and max (nearest rank: the
 * p-th percentile is the value at rank ceil(p/100 * n) of the sorted
 * series), operations counted per group for the success column, named
 * figures that --expect checks, raw CSV rows, the header and network
 * lines every scenario prints, and the one host-dependent line ("wall:").
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_i.h"

int
sim_report_init(struct sim_report *r, const char *csv_path)
{
	memset(r, 0, sizeof(*r));
	if (csv_path != NULL) {
		r->csv = fopen(csv_path, "w");
		if (r->csv == NULL)
			return -errno;
		fprintf(r->csv, "run,kind,id,node,start_ms,latency_ms,rounds,hops,msgs,ok,value\n");
	}
	return 0;
}

static void
clear_series(struct sim_report *r)
{
	for (size_t i = 0; i < r->nseries; i++)
		free(r->series[i].v);
	r->nseries = 0;
	r->ngroups = 0;
}

void
sim_report_fini(struct sim_report *r)
{
	clear_series(r);
	if (r->csv != NULL)
		fclose(r->csv);
	r->csv = NULL;
}

void
sim_report_begin(struct sim_report *r, const char *prefix)
{
	clear_series(r);
	snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
}

static struct sim_group *
group_of(struct sim_report *r, const char *name)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (strcmp(r->groups[i].name, name) == 0)
			return &r->groups[i];
	if (r->ngroups == SIM_SERIES_MAX)
		return NULL;
	memset(&r->groups[r->ngroups], 0, sizeof(r->groups[0]));
	snprintf(r->groups[r->ngroups].name, sizeof(r->groups[0].name), "%s", name);
	return &r->groups[r->ngroups++];
}

void
sim_report_add(struct sim_report *r, const char *group, const char *name, double v)
{
	struct sim_series *s = NULL;

	for (size_t i = 0; i < r->nseries && s == NULL; i++)
		if (strcmp(r->series[i].name, name) == 0)
			s = &r->series[i];
	if (s == NULL) {
		if (r->nseries == SIM_SERIES_MAX)
			return;
		s = &r->series[r->nseries++];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->group, sizeof(s->group), "%s", group);
		(void)group_of(r, group);
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double *v2 = realloc(s->v, cap * sizeof(v2[0]));
		if (v2 == NULL)
			return;
		s->v = v2;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

void
sim_report_count(struct sim_report *r, const char *group, bool ok)
{
	struct sim_group *g = group_of(r, group);

	if (g == NULL)
		return;
	g->total++;
	if (ok)
		g->ok++;
}

double
sim_report_success(const struct sim_report *r, const char *group)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (strcmp(r->groups[i].name, group) == 0)
			return r->groups[i].total ? 100.0 * (double)r->groups[i].ok /
			                                (double)r->groups[i].total
			                          : 100.0;
	return 100.0;
}

void
sim_report_fig(struct sim_report *r, const char *name, double v)
{
	char full[sizeof(r->figs[0].name)];

	if ((size_t)snprintf(full, sizeof(full), "%s%s", r->prefix, name) >= sizeof(full))
		return; /* names are ours and short: not reached */
	for (size_t i = 0; i < r->nfigs; i++) {
		if (strcmp(r->figs[i].name, full) == 0) {
			r->figs[i].value = v;
			return;
		}
	}
	if (r->nfigs == SIM_FIG_MAX)
		return;
	memcpy(r->figs[r->nfigs].name, full, sizeof(full));
	r->figs[r->nfigs++].value = v;
}

bool
sim_report_get(const struct sim_report *r, const char *full, double *v)
{
	for (size_t i = 0; i < r->nfigs; i++) {
		if (strcmp(r->figs[i].name, full) == 0) {
			*v = r->figs[i].value;
			return true;
		}
	}
	return false;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void
sim_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
}

double
sim_percentile(const double *sorted, size_t n, double pct)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)ceil(pct / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

void
sim_report_table(struct sim_report *r, FILE *out)
{
	char fig[64];

	fprintf(out, "%-22s %7s %9s %9s %9s %9s %8s\n", "measure", "n", "median", "p90", "p99",
	        "max", "success");
	for (size_t i = 0; i < r->nseries; i++) {
		struct sim_series *s = &r->series[i];
		double med, p90, p99, max, ok = sim_report_success(r, s->group);
		sim_sort(s->v, s->n);
		med = sim_percentile(s->v, s->n, 50);
		p90 = sim_percentile(s->v, s->n, 90);
		p99 = sim_percentile(s->v, s->n, 99);
		max = s->n ? s->v[s->n - 1] : 0;
		fprintf(out, "%-22s %7zu %9.0f %9.0f %9.0f %9.0f %7.2f%%\n", s->name, s->n, med, p90,
		        p99, max, ok);
		snprintf(fig, sizeof(fig), "%s.median", s->name);
		sim_report_fig(r, fig, med);
		snprintf(fig, sizeof(fig), "%s.p90", s->name);
		sim_report_fig(r, fig, p90);
		snprintf(fig, sizeof(fig), "%s.p99", s->name);
		sim_report_fig(r, fig, p99);
		snprintf(fig, sizeof(fig), "%s.max", s->name);
		sim_report_fig(r, fig, max);
	}
	for (size_t i = 0; i < r->ngroups; i++) {
		snprintf(fig, sizeof(fig), "%s.success", r->groups[i].name);
		sim_report_fig(r, fig, sim_report_success(r, r->groups[i].name));
		snprintf(fig, sizeof(fig), "%s.count", r->groups[i].name);
		sim_report_fig(r, fig, (double)r->groups[i].total);
	}
}

void
sim_report_row(struct sim_report *r, const char *kind, uint64_t id, uint32_t node,
               uint64_t start_ms, uint64_t latency_ms, unsigned rounds, unsigned hops,
               unsigned msgs, bool ok, long long value)
{
	size_t pl = strlen(r->prefix);

	if (r->csv == NULL)
		return;
	fprintf(r->csv, "%.*s,%s,%llu,%u,%llu,%llu,%u,%u,%u,%d,%lld\n",
	        (int)(pl > 0 && r->prefix[pl - 1] == '.' ? pl - 1 : pl), r->prefix, kind,
	        (unsigned long long)id, node, (unsigned long long)(start_ms - SIM_T0),
	        (unsigned long long)latency_ms, rounds, hops, msgs, ok ? 1 : 0, value);
}

unsigned
sim_report_check(const struct sim_report *r, const struct sim_cfg *cfg, FILE *out)
{
	unsigned failed = 0;

	for (unsigned i = 0; i < cfg->nexpect; i++) {
		const struct sim_expect *e = &cfg->expect[i];
		double v;
		bool have = sim_report_get(r, e->name, &v);
		bool ok = have && (e->at_least ? v >= e->value : v <= e->value);
		if (!have)
			fprintf(stderr, "tsn-sim: expect %s: no such figure\n", e->name);
		else if (!ok)
			fprintf(stderr, "tsn-sim: expect %s %s %g: got %g\n", e->name,
			        e->at_least ? ">=" : "<=", e->value, v);
		if (!ok)
			failed++;
	}
	if (cfg->nexpect > 0)
		fprintf(out, "expectations: %u of %u met\n", cfg->nexpect - failed, cfg->nexpect);
	return failed;
}

double
sim_host_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long
sim_host_rss_kib(bool peak)
{
	const char *key = peak ? "VmHWM:" : "VmRSS:";
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, strlen(key)) == 0) {
			kib = strtol(line + strlen(key), NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

void
sim_report_mark(struct sim_report *r)
{
	malloc_trim(0); /* what an earlier world freed must not hide this one's memory */
	r->wall0 = sim_host_seconds();
	r->rss0_kib = sim_host_rss_kib(false);
	r->built_s = -1;
	r->rss_built_kib = -1;
}

void
sim_report_built(struct sim_report *r)
{
	r->built_s = sim_host_seconds() - r->wall0;
	r->rss_built_kib = sim_host_rss_kib(false);
}

void
sim_report_wall(struct sim_report *r, FILE *out, const char *what, uint32_t nodes)
{
	double secs = sim_host_seconds() - r->wall0;
	long now = sim_host_rss_kib(false), peak = sim_host_rss_kib(true);

	fprintf(out, "wall: %s%s %.2f s", r->prefix, what, secs);
	if (r->built_s >= 0)
		fprintf(out, " (build %.2f s)", r->built_s);
	if (r->rss_built_kib >= 0 && r->rss0_kib >= 0 && nodes > 0)
		fprintf(out, "; memory per node %.1f KiB (RSS +%.1f MiB for %u nodes after build)",
		        (double)(r->rss_built_kib - r->rss0_kib) / nodes,
		        (double)(r->rss_built_kib - r->rss0_kib) / 1024.0, nodes);
	if (now >= 0)
		fprintf(out, "; RSS %.1f MiB, peak %.1f MiB", (double)now / 1024.0, (double)peak / 1024.0);
	fprintf(out, "\n");
}

void
sim_print_net(struct sim *s, FILE *out)
{
	const struct sim_netstats *n = &s->net;

	fprintf(out,
	        "network: %llu datagrams (%.1f MB), %llu delivered, %llu lost, %llu to nodes down, "
	        "%llu cut by the partition, %llu over the queue bound; virtual time %.1f s\n",
	        (unsigned long long)n->sent, (double)n->bytes / 1e6, (unsigned long long)n->delivered,
	        (unsigned long long)n->lost, (unsigned long long)n->to_down,
	        (unsigned long long)n->cut, (unsigned long long)n->queue_full,
	        (double)(s->now - SIM_T0) / 1000.0);
	fprintf(out, "datagrams by type:");
	for (unsigned t = 0; t < TSN_MSG_TYPE_END; t++)
		if (n->by_type[t] != 0)
			fprintf(out, " %s %llu", tsn_wire_type_name((uint8_t)t),
			        (unsigned long long)n->by_type[t]);
	fprintf(out, "\n");
}

void
sim_print_header(const struct sim_cfg *c, FILE *out, const char *scen)
{
	fprintf(out, "tsn-sim %s: %u nodes, seed %llu, k %u, alpha %u; latency log-normal median %.0f ms "
	        "sigma %.2f, loss %.2f%%", scen, c->nodes, (unsigned long long)c->seed, c->k, c->alpha,
	        c->lat_median_ms, c->lat_sigma, c->loss * 100.0);
	if (c->bandwidth_kbps)
		fprintf(out, ", uplink %u kbit/s", c->bandwidth_kbps);
	if (c->part_frac > 0)
		fprintf(out, ", partition %.0f%% of nodes for %.0f s from %.0f s", c->part_frac * 100.0,
		        c->part_dur_s, c->part_start_s);
	fprintf(out, "\n");
}
