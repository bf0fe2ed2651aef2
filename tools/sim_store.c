/*
 * sim_store.c: the `store` scenario (issue 7's durability figures). Build;
 * random nodes put cfg.records records (k copies each, real STOREs) and
 * place cfg.chunks abstract chunks at the r closest of the nodes their
 * lookups find and themselves (sim_chunks.c, the runtime's rule); then a
 * fraction cfg.fail of the nodes fails at once, silently, for good. Printed:
 *   - chunks lost before repair (no live copy) next to the probability
 *     that all r holders are among the fN failed, C(fN, r) / C(N, r), and
 *     f^r, with the expected count, its standard deviation for this
 *     placement, and the mean over MC_TRIALS other failure sets;
 *   - retrievability by lookups from random live nodes, before repair;
 *   - record gets after the failure;
 *   - one repair pass by the runtime's rules (every live holder checks its
 *     chunks: the r closest must hold them, a PUT where one is missing),
 *     then: chunks with a surviving copy that have fewer than r live copies
 *     ("under", must be 0) or none (must be 0), the share held by the true
 *     r closest live nodes, and retrievability again;
 *   - a second failure of the same fraction of the live nodes, on the
 *     repaired network: lost again next to the same formula (N and F the
 *     live and failed counts), which repair makes hold as at the start.
 * The owner's own (pinned) copy is not counted unless the owner is one of
 * the r closest: as if every owner had gone offline.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

#define WINDOW 200
#define MAX_MS (24u * 3600 * 1000)
#define MC_TRIALS 1000

struct st_ctx {
	struct sim_report *rep;
	struct tsn_record *recs;
	uint32_t *owner;
};

static bool
put_setup(struct sim *s, struct sim_batch *b, size_t i, uint32_t *origin,
          uint8_t target[TSN_ID_LEN], const struct tsn_record **rec)
{
	struct st_ctx *x = b->ud;

	(void)target;
	*origin = x->owner[i];
	*rec = &x->recs[i];
	return sim_node_is_up(s, *origin);
}

static void
put_result(struct sim *s, struct sim_batch *b, size_t i, struct sim_op *op)
{
	struct st_ctx *x = b->ud;
	bool ok = op->status > 0;

	(void)s;
	sim_report_count(x->rep, "put", ok);
	sim_report_add(x->rep, "put", "put.stored", ok ? op->status : 0);
	sim_report_row(x->rep, "put", i, op->origin, op->start_ms, op->end_ms - op->start_ms,
	               op->rounds, 0, op->msgs, ok, op->status);
}

static bool
get_setup(struct sim *s, struct sim_batch *b, size_t i, uint32_t *origin,
          uint8_t target[TSN_ID_LEN], const struct tsn_record **rec)
{
	struct st_ctx *x = b->ud;

	(void)rec;
	*origin = sim_random_up(s, &s->rng_work);
	memcpy(target, x->recs[i].key, TSN_ID_LEN);
	return *origin != UINT32_MAX;
}

static void
get_result(struct sim *s, struct sim_batch *b, size_t i, struct sim_op *op)
{
	struct st_ctx *x = b->ud;
	bool ok = op->status == 0 && op->nrecs > 0;

	(void)s;
	sim_report_count(x->rep, "record", ok);
	sim_report_add(x->rep, "record", "record.get_ms", (double)(op->end_ms - op->start_ms));
	sim_report_row(x->rep, "record", i, op->origin, op->start_ms, op->end_ms - op->start_ms,
	               op->rounds, op->value_round, op->msgs, ok, op->status);
}

/* P(all of u given nodes are among the F failed of N) = C(F, u) / C(N, u). */
static double
all_fail(double n, double f, unsigned u)
{
	double p = 1.0;

	for (unsigned t = 0; t < u; t++)
		p *= f - t > 0 ? (f - t) / (n - t) : 0.0;
	return p;
}

