/*
 * tsn_sim.c: `tsn-sim`, thousands of real DHT cores in one process on a
 * virtual clock. Options, help, scenario dispatch, expectations, exit
 * status. See docs/sim.md.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_i.h"

static const char usage_text[] =
"usage: tsn-sim SCENARIO [OPTIONS]\n"
"\n"
"Runs N real TSN DHT cores in one process on a virtual clock over a\n"
"simulated network. Same --seed, same output (but the line starting with\n"
"\"wall:\", which gives host time and memory).\n"
"\n"
"Scenarios:\n"
"  lookups   random lookups: rounds, hops, virtual latency, messages, success\n"
"            (= found the true closest live node); --dead F kills a fraction first\n"
"  churn     lookups and record gets while nodes leave and rejoin (Weibull sessions)\n"
"  store     records and chunks placed at the r closest, a fraction --fail of the\n"
"            nodes fails at once: chunks lost before repair against C(fN,r)/C(N,r),\n"
"            then a repair round and what is lost after it\n"
"  files     every node shares random files with titles from a word list; fetches;\n"
"            an interactive prompt when stdin is a terminal or with --interactive\n"
"  paper     the checks against the Kademlia paper (also: lookups --paper)\n"
"\n"
"Network:\n"
"  -n, --nodes N          nodes (default 1000)\n"
"  -s, --seed S           seed of every random choice (default 1)\n"
"      --k K              bucket size and lookup width (default 20)\n"
"      --alpha A          queries in flight per lookup (default 3)\n"
"      --latency MS       median one-way link latency, log-normal (default 50)\n"
"      --sigma S          sigma of the log-normal (default 0.5)\n"
"      --loss P           datagram loss, fraction or percent (\"0.01\", \"1%\"; default 0)\n"
"      --bandwidth KBPS   uplink per node in kbit/s (default 0 = unlimited)\n"
"      --partition F,START,DUR  cut a fraction F of the nodes off the rest from\n"
"                         START for DUR seconds (virtual, from the measured phase)\n"
"      --real-join        build by real protocol joins (default up to --join-auto nodes)\n"
"      --fast-join        build routing tables from the global view (default above)\n"
"      --join-auto N      the threshold (default 2000)\n"
"      --stagger MS       real joins: one node every MS (default 20)\n"
"      --settle S         virtual seconds after building (default 60 real, 1 fast)\n"
"      --max-inflight N   per core: queries awaiting an answer (default 64)\n"
"      --max-packets N    datagrams in flight in the whole network (default 1048576)\n"
"\n"
"Workload:\n"
"  -l, --lookups N        lookups to measure (default 1000; churn: also gets)\n"
"      --rate R           operations started per virtual second (default 100)\n"
"      --dead F           lookups: fraction of nodes dead, still in tables (default 0)\n"
"  -r, --replicas R       store, files: copies per chunk (default 5)\n"
"      --fail F           store: fraction of nodes failing at once (default 0.2)\n"
"      --chunks N         store: chunks placed (default 2000; paper: 20000)\n"
"      --records N        store, churn: records put (default 100)\n"
"      --checks N         store: retrievability lookups before and after repair\n"
"                         (default 1000)\n"
"      --files N          files: files per node (default 2)\n"
"      --fetches N        files: fetches measured (default 200)\n"
"      --searches N       files: keyword searches measured (default 200)\n"
"      --real-publish     files: keyword records put by their owners even with the\n"
"                         fast join (default: stored at the true k closest)\n";
/* two strings: C99 compilers need only support 4095 bytes in one */
static const char usage_text2[] =
"      --session S        churn: median session, seconds (default 1800)\n"
"      --downtime S       churn: median downtime, seconds (default 1800)\n"
"      --shape K          churn: Weibull shape (default 0.6)\n"
"      --duration S       churn: virtual seconds of churn (default 1800)\n"
"      --republish S      churn: owners re-put their records every S (default 600)\n"
"  -i, --interactive      files: the prompt even when stdin is not a terminal\n"
"      --paper            lookups: run the paper checks instead\n"
"      --sizes LIST       paper: network sizes (default 1000,10000,100000)\n"
"      --dead-nodes N     paper: N of the 20%%-dead check (default 10000)\n"
"      --store-nodes N    paper: N of the store check (default 10000)\n"
"\n"
"Output:\n"
"      --csv FILE         raw rows, one per operation (see docs/sim.md)\n"
"      --expect NAME>=V   exit 1 unless figure NAME is >= V (or NAME<=V);\n"
"                         repeatable; figures as in docs/sim.md\n"
"  -h, --help             this text\n"
"\n"
"Exit status: 0, 1 on an error or a failed --expect, 2 on bad usage.\n";

