/*
 * sim_i.h: what the files of tsn-sim share. Internal to tools/ (tsn_sim.c
 * and tools/sim_*.c); nothing outside includes it.
 *
 * tsn-sim runs N real net/ cores (struct tsn_dht) in one process on a
 * virtual clock. Every datagram a core sends goes through the real wire
 * codec (the core encodes it, the receiving core decodes it) and through a
 * simulated network: per-link latency from a seeded log-normal, random loss,
 * an optional uplink bandwidth per node, and partitions. Everything is
 * deterministic from the seed: no wall clock and no global RNG in the
 * simulation; one seeded generator per purpose (ids, network, joins, churn,
 * workload), and one per node for the core's own randomness. Only the line
 * starting with "wall:" (wall time, memory) depends on the host.
 *
 * One file, one job:
 *   sim_rng.c      PRNG (xoshiro256**) and distributions
 *   sim_evq.c      the event queue: a bounded binary heap with one indexed
 *                  timer per node
 *   sim_net.c      addresses, latency, loss, bandwidth, partitions, packets
 *   sim_world.c    the world: nodes up and down, the run loop
 *   sim_build.c    building the network: real joins or the fast path
 *   sim_view.c     the global view: ids in order, which are live, the true
 *                  closest live nodes
 *   sim_op.c       measured operations: rounds, hops and messages, observed
 *                  from the datagrams
 *   sim_churn.c    Weibull sessions and downtimes: leaves and rejoins
 *   sim_batch.c    many measured operations, a bounded number at a time
 *   sim_chunks.c   abstract chunks: placement, repair, retrievability
 *   sim_stats.c    series, percentiles, the summary table, named figures,
 *                  expectations, CSV rows, the header, network and wall lines
 *   sim_search.c   keyword records of the shared files, searches over them
 *   sim_lookups.c, sim_churn_scen.c, sim_store.c, sim_files.c,
 *   sim_prompt.c, sim_paper.c: the scenarios
 *   tsn_sim.c      main: options and dispatch
 *
 * Threads: one; all state hangs off a struct sim or struct sim_report.
 */
#ifndef TSN_SIM_I_H
#define TSN_SIM_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dht.h"

#define SIM_T0 UINT64_C(1700000000000)  /* virtual Unix ms at the start */
#define SIM_PORT 4000                   /* every node listens on this port */
#define SIM_NODES_MAX (1u << 22)        /* addresses: see sim_net_addr */
#define SIM_REPLICAS_MAX 16
#define SIM_EXPECT_MAX 32
#define SIM_FIG_MAX 1024
#define SIM_SERIES_MAX 16

struct sim;

/* ---- configuration (filled by tsn_sim.c) ---- */

enum sim_join { SIM_JOIN_AUTO = 0, SIM_JOIN_REAL, SIM_JOIN_FAST };

struct sim_expect {
	char name[64];
	bool at_least;   /* >= value, else <= value */
	double value;
};

struct sim_cfg {
	/* world */
	unsigned nodes;
	uint64_t seed;
	unsigned k, alpha, replicas;
	double lat_median_ms, lat_sigma;  /* per-link log-normal */
	double loss;                      /* datagram loss, 0..1 */
	uint32_t bandwidth_kbps;          /* uplink per node; 0 = unlimited */
	double part_frac, part_start_s, part_dur_s;
	int join;                         /* enum sim_join */
	unsigned join_auto_max;           /* AUTO: real joins up to this many nodes */
	unsigned join_stagger_ms;
	double settle_s;
	unsigned max_inflight;            /* per core: tsn_dht_opts.max_inflight */
	size_t max_pkts;                  /* datagrams in flight, whole network */
	/* workload */
	unsigned lookups;
	double rate;                      /* operations started per virtual second */
	double dead;                      /* lookups: fraction silently dead */
	double fail;                      /* store: fraction failing at once */
	unsigned chunks, records, checks;
	bool chunks_set;                  /* --chunks given (paper: else 20000) */
	unsigned files_per_node, fetches;
	unsigned searches;                /* files: keyword searches measured */
	bool real_publish;                /* files: real keyword puts even with the fast join */
	double session_s, downtime_s, shape, duration_s, republish_s;
	bool interactive;
	const char *sizes;                /* paper: comma-separated N */
	unsigned dead_nodes, store_nodes; /* paper: N of those checks */
	const char *csv;
	struct sim_expect expect[SIM_EXPECT_MAX];
	unsigned nexpect;
};