/*
 * Variance of the number of chunks lost when F of the N = pool live nodes
 * fail, chosen uniformly (every holder of c is live): chunks whose holder
 * sets overlap are lost together, so the count is not binomial. *mean: the
 * expected count. Var = sum over ordered pairs (i, j) of
 * P(H_i and H_j all fail) - E^2, where pairs with disjoint sets of sizes
 * a and b give all_fail(a + b). Pairs that overlap are found through the
 * chunks each node holds. Returns -1 when out of memory.
 */
static double
lost_variance(const struct sim *s, const struct sim_chunk *c, size_t n, uint32_t pool,
              unsigned failed, double *mean)
{
	uint32_t *off = calloc((size_t)s->n + 1, sizeof(off[0])), *list = NULL, *stamp = NULL;
	double e = 0, sum = 0, disjoint = 0;
	double *by_size = NULL; /* chunks with a holder set of size m, for the disjoint pairs */
	size_t total = 0;

	if (off == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		for (unsigned h = 0; h < c[i].nh; h++)
			off[c[i].holders[h] + 1]++;
	for (uint32_t v = 0; v < s->n; v++)
		off[v + 1] += off[v];
	total = off[s->n];
	list = malloc((total ? total : 1) * sizeof(list[0]));
	stamp = malloc((n ? n : 1) * sizeof(stamp[0]));
	by_size = calloc(SIM_HOLDERS_MAX + 1, sizeof(by_size[0]));
	if (list == NULL || stamp == NULL || by_size == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		for (unsigned h = 0; h < c[i].nh; h++)
			list[off[c[i].holders[h]]++] = (uint32_t)i;
		by_size[c[i].nh]++;
		e += all_fail(pool, failed, c[i].nh);
	}
	for (uint32_t v = s->n; v > 0; v--) /* the fill moved each start to the next one's */
		off[v] = off[v - 1];
	off[0] = 0;
	memset(stamp, 0xff, n * sizeof(stamp[0]));
	/* all ordered pairs as if disjoint, then correct the overlapping ones */
	for (unsigned a = 0; a <= SIM_HOLDERS_MAX; a++)
		for (unsigned b = 0; b <= SIM_HOLDERS_MAX; b++)
			if (by_size[a] > 0 && by_size[b] > 0 && a + b <= 2 * SIM_HOLDERS_MAX)
				disjoint += by_size[a] * by_size[b] * all_fail(pool, failed, a + b);
	for (size_t i = 0; i < n; i++) {
		for (unsigned h = 0; h < c[i].nh; h++) {
			uint32_t v = c[i].holders[h];
			for (uint32_t x = off[v]; x < off[v + 1]; x++) {
				size_t j = list[x];
				unsigned shared = 0;
				if (stamp[j] == i)
					continue;
				stamp[j] = (uint32_t)i;
				for (unsigned a = 0; a < c[i].nh; a++)
					for (unsigned b = 0; b < c[j].nh; b++)
						shared += c[i].holders[a] == c[j].holders[b];
				sum += all_fail(pool, failed, c[i].nh + c[j].nh - shared) -
				       all_fail(pool, failed, c[i].nh + c[j].nh);
			}
		}
	}
	free(off);
	free(list);
	free(stamp);
	free(by_size);
	*mean = e;
	return fmax(0, disjoint + sum - e * e);
fail:
	free(off);
	free(list);
	free(stamp);
	free(by_size);
	return -1;
}

/*
 * Mean number of chunks lost over `trials` other uniformly random sets of
 * `failed` live nodes, the placement unchanged: checks the formula on this
 * very placement (its own generator, so the run's other draws are
 * unchanged). Returns -1 when out of memory. Cost: trials * O(N + chunks * r).
 */
static double
mc_lost(const struct sim *s, const struct sim_chunk *c, size_t n, unsigned failed,
        unsigned trials, uint64_t stream)
{
	uint32_t *perm = malloc((size_t)s->n * sizeof(perm[0])), live = 0;
	bool *dead = calloc(s->n, sizeof(dead[0]));
	struct sim_rng r;
	double sum = 0;

	if (perm == NULL || dead == NULL) {
		free(perm);
		free(dead);
		return -1;
	}
	sim_rng_seed(&r, s->cfg.seed, stream);
	for (uint32_t v = 0; v < s->n; v++)
		if (sim_node_is_up(s, v))
			perm[live++] = v;
	for (unsigned t = 0; t < trials; t++) {
		memset(dead, 0, s->n * sizeof(dead[0]));
		for (uint32_t i = 0; i < failed && i < live; i++) {
			uint32_t j = i + (uint32_t)sim_rng_below(&r, live - i), x = perm[i];
			perm[i] = perm[j];
			perm[j] = x;
			dead[perm[i]] = true;
		}
		for (size_t i = 0; i < n; i++) {
			bool all = c[i].nh > 0;
			for (unsigned h = 0; h < c[i].nh && all; h++)
				all = dead[c[i].holders[h]];
			sum += all;
		}
	}
	free(perm);
	free(dead);
	return trials ? sum / trials : 0;
}

static unsigned
count_lost(const struct sim *s, const struct sim_chunk *c, size_t n)
{
	unsigned lost = 0;

	for (size_t i = 0; i < n; i++)
		if (sim_chunk_live(s, &c[i]) == 0)
			lost++;
	return lost;
}

static double
pct(double a, double b)
{
	return b > 0 ? 100.0 * a / b : 0.0;
}

/* A failure of a fraction of the live nodes at once and what it cost. */
struct loss {
	uint32_t pool;       /* live nodes before */
	unsigned failed;     /* of them, failed */
	unsigned lost;       /* chunks with no live copy left (of those that had one) */
	double p, e, sd, z;  /* formula C(F,r)/C(N,r); expected count; its deviation; z */
	double mc;           /* mean lost over MC_TRIALS other failure sets */
};

/*
 * Fail cfg.fail of the live nodes at once (rng_fail) and count the chunks
 * of c[0..n) that lose their last copy; every holder of c must be live.
 * The expectation, its deviation and the mean over other failure sets of
 * the same placement (generator `stream`) are computed before. 0 or -ENOMEM.
 */
static int
fail_once(struct sim *s, const struct sim_chunk *c, size_t n, uint64_t stream, struct loss *l)
{
	unsigned r = s->cfg.replicas;
	double var;

	memset(l, 0, sizeof(*l));
	l->pool = s->view.live;
	l->failed = (unsigned)lround(s->cfg.fail * l->pool); /* as sim_kill_fraction */
	l->p = all_fail(l->pool, l->failed, r);
	if ((var = lost_variance(s, c, n, l->pool, l->failed, &l->e)) < 0)
		return -ENOMEM;
	l->sd = sqrt(var);
	if ((l->mc = mc_lost(s, c, n, l->failed, MC_TRIALS, stream)) < 0)
		return -ENOMEM;
	if (sim_kill_fraction(s, s->cfg.fail, &s->rng_fail) != l->failed)
		return -EINVAL; /* not reached: the same rounding */
	l->lost = count_lost(s, c, n);
	l->z = l->sd > 0 ? (l->lost - l->e) / l->sd : 0.0;
	return 0;
}

static void
print_loss(FILE *out, const char *what, const struct loss *l, size_t n, unsigned r, double f)
{
	fprintf(out, "%s: %u of %zu chunks (%.4f%%); formula C(fN,r)/C(N,r) = C(%u,%u)/C(%u,%u) = "
	        "%.4f%% (f^r = %.2f^%u = %.4f%%): %.1f expected, standard deviation %.1f (holder "
	        "sets overlap, so more than binomial %.1f), z = %.2f\n", what, l->lost, n,
	        pct(l->lost, (double)n), l->failed, r, l->pool, r, 100.0 * l->p, f, r,
	        100.0 * pow(f, r), l->e, l->sd, sqrt(l->e * (1 - l->p)), l->z);
	fprintf(out, "check of the formula on this placement: %.1f chunks lost on average over %u "
	        "other random sets of %u failed nodes\n", l->mc, MC_TRIALS, l->failed);
}

/* Keep the copies on live nodes only (the failed never come back) and the
 * chunks that still have one, first; returns how many those are. */
static size_t
forget_dead(const struct sim *s, struct sim_chunk *c, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		struct sim_chunk t = c[i];
		t.nh = 0;
		for (unsigned h = 0; h < c[i].nh; h++)
			if (sim_node_is_up(s, c[i].holders[h]))
				t.holders[t.nh++] = c[i].holders[h];
		if (t.nh > 0)
			c[m++] = t;
	}
	return m;
}