void
sim_cfg_default(struct sim_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->nodes = 1000;
	c->seed = 1;
	c->k = 20;
	c->alpha = 3;
	c->replicas = 5;
	c->lat_median_ms = 50;
	c->lat_sigma = 0.5;
	c->join = SIM_JOIN_AUTO;
	c->join_auto_max = 2000;
	c->join_stagger_ms = 20;
	c->settle_s = -1;
	c->max_inflight = 64;
	c->max_pkts = 1u << 20;
	c->lookups = 1000;
	c->rate = 100;
	c->fail = 0.2;
	c->chunks = 2000;
	c->records = 100;
	c->checks = 1000;
	c->files_per_node = 2;
	c->fetches = 200;
	c->searches = 200;
	c->session_s = 1800;
	c->downtime_s = 1800;
	c->shape = 0.6;
	c->duration_s = 1800;
	c->republish_s = 600;
	c->sizes = "1000,10000,100000";
	c->dead_nodes = 10000;
	c->store_nodes = 10000;
}

static int
bad(const char *opt, const char *arg)
{
	fprintf(stderr, "tsn-sim: bad value for %s: '%s' (tsn-sim --help)\n", opt, arg);
	return -EINVAL;
}

static int
parse_u(const char *opt, const char *arg, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v > max || arg[0] == '-')
		return bad(opt, arg);
	*out = v;
	return 0;
}

static int
parse_d(const char *opt, const char *arg, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno != 0 || end == arg || (*end != '\0' && strcmp(end, "%") != 0))
		return bad(opt, arg);
	if (*end == '%')
		v /= 100.0;
	if (!(v >= min && v <= max))
		return bad(opt, arg);
	*out = v;
	return 0;
}

static int
parse_expect(struct sim_cfg *c, const char *arg)
{
	const char *op = strstr(arg, ">=");
	struct sim_expect *e;
	char *end;

	if (op == NULL)
		op = strstr(arg, "<=");
	if (op == NULL || op == arg || (size_t)(op - arg) >= sizeof(e->name) ||
	    c->nexpect == SIM_EXPECT_MAX)
		return bad("--expect", arg);
	e = &c->expect[c->nexpect];
	memcpy(e->name, arg, (size_t)(op - arg));
	e->name[op - arg] = '\0';
	e->at_least = op[0] == '>';
	e->value = strtod(op + 2, &end);
	if (end == op + 2 || *end != '\0')
		return bad("--expect", arg);
	c->nexpect++;
	return 0;
}

enum {
	O_K = 256, O_ALPHA, O_LATENCY, O_SIGMA, O_LOSS, O_BW, O_PART, O_REAL, O_FAST, O_JOINAUTO,
	O_STAGGER, O_SETTLE, O_INFLIGHT, O_PKTS, O_RATE, O_DEAD, O_FAIL, O_CHUNKS, O_RECORDS,
	O_CHECKS, O_FILES, O_FETCHES, O_SEARCHES, O_REALPUB, O_SESSION, O_DOWN, O_SHAPE, O_DURATION, O_REPUB,
	O_PAPER, O_SIZES, O_DEADN, O_STOREN, O_CSV, O_EXPECT,
};