/* Defaults for every field. */
void sim_cfg_default(struct sim_cfg *c);

/* ---- rng (sim_rng.c) ---- */

struct sim_rng {
	uint64_t s[4];
};

/* Seed generator `stream` of a run from its seed (distinct streams never overlap in practice). */
void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n);
/* Uniform in (0, 1). */
double sim_rng_unit(struct sim_rng *r);
void sim_rng_bytes(struct sim_rng *r, void *buf, size_t len);
/* Weibull with this shape and median. */
double sim_rng_weibull(struct sim_rng *r, double shape, double median);
/* A mix of three words (per-link latency without per-link state). */
uint64_t sim_hash3(uint64_t a, uint64_t b, uint64_t c);
/* Log-normal value with this median and sigma from a 64-bit hash (deterministic). */
double sim_lognormal_of(uint64_t h, double median, double sigma);
/* splitmix64 step: the per-node generator of the cores. */
uint64_t sim_splitmix(uint64_t *x);

/* ---- event queue (sim_evq.c) ---- */

enum sim_ev_kind { SIM_EV_TIMER = 1, SIM_EV_PKT, SIM_EV_TASK };

typedef void (*sim_task_fn)(struct sim *s, void *p, uint32_t arg);

struct sim_ev {
	uint64_t at, seq;
	uint32_t kind;   /* enum sim_ev_kind */
	uint32_t arg;    /* TIMER: node; TASK: argument */
	void *p;         /* PKT: struct sim_pkt; TASK: argument */
	sim_task_fn fn;  /* TASK */
};

struct sim_evq {
	struct sim_ev *h;
	size_t n, cap, max;   /* heap size, allocated slots, bound */
	uint32_t *tpos;       /* node -> heap index + 1 of its timer, 0: none */
	size_t nodes;
	uint64_t seq;
};

/* An empty queue for `nodes` timers holding at most max events. 0 or -ENOMEM. */
int sim_evq_init(struct sim_evq *q, size_t nodes, size_t max);
/* Frees the heap only; the owner frees what pending events point to first. */
void sim_evq_fini(struct sim_evq *q);
/* Add an event (not a timer). 0, -ENOSPC (bound reached) or -ENOMEM. */
int sim_evq_push(struct sim_evq *q, const struct sim_ev *e);
/* Set (or move) the timer of node to `at`. 0, -ENOSPC or -ENOMEM. */
int sim_evq_timer(struct sim_evq *q, uint32_t node, uint64_t at);
void sim_evq_timer_clear(struct sim_evq *q, uint32_t node);
/* Pop the earliest event if it is due by `until`. */
bool sim_evq_pop(struct sim_evq *q, uint64_t until, struct sim_ev *out);
/* Time of the earliest event, UINT64_MAX when empty. */
uint64_t sim_evq_next(const struct sim_evq *q);

/* ---- measured operations (sim_op.c) ---- */

enum sim_op_kind { SIM_OP_LOOKUP = 1, SIM_OP_GET, SIM_OP_PUT };

struct sim_op;
typedef void (*sim_op_done_fn)(struct sim *s, struct sim_op *op);

struct sim_q {
	uint64_t txid;
	uint32_t to;
	uint16_t round;
};

/*
 * One operation whose datagrams are observed. The caller owns the struct;
 * it must stay put from sim_op_start until its done function has run.
 */