static int
run(struct sim *s, struct st_ctx *x, struct sim_chunk *c, bool *had, FILE *out)
{
	const struct sim_cfg *cfg = &s->cfg;
	struct sim_report *rep = x->rep;
	struct sim_batch b = {.n = cfg->records, .window = WINDOW, .ud = x};
	unsigned n = cfg->chunks, r = cfg->replicas, exact, lost, ok, wc, wcok, rep_n, rep_ex;
	unsigned lost_surv = 0, under = 0, nb = cfg->checks < n ? cfg->checks : n;
	struct loss l1, l2;
	double checks = 0, put = 0, dropped = 0;
	size_t n2;
	int rc;

	b.kind = SIM_OP_PUT;
	b.setup = put_setup;
	b.result = put_result;
	if ((rc = sim_batch_run(s, &b, MAX_MS)) != 0)
		return rc;
	if ((rc = sim_chunks_place(s, rep, c, n, r, &exact)) != 0)
		return rc;
	fprintf(out, "placed: %u records (k = %u copies each), %u chunks at the r = %u closest of "
	        "the nodes found by lookups and their owner; %.2f%% of chunks at the true r closest\n",
	        cfg->records, cfg->k, n, r, pct(exact, n));
	sim_report_fig(rep, "store.placement_exact", pct(exact, n));

	s->t_measure = s->now;
	if ((rc = fail_once(s, c, n, 10, &l1)) != 0)
		return rc;
	for (unsigned i = 0; i < n; i++)
		had[i] = sim_chunk_live(s, &c[i]) > 0;
	fprintf(out, "failure: %u of %u nodes (%.1f%%) failed at once\n", l1.failed, l1.pool,
	        pct(l1.failed, l1.pool));
	print_loss(out, "lost before repair", &l1, n, r, cfg->fail);
	sim_report_fig(rep, "store.lost_before", pct(l1.lost, n));
	sim_report_fig(rep, "store.lost_mc", l1.mc);
	sim_report_fig(rep, "store.formula", 100.0 * l1.p);
	sim_report_fig(rep, "store.lost_z", l1.z);

	if ((rc = sim_chunks_check(s, rep, "before", c, nb, &ok, &wc, &wcok)) != 0)
		return rc;
	fprintf(out, "retrievable before repair: %u of %u chunks checked by lookups (%.2f%%); of "
	        "those with a live copy %u of %u\n", ok, nb, pct(ok, nb), wcok, wc);
	sim_report_fig(rep, "store.retrievable_before", pct(ok, nb));
	b.kind = SIM_OP_GET;
	b.setup = get_setup;
	b.result = get_result;
	if ((rc = sim_batch_run(s, &b, MAX_MS)) != 0)
		return rc;

	if ((rc = sim_chunks_repair(s, rep, c, n, r, &rep_n, &rep_ex)) != 0)
		return rc;
	lost = count_lost(s, c, n);
	for (unsigned i = 0; i < n; i++) {
		unsigned live = sim_chunk_live(s, &c[i]);
		if (had[i] && live == 0)
			lost_surv++;
		if (had[i] && live < r)
			under++;
	}
	if ((rc = sim_chunks_check(s, rep, "after", c, nb, &ok, &wc, &wcok)) != 0)
		return rc;
	sim_report_get(rep, "store.repair_checks", &checks);
	sim_report_get(rep, "store.repair_put", &put);
	sim_report_get(rep, "store.repair_dropped", &dropped);
	fprintf(out, "repair: one pass, every live holder checks its chunks (%.0f checks, a lookup "
	        "each): %.0f copies placed, %.0f dropped\n", checks, put, dropped);
	fprintf(out, "after repair: of the %u chunks with a surviving copy, %u with fewer than r = %u "
	        "live copies, %u lost; %.2f%% at all r true closest live nodes\n", rep_n, under, r,
	        lost_surv, pct(rep_ex, rep_n));
	fprintf(out, "lost after repair: %u of %u chunks (%.4f%%), %u of them with a copy before it\n",
	        lost, n, pct(lost, n), lost_surv);
	fprintf(out, "retrievable after repair: %u of %u chunks checked by lookups (%.2f%%); of "
	        "those with a live copy %u of %u\n", ok, nb, pct(ok, nb), wcok, wc);
	sim_report_fig(rep, "store.lost_after", pct(lost, n));
	sim_report_fig(rep, "store.lost_after_surviving", lost_surv + (double)(wc - wcok));
	sim_report_fig(rep, "store.under_after", under);
	sim_report_fig(rep, "store.repair_exact", pct(rep_ex, rep_n));
	sim_report_fig(rep, "store.retrievable_after", pct(ok, nb));
	sim_report_fig(rep, "store.retrievable_after_surviving", pct(wcok, wc));

	/* the same failure again, on the repaired network: the same odds */
	n2 = forget_dead(s, c, n);
	if ((rc = fail_once(s, c, n2, 11, &l2)) != 0)
		return rc;
	fprintf(out, "second failure, after the repair: %u of %u live nodes (%.1f%%) failed at once\n",
	        l2.failed, l2.pool, pct(l2.failed, l2.pool));
	print_loss(out, "lost in the second failure", &l2, n2, r, cfg->fail);
	sim_report_fig(rep, "store.lost2", pct(l2.lost, (double)n2));
	sim_report_fig(rep, "store.lost2_mc", l2.mc);
	sim_report_fig(rep, "store.formula2", 100.0 * l2.p);
	sim_report_fig(rep, "store.lost2_z", l2.z);
	return 0;
}