static const struct option longopts[] = {
	{"nodes", 1, 0, 'n'}, {"seed", 1, 0, 's'}, {"k", 1, 0, O_K}, {"alpha", 1, 0, O_ALPHA},
	{"latency", 1, 0, O_LATENCY}, {"sigma", 1, 0, O_SIGMA}, {"loss", 1, 0, O_LOSS},
	{"bandwidth", 1, 0, O_BW}, {"partition", 1, 0, O_PART}, {"real-join", 0, 0, O_REAL},
	{"fast-join", 0, 0, O_FAST}, {"join-auto", 1, 0, O_JOINAUTO}, {"stagger", 1, 0, O_STAGGER},
	{"settle", 1, 0, O_SETTLE}, {"max-inflight", 1, 0, O_INFLIGHT},
	{"max-packets", 1, 0, O_PKTS}, {"lookups", 1, 0, 'l'}, {"rate", 1, 0, O_RATE},
	{"dead", 1, 0, O_DEAD}, {"replicas", 1, 0, 'r'}, {"fail", 1, 0, O_FAIL},
	{"chunks", 1, 0, O_CHUNKS}, {"records", 1, 0, O_RECORDS}, {"checks", 1, 0, O_CHECKS},
	{"files", 1, 0, O_FILES}, {"fetches", 1, 0, O_FETCHES}, {"searches", 1, 0, O_SEARCHES},
	{"real-publish", 0, 0, O_REALPUB},
	{"session", 1, 0, O_SESSION},
	{"downtime", 1, 0, O_DOWN}, {"shape", 1, 0, O_SHAPE}, {"duration", 1, 0, O_DURATION},
	{"republish", 1, 0, O_REPUB}, {"interactive", 0, 0, 'i'}, {"paper", 0, 0, O_PAPER},
	{"sizes", 1, 0, O_SIZES}, {"dead-nodes", 1, 0, O_DEADN}, {"store-nodes", 1, 0, O_STOREN},
	{"csv", 1, 0, O_CSV}, {"expect", 1, 0, O_EXPECT}, {"help", 0, 0, 'h'}, {0, 0, 0, 0},
};

static int
parse_partition(struct sim_cfg *c, const char *arg)
{
	double f, a, d;
	int used = 0;

	if (sscanf(arg, "%lf,%lf,%lf%n", &f, &a, &d, &used) != 3 || arg[used] != '\0' || !(f > 0) ||
	    !(f < 1) || !(a >= 0) || !(d > 0))
		return bad("--partition", arg);
	c->part_frac = f;
	c->part_start_s = a;
	c->part_dur_s = d;
	return 0;
}

/* One option; returns 0, 1 (help printed) or -EINVAL. */
static int
one_option(struct sim_cfg *c, int ch, const char *a, bool *paper)
{
	unsigned long long u = 0;
	double d = 0;
	int rc = 0;

	switch (ch) {
	case 'n': rc = parse_u("--nodes", a, SIM_NODES_MAX, &u); c->nodes = (unsigned)u; break;
	case 's': rc = parse_u("--seed", a, UINT64_MAX, &u); c->seed = u; break;
	case O_K: rc = parse_u("--k", a, TSN_WIRE_NODES_MAX, &u); c->k = (unsigned)u; break;
	case O_ALPHA: rc = parse_u("--alpha", a, TSN_DHT_ALPHA_MAX, &u); c->alpha = (unsigned)u; break;
	case O_LATENCY: rc = parse_d("--latency", a, 1, 5000, &c->lat_median_ms); break;
	case O_SIGMA: rc = parse_d("--sigma", a, 0, 3, &c->lat_sigma); break;
	case O_LOSS: rc = parse_d("--loss", a, 0, 1, &c->loss); break;
	case O_BW: rc = parse_u("--bandwidth", a, UINT32_MAX, &u); c->bandwidth_kbps = (uint32_t)u; break;
	case O_PART: rc = parse_partition(c, a); break;
	case O_REAL: c->join = SIM_JOIN_REAL; break;
	case O_FAST: c->join = SIM_JOIN_FAST; break;
	case O_JOINAUTO: rc = parse_u("--join-auto", a, SIM_NODES_MAX, &u); c->join_auto_max = (unsigned)u; break;
	case O_STAGGER: rc = parse_u("--stagger", a, 600000, &u); c->join_stagger_ms = (unsigned)u; break;
	case O_SETTLE: rc = parse_d("--settle", a, 0, 86400, &c->settle_s); break;
	case O_INFLIGHT: rc = parse_u("--max-inflight", a, 65536, &u); c->max_inflight = (unsigned)u; break;
	case O_PKTS: rc = parse_u("--max-packets", a, 1u << 28, &u); c->max_pkts = (size_t)u; break;
	case 'l': rc = parse_u("--lookups", a, 10000000, &u); c->lookups = (unsigned)u; break;
	case O_RATE: rc = parse_d("--rate", a, 0.001, 1e6, &c->rate); break;
	case O_DEAD: rc = parse_d("--dead", a, 0, 0.99, &c->dead); break;
	case 'r': rc = parse_u("--replicas", a, SIM_REPLICAS_MAX, &u); c->replicas = (unsigned)u; break;
	case O_FAIL: rc = parse_d("--fail", a, 0, 1, &c->fail); break;
	case O_CHUNKS: rc = parse_u("--chunks", a, 10000000, &u); c->chunks = (unsigned)u;
		c->chunks_set = true; break;
	case O_RECORDS: rc = parse_u("--records", a, 1000000, &u); c->records = (unsigned)u; break;
	case O_CHECKS: rc = parse_u("--checks", a, 10000000, &u); c->checks = (unsigned)u; break;
	case O_FILES: rc = parse_u("--files", a, 1000, &u); c->files_per_node = (unsigned)u; break;
	case O_FETCHES: rc = parse_u("--fetches", a, 10000000, &u); c->fetches = (unsigned)u; break;
	case O_REALPUB: c->real_publish = true; break;
	case O_SEARCHES:
		rc = parse_u("--searches", a, 10000000, &u);
		c->searches = (unsigned)u;
		break;
	case O_SESSION: rc = parse_d("--session", a, 1, 1e7, &c->session_s); break;
	case O_DOWN: rc = parse_d("--downtime", a, 1, 1e7, &c->downtime_s); break;
	case O_SHAPE: rc = parse_d("--shape", a, 0.1, 10, &c->shape); break;
	case O_DURATION: rc = parse_d("--duration", a, 1, 1e7, &c->duration_s); break;
	case O_REPUB: rc = parse_d("--republish", a, 1, 1e7, &c->republish_s); break;
	case 'i': c->interactive = true; break;
	case O_PAPER: *paper = true; break;
	case O_SIZES: c->sizes = a; break;
	case O_DEADN: rc = parse_u("--dead-nodes", a, SIM_NODES_MAX, &u); c->dead_nodes = (unsigned)u; break;
	case O_STOREN: rc = parse_u("--store-nodes", a, SIM_NODES_MAX, &u); c->store_nodes = (unsigned)u; break;
	case O_CSV: c->csv = a; break;
	case O_EXPECT: rc = parse_expect(c, a); break;
	case 'h':
		fputs(usage_text, stdout);
		fputs(usage_text2, stdout);
		return 1;
	default: return -EINVAL;
	}
	(void)d;
	return rc;
}