struct sim_op {
	struct sim_op *next;        /* in the origin node's list while running */
	sim_op_done_fn done;
	void *ud;
	uint32_t tag;               /* the caller's */
	uint8_t kind;               /* enum sim_op_kind */
	bool running;
	uint32_t origin;
	uint8_t target[TSN_ID_LEN];
	uint64_t start_ms, end_ms;
	int status;                 /* the core's completion status */
	unsigned msgs;              /* requests sent + replies received */
	unsigned rounds;            /* highest round queried */
	unsigned value_round;       /* get: round of the first VALUES reply, 0: none */
	size_t nres;                /* lookup: result, closest first (node indices) */
	uint32_t res[TSN_WIRE_NODES_MAX];
	size_t nrecs;               /* get: records found */
	/* get: handed the records found just before done runs (NULL: not wanted) */
	void (*recs_fn)(struct sim *s, struct sim_op *op, const struct tsn_record *recs,
	                size_t n);
	struct sim_q *q;            /* queries sent */
	size_t nq, capq;
	uint32_t *dk;               /* depth of each contact learned (open addressing) */
	uint16_t *dv;
	size_t dcap, dn;
};

/*
 * Start a lookup (rec NULL), a get (rec NULL, kind GET) or a put (rec: the
 * record) from node origin at the current virtual time. Returns 0 (done
 * runs exactly once later, from a task), -ENETDOWN (origin is down),
 * -EAGAIN (the core's max_ops), -ENOMEM, or the core's error; on failure
 * done never runs.
 */
int sim_op_start(struct sim *s, struct sim_op *op, uint8_t kind, uint32_t origin,
                 const uint8_t target[TSN_ID_LEN], const struct tsn_record *rec,
                 sim_op_done_fn done, void *ud);
/* Round of the first query op sent to node (1 = from the origin's own table), 0: never. */
unsigned sim_op_round_of(const struct sim_op *op, uint32_t node);
/* Free the tracking arrays (op may be started again). */
void sim_op_clear(struct sim_op *op);
/* Datagram hooks, called by sim_net for nodes with running operations. */
void sim_op_on_send(struct sim *s, uint32_t from, uint32_t to, const uint8_t *buf, size_t len);
void sim_op_on_deliver(struct sim *s, uint32_t to, uint32_t from, const uint8_t *buf, size_t len);
/* The core's completion callbacks (ud is the node). */
void sim_op_lookup_done(void *ud, void *op_ud, int status, const struct tsn_contact *nodes,
                        size_t n);
void sim_op_get_done(void *ud, void *op_ud, int status, const struct tsn_record *recs, size_t n);
void sim_op_put_done(void *ud, void *op_ud, int status);

/* ---- the world (sim_world.c, sim_net.c, sim_view.c, sim_build.c) ---- */

struct sim_node {
	struct sim *s;
	struct tsn_dht *dht;   /* NULL while down */
	struct sim_op *ops;    /* measured operations running here */
	uint64_t rng;          /* the core's random source (splitmix64 state) */
	uint64_t tx_free_us;   /* uplink busy until (bandwidth) */
	uint32_t idx;
	uint32_t pos;          /* position in the view's sorted order */
	uint32_t epoch;        /* bumped at every down: stale churn events */
	bool part;             /* on the cut-off side of the partition */
	uint8_t id[TSN_ID_LEN];
};

struct sim_pkt {
	uint32_t from, to;
	uint32_t len;
	uint8_t buf[];
};

struct sim_netstats {
	uint64_t sent, delivered, bytes;
	uint64_t lost, cut, to_down, queue_full;
	uint64_t by_type[TSN_MSG_TYPE_END];
};

/* The global view: ids in sorted order and a Fenwick tree of live ones. */
struct sim_view {
	uint32_t *order;   /* sorted position -> node */
	uint32_t *fen;     /* live counts, 1-based Fenwick tree over positions */
	size_t n;
	uint32_t live;
};