int
sim_scen_store(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out)
{
	struct st_ctx x = {.rep = rep};
	struct sim_chunk *c = NULL;
	struct sim *s = NULL;
	bool *had = NULL;
	int rc = -ENOMEM;

	sim_report_mark(rep);
	sim_print_header(cfg, out, "store");
	x.recs = calloc(cfg->records ? cfg->records : 1, sizeof(x.recs[0]));
	x.owner = calloc(cfg->records ? cfg->records : 1, sizeof(x.owner[0]));
	c = calloc(cfg->chunks ? cfg->chunks : 1, sizeof(c[0]));
	had = calloc(cfg->chunks ? cfg->chunks : 1, sizeof(had[0]));
	if (x.recs == NULL || x.owner == NULL || c == NULL || had == NULL)
		goto done;
	if ((rc = sim_new(&s, cfg, out)) != 0 || (rc = sim_build(s)) != 0)
		goto done;
	sim_report_built(rep);
	for (unsigned i = 0; i < cfg->records; i++) {
		char value[64];
		int len = snprintf(value, sizeof(value), "tsn-sim store record %u", i);
		x.owner[i] = sim_random_up(s, &s->rng_work);
		if ((rc = tsn_record_immutable(&x.recs[i], value, (size_t)len,
		                               s->now + 12u * 3600 * 1000)) != 0)
			goto done;
	}
	for (unsigned i = 0; i < cfg->chunks; i++) {
		sim_rng_bytes(&s->rng_work, c[i].id, TSN_ID_LEN);
		c[i].owner = sim_random_up(s, &s->rng_work);
		c[i].bytes = 256 * 1024;
	}
	if ((rc = run(s, &x, c, had, out)) != 0)
		goto done;
	sim_report_table(rep, out);
	sim_print_net(s, out);
	sim_report_wall(rep, out, "store", s->n);
done:
	if (rc != 0)
		fprintf(stderr, "tsn-sim: store: %s\n", strerror(-rc));
	sim_free(s);
	free(x.recs);
	free(x.owner);
	free(c);
	free(had);
	return rc;
}