int
main(int argc, char **argv)
{
	struct sim_cfg cfg;
	struct sim_report rep;
	const char *scen;
	bool paper = false;
	int ch, rc;

	sim_cfg_default(&cfg);
	setvbuf(stdout, NULL, _IOLBF, 0); /* each phase's line as it ends: long runs show progress */
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		fputs(usage_text2, stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fputs("tsn-sim: which scenario? lookups, churn, store, files or paper (tsn-sim --help)\n",
		      stderr);
		return 2;
	}
	scen = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "n:s:l:r:ih", longopts, NULL)) != -1) {
		if ((rc = one_option(&cfg, ch, optarg, &paper)) != 0)
			return rc > 0 ? 0 : 2;
	}
	if (optind != argc) {
		fprintf(stderr, "tsn-sim: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (cfg.nodes < 2 || cfg.k == 0 || cfg.alpha == 0 || cfg.replicas == 0 ||
	    cfg.replicas > cfg.k) {
		fprintf(stderr, "tsn-sim: need --nodes >= 2, --k and --alpha >= 1, 1 <= --replicas <= --k\n");
		return 2;
	}
	if ((rc = sim_report_init(&rep, cfg.csv)) != 0) {
		fprintf(stderr, "tsn-sim: %s: %s\n", cfg.csv, strerror(-rc));
		return 1;
	}
	if (strcmp(scen, "paper") == 0 || (strcmp(scen, "lookups") == 0 && paper))
		rc = sim_scen_paper(&cfg, &rep, stdout);
	else if (strcmp(scen, "lookups") == 0)
		rc = sim_scen_lookups(&cfg, &rep, stdout);
	else if (strcmp(scen, "churn") == 0)
		rc = sim_scen_churn(&cfg, &rep, stdout);
	else if (strcmp(scen, "store") == 0)
		rc = sim_scen_store(&cfg, &rep, stdout);
	else if (strcmp(scen, "files") == 0)
		rc = sim_scen_files(&cfg, &rep, stdout, stdin);
	else {
		fprintf(stderr, "tsn-sim: unknown scenario '%s' (lookups, churn, store, files, paper)\n",
		        scen);
		sim_report_fini(&rep);
		return 2;
	}
	if (rc == 0 && sim_report_check(&rep, &cfg, stdout) != 0)
		rc = -EDOM;
	sim_report_fini(&rep);
	fflush(stdout);
	return rc == 0 ? 0 : 1;
}