struct sim {
	struct sim_cfg cfg;
	FILE *out;
	struct sim_evq q;
	uint64_t now;
	uint64_t t_measure;           /* start of the measured phase (partition clock) */
	struct sim_node *nodes;
	uint32_t n;
	struct tsn_dht_opts dopts;
	struct tsn_dht_cb cb;
	struct sim_rng rng_ids, rng_net, rng_join, rng_churn, rng_work, rng_fail;
	uint64_t link_key;            /* per-link latency */
	bool mute;                    /* fast join: replies go nowhere */
	size_t pkts;                  /* datagrams in flight */
	size_t tasks;                 /* tasks pending */
	struct sim_netstats net;
	struct sim_view view;
	struct tsn_msg *scratch;      /* decode buffer of the observers and the fast join */
	struct tsn_msg *core_scratch; /* two messages every core shares (tsn_dht_opts.scratch) */
	uint64_t build_ms;            /* virtual time the build took */
	bool real_join;
	uint64_t churn_until;
	uint64_t churn_leaves, churn_joins;
	bool closing;                 /* sim_free: cancelled operations call nobody */
};

/*
 * Create a world of cfg->nodes nodes (all down, ids drawn) writing to out
 * (borrowed). Returns 0, -EINVAL or -ENOMEM; *out_s NULL on failure.
 */
int sim_new(struct sim **out_s, const struct sim_cfg *cfg, FILE *out);
void sim_free(struct sim *s);
/* Bring node i up with a fresh core (its id kept). 0 or the core's error. */
int sim_node_up(struct sim *s, uint32_t i);
/* Node i vanishes: its core is freed (its operations end with -ECANCELED). */
void sim_node_down(struct sim *s, uint32_t i);
static inline bool sim_node_is_up(const struct sim *s, uint32_t i) { return s->nodes[i].dht != NULL; }
/* Tick node i now and set its timer (after starting an operation on it). */
void sim_kick(struct sim *s, uint32_t i);
/* Schedule fn(s, p, arg) at virtual time at (>= now). Exits on -ENOSPC: a bug. */
void sim_task(struct sim *s, uint64_t at, sim_task_fn fn, void *p, uint32_t arg);
/* Run events due by `until`; then now = until. */
void sim_run_until(struct sim *s, uint64_t until);
/* Run events until *flag is true or none is due by `until`; returns *flag. */
bool sim_run_until_set(struct sim *s, const bool *flag, uint64_t until);
/* A random node that is up (rng given), UINT32_MAX when none. */
uint32_t sim_random_up(struct sim *s, struct sim_rng *r);
/* Take down round(frac * live) live nodes chosen at random with r. Returns how many. */
uint32_t sim_kill_fraction(struct sim *s, double frac, struct sim_rng *r);
/* Build the network per cfg (real joins or the fast path) and print one line. 0 or -errno. */
int sim_build(struct sim *s);

/* sim_net.c */
void sim_net_addr(uint32_t i, struct tsn_addr *a);
/* Node index of an address, false when no node has it. */
bool sim_net_index(const struct sim *s, const struct tsn_addr *a, uint32_t *i);
/* One-way latency of the link a-b (symmetric), ms. */
uint32_t sim_net_latency(const struct sim *s, uint32_t a, uint32_t b);
/* Is the partition cutting a from b now? */
bool sim_net_cut(const struct sim *s, uint32_t a, uint32_t b);
/* Virtual ms to move `bytes` from one node to another: RTT plus uplink time. */
uint64_t sim_net_transfer_ms(struct sim *s, uint32_t from, uint32_t to, uint64_t bytes);
/* The core's send callback (ud is the node). */
int sim_net_send(void *ud, const struct tsn_addr *to, const uint8_t *buf, size_t len);
/* A datagram's time has come: hand it to its node (frees p). */
void sim_net_deliver(struct sim *s, struct sim_pkt *p);
/* Pick the partitioned nodes (cfg.part_frac). 0 or -ENOMEM. */
int sim_net_partition(struct sim *s);

/* sim_view.c */
int sim_view_init(struct sim *s);
void sim_view_fini(struct sim_view *v);
void sim_view_set_live(struct sim *s, uint32_t node, bool live);
/* The j-th live node in id order (j < view.live). */
uint32_t sim_view_nth_live(const struct sim *s, uint32_t j);
/*
 * The n live nodes closest to target by XOR, closest first, skipping
 * `except` (UINT32_MAX: none). Returns how many. Cost: O(n log^2 N).
 */
size_t sim_view_closest(const struct sim *s, const uint8_t target[TSN_ID_LEN], uint32_t except,
                        uint32_t *out, size_t n);
/*
 * Fill node i's routing table from the global view, as converged joins
 * leave it: per bucket, up to k live nodes of that subtree chosen at
 * random, each told to the core by a PING datagram from it. Returns the
 * number of contacts told.
 */
size_t sim_view_fill(struct sim *s, uint32_t i, struct sim_rng *r);

/*
 * sim_churn.c: from now until `until` (absolute), every node alternates
 * sessions and downtimes drawn from Weibull distributions (cfg.shape, medians
 * cfg.session_s and cfg.downtime_s). A leaving node vanishes (its core is
 * freed, no goodbye); a returning one keeps its id and rejoins through a
 * random live node. Counts go to s->churn_leaves and s->churn_joins.
 */
void sim_churn_start(struct sim *s, uint64_t until);

/* ---- report: figures, series, CSV (sim_stats.c) ---- */

struct sim_series {
	char name[40];
	char group[24];   /* success counted per group */
	double *v;
	size_t n, cap;
};

struct sim_group {
	char name[24];
	uint64_t ok, total;
};

struct sim_fig {
	char name[64];
	double value;
};

/* What a run reports: owned by main, outlives the worlds of a paper run. */
struct sim_report {
	char prefix[32];              /* figure and CSV run label ("" or "n1000.") */
	struct sim_series series[SIM_SERIES_MAX];
	size_t nseries;
	struct sim_group groups[SIM_SERIES_MAX];
	size_t ngroups;
	struct sim_fig figs[SIM_FIG_MAX];
	size_t nfigs;
	FILE *csv;                    /* NULL: no CSV */
	double wall0, built_s;        /* host clock at the mark; build time */
	long rss0_kib, rss_built_kib;
};

int sim_report_init(struct sim_report *r, const char *csv_path);
void sim_report_fini(struct sim_report *r);
/* Start a new sub-run: clears series and groups, sets the label. */
void sim_report_begin(struct sim_report *r, const char *prefix);
/* Add a value to series name (created on first use, counted under group). */
void sim_report_add(struct sim_report *r, const char *group, const char *name, double v);
/* Count an operation of group as succeeded or not. */
void sim_report_count(struct sim_report *r, const char *group, bool ok);
/* Percent of group's operations that succeeded (100 when none). */
double sim_report_success(const struct sim_report *r, const char *group);
/* Set figure prefix+name. */
void sim_report_fig(struct sim_report *r, const char *name, double v);
/* Look up a figure by full name; false when absent. */
bool sim_report_get(const struct sim_report *r, const char *full, double *v);
/* Print the summary table and set the figures of every series. */
void sim_report_table(struct sim_report *r, FILE *out);
/* One raw CSV row (no-op without --csv). */
void sim_report_row(struct sim_report *r, const char *kind, uint64_t id, uint32_t node,
                    uint64_t start_ms, uint64_t latency_ms, unsigned rounds, unsigned hops,
                    unsigned msgs, bool ok, long long value);
/* Check the expectations; print the failed ones to stderr. Returns how many failed. */
unsigned sim_report_check(const struct sim_report *r, const struct sim_cfg *cfg, FILE *out);
/* Host clock (s) and resident memory (KiB); only for the wall line. */
double sim_host_seconds(void);
long sim_host_rss_kib(bool peak);
/* Percentile (nearest rank) of sorted values. */
double sim_percentile(const double *sorted, size_t n, double pct);
/* Sort values ascending (a copy is the caller's business). */
void sim_sort(double *v, size_t n);
/* The first line of a scenario, and its network counters lines. */
void sim_print_header(const struct sim_cfg *c, FILE *out, const char *scen);
void sim_print_net(struct sim *s, FILE *out);
/* Mark the start of a run (host clock and RSS, before the world exists). */
void sim_report_mark(struct sim_report *r);
/* The network is built: note host time and RSS (memory per node = RSS delta / N). */
void sim_report_built(struct sim_report *r);
/* The "wall:" line: host time since the mark, build time, memory per node. */
void sim_report_wall(struct sim_report *r, FILE *out, const char *what, uint32_t nodes);

/* ---- scenarios ---- */

int sim_scen_lookups(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out);
int sim_scen_churn(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out);
int sim_scen_store(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out);
int sim_scen_files(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out, FILE *in);
int sim_scen_paper(const struct sim_cfg *cfg, struct sim_report *rep, FILE *out);

/* ---- batches (sim_batch.c) ---- */

struct sim_batch;
/* Item i: fill origin and target (or *rec for a put); false skips it. */
typedef bool (*sim_batch_setup_fn)(struct sim *s, struct sim_batch *b, size_t i, uint32_t *origin,
                                   uint8_t target[TSN_ID_LEN], const struct tsn_record **rec);
/* Item i ended (op->status: the core's status, or the error that kept it from starting). */
typedef void (*sim_batch_result_fn)(struct sim *s, struct sim_batch *b, size_t i,
                                    struct sim_op *op);

struct sim_batch {
	uint8_t kind;               /* enum sim_op_kind */
	size_t n, window;
	sim_batch_setup_fn setup;
	sim_batch_result_fn result;
	void *ud;
	size_t next, active;        /* private */
	bool done;
};

/*
 * Run items 0..n-1, window at a time, until all ended (at most max_ms of
 * virtual time: exits the program if the cores break their deadlines).
 * Returns 0 or -ENOMEM.
 */
int sim_batch_run(struct sim *s, struct sim_batch *b, uint64_t max_ms);

/* ---- abstract chunks (sim_chunks.c) ---- */

#define SIM_HOLDERS_MAX (2 * SIM_REPLICAS_MAX)

struct sim_chunk {
	uint8_t id[TSN_ID_LEN];
	uint32_t owner;                        /* who placed it */
	uint32_t bytes;
	uint32_t holders[SIM_HOLDERS_MAX];
	uint8_t nh;
};

/* Copies on live nodes. */
unsigned sim_chunk_live(const struct sim *s, const struct sim_chunk *c);
/*
 * Place c[0..n) as a push does (group "place"): each owner looks the id
 * up; the r closest live ones of the nodes found and the owner hold it.
 * *exact: chunks then held by the true r closest live nodes. 0 or -ENOMEM.
 */
int sim_chunks_place(struct sim *s, struct sim_report *rep, struct sim_chunk *c, size_t n,
                     unsigned r, unsigned *exact);
/*
 * One repair pass (group "repair") by node_repair.c's rules: every live
 * holder of every chunk looks its id up; of the nodes found and itself the
 * r closest live ones must hold it (a copy placed where missing); a holder
 * not among them drops its copy when r others hold it. *repaired: chunks
 * that had a live copy; *exact: of those, held afterwards by all r true
 * closest live nodes. Figures store.repair_checks, _put, _dropped.
 * 0 or -ENOMEM.
 */
int sim_chunks_repair(struct sim *s, struct sim_report *rep, struct sim_chunk *c, size_t n,
                      unsigned r, unsigned *repaired, unsigned *exact);
/*
 * Retrievability (group `group`, a string literal): a random live node
 * looks each chunk up. *ok: results naming a live holder; *with_copy:
 * chunks with a live copy; *with_copy_ok: of those, retrievable. 0 or -ENOMEM.
 */
int sim_chunks_check(struct sim *s, struct sim_report *rep, const char *group, struct sim_chunk *c,
                     size_t n, unsigned *ok, unsigned *with_copy, unsigned *with_copy_ok);

/* sim_lookups.c: run `count` measured lookups on a built world, cfg.rate per second. */
int sim_lookups_run(struct sim *s, struct sim_report *rep, unsigned count);
/* Judge and record one finished lookup (group "lookup"); returns its success. */
bool sim_lookup_record(struct sim *s, struct sim_report *rep, const struct sim_op *op, uint64_t id);

/* sim_files.c: the shared files of the `files` scenario, for the prompt. */
struct sim_files;
/* Fetch file (0-based) from node `from`, run until done, print one "g N: ..." line. 0 or -ENOMEM. */
int sim_files_fetch_one(struct sim_files *f, uint32_t file, uint32_t from, FILE *out);
uint32_t sim_files_count(const struct sim_files *f);
/*
 * Search the shared files by title words from a random live node (real
 * keyword records, sim_search.c) and print the results, numbered; they
 * become what `g N` refers to. 0, -EINVAL (no word) or -ENOMEM.
 */
int sim_files_search(struct sim_files *f, const char *words, FILE *out);
/* Results of the last search: how many, and the file (0-based) of result i (0-based). */
uint32_t sim_files_nresults(const struct sim_files *f);
uint32_t sim_files_result(const struct sim_files *f, uint32_t i);
/* One listing line for file (0-based): number, title, size, chunks, owner. */
void sim_files_describe(const struct sim_files *f, uint32_t file, char *buf, size_t cap);
struct sim *sim_files_world(struct sim_files *f);
/*
 * sim_search.c: keyword search over the shared files. Every file's title
 * gives its keywords (tsn_keywords_from_name); per keyword one real
 * KEYWORD record (sealed entry, slot key from the owner's secret, signed
 * by the word's key pair, as net/publish.c builds them) is put from the
 * owner through its core. A search runs one get per query word on the
 * searching node, opens each entry with its word and intersects by
 * (root id, name), as net/search.c does.
 */
struct sim_doc {
	const char *title;          /* the file name */
	uint32_t owner;
	uint64_t size;
	const uint8_t *root;        /* its root id (TSN_ID_LEN bytes, distinct per doc) */
};
#define SIM_SEARCH_WORDS_MAX 8
struct sim_search_out {
	uint32_t *docs;             /* results (doc indices), in doc order; caller frees */
	size_t n;
	size_t truth;               /* docs whose keywords hold every query word */
	size_t missed, extra;       /* truth not found; results outside the truth */
	unsigned words, hops, msgs;
	uint64_t first_ms, last_ms; /* virtual latency to the first and last result */
	bool ok;                    /* every truth found, nothing else, every get ran */
};
struct sim_search;
/* Index docs (borrowed until free); secrets and nonces from a generator of the seed. */
int sim_search_new(struct sim_search **out, struct sim *s, const struct sim_doc *docs,
                   uint32_t n);
void sim_search_free(struct sim_search *ss);
/* Put every doc's keyword records from its owner (group "kwput"); prints one line. */
int sim_search_publish(struct sim_search *ss, struct sim_report *rep, FILE *out);
/*
 * One search of query from node `from`, run to its end in virtual time.
 * 0, -EINVAL (no word, or more than SIM_SEARCH_WORDS_MAX) or -ENOMEM.
 */
int sim_search_one(struct sim_search *ss, uint32_t from, const char *query,
                   struct sim_search_out *o);
/*
 * `count` searches (group "search"), cfg.rate per second, by random live
 * nodes for one or two words of a random doc's title (alternately); adds
 * search.first_ms, search.last_ms, search.hops, search.msgs. 0 or -ENOMEM.
 */
int sim_search_batch(struct sim_search *ss, struct sim_report *rep, unsigned count, FILE *out);

/* sim_prompt.c: read commands from in until q or its end (prompt shown when tty). */
int sim_prompt(struct sim_files *f, FILE *in, FILE *out, bool tty);

#endif
