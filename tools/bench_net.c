/*
 * bench_net.c: latency and throughput of the network on loopback.
 *
 * Starts N nodes (default 50) in this process on 127.0.0.1, each with a
 * store of its own in a temp dir, all joined through the first. Then:
 *   - record put, and record get from another node: time to the first
 *     value (TSN_DHT_GET_FIRST) and to completion (the whole lookup);
 *   - lookup of a random key;
 *   - fetch of a 256 KiB chunk held by other nodes into an empty store;
 * each printed as median and p99 over ROUNDS operations. Finally a 256 MiB
 * random file is put on node 0 and pushed to its r = 5 holders; a node that
 * joins afterwards (so holds none of it) reads it with the real `tsn get`
 * through its control socket (the network get), next to `tsn get` on node
 * 0 (the local get), in MB/s.
 *
 * Usage: bench-net [NODES] [FILE_MIB]   (default 50 256)
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "control.h"
#include "node.h"
#include "record.h"
#include "store.h"
#include "tree.h"
#include "util.h"

#define ROUNDS 200
#define NMAX 200

struct bnode {
	char dir[PATH_MAX];
	struct tsn_store *st;
	struct tsn_node *node;
	struct tsn_control *ctl;
};

static struct bnode nodes[NMAX + 1];
static char base[] = "/tmp/tsn-bench-net-XXXXXX";

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench-net: %s: %s\n", what, why);
	exit(1);
}

static void
start(int i, const struct tsn_addr *boot)
{
	struct tsn_node_opts o;
	char err[256];

	snprintf(nodes[i].dir, sizeof(nodes[i].dir), "%s/n%d", base, i);
	if (tsn_store_open(&nodes[i].st, nodes[i].dir, NULL, err, sizeof(err)) != 0)
		die("store", err);
	memset(&o, 0, sizeof(o));
	o.store = nodes[i].st;
	o.datadir = nodes[i].dir;
	o.host = "127.0.0.1";
	if (boot != NULL) {
		o.bootstrap[0] = *boot;
		o.nbootstrap = 1;
	}
	if (tsn_node_start(&nodes[i].node, &o, err, sizeof(err)) != 0)
		die("node", err);
}

static void
start_control(int i)
{
	struct tsn_control_opts co = {.store = nodes[i].st, .node = nodes[i].node};
	char err[256];

	if (tsn_control_start(&nodes[i].ctl, &co, err, sizeof(err)) != 0)
		die("control", err);
}

static size_t
peers(int i)
{
	struct tsn_node_status s;
	tsn_node_status(nodes[i].node, &s);
	return s.peers;
}

/* One pending operation waited on from this thread. */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	long status;
	size_t n;
	double first; /* ms when the first value came (gets) */
};

static void
w_init(struct waiter *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = 0;
}

static void
w_finish(struct waiter *w, long status, size_t n)
{
	pthread_mutex_lock(&w->mu);
	w->status = status;
	w->n = n;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
w_wait(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

static void cb_status(void *ud, int status) { w_finish(ud, status, 0); }
static void cb_fetch(void *ud, long len) { w_finish(ud, len, 0); }
static void
cb_records(void *ud, int status, const struct tsn_record *r, size_t n)
{
	(void)r;
	w_finish(ud, status, n);
}
static void
cb_lookup(void *ud, int status, const struct tsn_contact *c, size_t n)
{
	(void)c;
	w_finish(ud, status, n);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *v, int n, int ok)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	printf("  %-32s median %7.3f ms   p99 %7.3f ms   max %7.3f ms   ok %d/%d\n", what,
	       v[n / 2], v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], v[n - 1], ok, n);
}

static void
bench_records(int n)
{
	static double put[ROUNDS], first[ROUNDS], all[ROUNDS];
	uint8_t pk[32], sk[64], salt[8], value[64];
	int okp = 0, okf = 0, oka = 0;

	crypto_sign_keypair(pk, sk);
	for (int i = 0; i < ROUNDS; i++) {
		struct tsn_record r;
		struct waiter w;
		int a = i % n, b = (i * 7 + 3) % n;
		double t0;

		if (b == a)
			b = (b + 1) % n;
		randombytes_buf(salt, sizeof(salt));
		randombytes_buf(value, sizeof(value));
		if (tsn_record_signed(&r, TSN_REC_MUTABLE, sk, NULL, salt, sizeof(salt), value,
		                      sizeof(value), 1, tsn_wall_ms() + 3600 * 1000) != 0)
			die("record", "cannot sign");
		w_init(&w);
		t0 = now_ms();
		if (tsn_node_put_record(nodes[a].node, &r, cb_status, &w) != 0)
			die("put_record", "refused");
		w_wait(&w);
		put[i] = now_ms() - t0;
		okp += w.status > 0;

		w_init(&w);
		t0 = now_ms();
		if (tsn_node_get_records(nodes[b].node, r.key, TSN_DHT_GET_FIRST, cb_records, &w) != 0)
			die("get_records", "refused");
		w_wait(&w);
		first[i] = now_ms() - t0;
		okf += w.status == 0 && w.n > 0;

		w_init(&w);
		t0 = now_ms();
		if (tsn_node_get_records(nodes[b].node, r.key, 0, cb_records, &w) != 0)
			die("get_records", "refused");
		w_wait(&w);
		all[i] = now_ms() - t0;
		oka += w.status == 0 && w.n > 0;
	}
	report("record put", put, ROUNDS, okp);
	report("record get, first value", first, ROUNDS, okf);
	report("record get, to completion", all, ROUNDS, oka);
	sodium_memzero(sk, sizeof(sk));
}

static void
bench_lookups(int n)
{
	static double t[ROUNDS];
	uint8_t key[TSN_ID_LEN];
	int ok = 0;

	for (int i = 0; i < ROUNDS; i++) {
		struct waiter w;
		double t0;

		randombytes_buf(key, sizeof(key));
		w_init(&w);
		t0 = now_ms();
		if (tsn_node_lookup(nodes[i % n].node, key, cb_lookup, &w) != 0)
			die("lookup", "refused");
		w_wait(&w);
		t[i] = now_ms() - t0;
		ok += w.status == 0 && w.n > 0;
	}
	report("lookup", t, ROUNDS, ok);
}

/* Chunks put (pushed) from node 0, then fetched by node `reader`, whose
 * store has none of them (it is not among their holders). */
static void
bench_chunks(int n, int reader)
{
	static double t[ROUNDS];
	struct tsn_codec *c = tsn_codec_new();
	uint8_t *plain = malloc(TSN_CHUNK_MAX), *block = malloc(TSN_BLOCK_MAX);
	static uint8_t ids[ROUNDS][TSN_ID_LEN];
	int ok = 0, got = 0;

	(void)n;
	for (int i = 0; i < ROUNDS; i++) {
		struct tsn_chunk_ref ref;
		struct waiter w;
		long len;

		randombytes_buf(plain, TSN_CHUNK_MAX);
		len = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, TSN_CHUNK_MAX,
		                       block, &ref);
		if (len <= 0 || tsn_store_chunk_put(nodes[0].st, ref.id, block, (size_t)len,
		                                     TSN_CHUNK_PENDING) != 0)
			die("chunk", "cannot store");
		memcpy(ids[i], ref.id, TSN_ID_LEN);
		w_init(&w);
		if (tsn_node_push_chunk(nodes[0].node, ref.id, cb_status, &w) != 0)
			die("push", "refused");
		w_wait(&w);
	}
	for (int i = 0; i < ROUNDS; i++) {
		struct waiter w;
		double t0;

		if (tsn_store_chunk_has(nodes[reader].st, ids[i]))
			continue; /* the reader holds it: not a network fetch */
		w_init(&w);
		t0 = now_ms();
		if (tsn_node_fetch_chunk(nodes[reader].node, ids[i], block, TSN_BLOCK_MAX, cb_fetch,
		                         &w) != 0)
			die("fetch", "refused");
		w_wait(&w);
		t[got++] = now_ms() - t0;
		ok += w.status > 0;
	}
	if (got > 0)
		report("256 KiB chunk fetch", t, got, ok);
	tsn_codec_free(c);
	free(plain);
	free(block);
}

struct putctx {
	struct tsn_store *st;
};

static int
put_block(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *b, size_t len)
{
	struct putctx *p = ud;
	(void)kind;
	return tsn_store_chunk_put(p->st, ref->id, b, len, TSN_CHUNK_PENDING);
}

struct pushall {
	struct tsn_node *node;
	int inflight;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long placed, failed;
};

static void
push_done(void *ud, int status)
{
	struct pushall *p = ud;
	pthread_mutex_lock(&p->mu);
	p->inflight--;
	if (status > 1)
		p->placed++;
	else
		p->failed++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static int
push_one(void *ud, const struct tsn_chunk_ref *ref, int kind)
{
	struct pushall *p = ud;
	(void)kind;
	pthread_mutex_lock(&p->mu);
	while (p->inflight >= 16)
		pthread_cond_wait(&p->cv, &p->mu);
	p->inflight++;
	pthread_mutex_unlock(&p->mu);
	if (tsn_node_push_chunk(p->node, ref->id, push_done, p) != 0)
		push_done(p, -EAGAIN);
	return 0;
}

/* Time `tsn --datadir DIR get URI > /dev/null`; returns seconds or -1. */
static double
time_get(const char *tsn, const char *dir, const char *uri)
{
	char cmd[PATH_MAX * 2 + 300];
	double t0 = now_ms();

	snprintf(cmd, sizeof(cmd), "'%s' --datadir '%s' get %s > /dev/null", tsn, dir, uri);
	if (system(cmd) != 0)
		return -1;
	return (now_ms() - t0) / 1e3;
}

static void
bench_file(int n, unsigned mib, const char *tsn)
{
	struct tsn_encoder_opts eo = {.threads = 2};
	struct putctx pc = {.st = nodes[0].st};
	struct pushall pa = {.node = nodes[0].node};
	struct tsn_encoder *enc;
	struct tsn_file_info info;
	struct tsn_reader *r;
	uint8_t *buf = malloc(1 << 20);
	char uri[TSN_URI_STRLEN + 1];
	struct tsn_addr boot;
	double tl, tn, t0;
	static const uint8_t lo[4] = {127, 0, 0, 1};

	if (tsn_encoder_new(&enc, &eo, put_block, &pc) != 0)
		die("encoder", "cannot start");
	for (unsigned i = 0; i < mib; i++) {
		randombytes_buf(buf, 1 << 20);
		if (tsn_encoder_write(enc, buf, 1 << 20) != 0)
			die("encoder", "write failed");
	}
	memset(&info, 0, sizeof(info));
	if (tsn_encoder_finish(enc, &info.uri) != 0)
		die("encoder", "finish failed");
	tsn_encoder_free(enc);
	snprintf(info.name, sizeof(info.name), "bench.bin");
	if (tsn_store_file_commit(nodes[0].st, &info) != 0)
		die("commit", "failed");
	tsn_uri_format(&info.uri, uri);

	pthread_mutex_init(&pa.mu, NULL);
	pthread_cond_init(&pa.cv, NULL);
	t0 = now_ms();
	if (tsn_reader_open(&r, &info.uri, tsn_store_fetch, nodes[0].st) != 0 ||
	    tsn_reader_walk(r, push_one, &pa) != 0)
		die("push", "walk failed");
	tsn_reader_free(r);
	pthread_mutex_lock(&pa.mu);
	while (pa.inflight > 0)
		pthread_cond_wait(&pa.cv, &pa.mu);
	pthread_mutex_unlock(&pa.mu);
	printf("  push of %u MiB (r = 5): %.0f MB/s of file, %ld blocks placed, %ld not placed elsewhere\n",
	       mib, mib * 1.048576 / ((now_ms() - t0) / 1e3), pa.placed, pa.failed);

	/* A node that joins now holds none of the file. */
	tsn_addr_v4(&boot, lo, tsn_node_port(nodes[0].node));
	start(n, &boot);
	for (int k = 0; k < 100 && peers(n) < 20; k++)
		usleep(100 * 1000);
	start_control(0);
	start_control(n);
	tl = time_get(tsn, nodes[0].dir, uri);
	tn = time_get(tsn, nodes[n].dir, uri);
	if (tl < 0 || tn < 0)
		die("tsn get", "failed");
	printf("  tsn get of %u MiB: local %.0f MB/s, network %.0f MB/s (ratio %.2f)\n", mib,
	       mib * 1.048576 / tl, mib * 1.048576 / tn, tl / tn);
	free(buf);
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50;
	unsigned mib = argc > 2 ? (unsigned)atoi(argv[2]) : 256;
	char tsn[PATH_MAX], *slash;
	struct tsn_addr boot;
	static const uint8_t lo[4] = {127, 0, 0, 1};
	double t0;
	int reader;

	if (n < 2 || n > NMAX || mib == 0) {
		fprintf(stderr, "usage: bench-net [NODES (2..%d)] [FILE_MIB]\n", NMAX);
		return 2;
	}
	if (sodium_init() < 0)
		die("sodium_init", "failed");
	tsn_log_set_level(TSN_LOG_ERROR);
	/* The tsn binary beside this one. */
	snprintf(tsn, sizeof(tsn), "%s", argv[0]);
	slash = strrchr(tsn, '/');
	snprintf(slash != NULL ? slash + 1 : tsn, sizeof(tsn) - (size_t)(slash ? slash + 1 - tsn : 0),
	         "tsn");
	if (access(tsn, X_OK) != 0)
		die(tsn, "not found (bench-net runs the tsn beside it)");
	if (mkdtemp(base) == NULL)
		die("mkdtemp", strerror(errno));

	t0 = now_ms();
	start(0, NULL);
	tsn_addr_v4(&boot, lo, tsn_node_port(nodes[0].node));
	for (int i = 1; i < n; i++)
		start(i, &boot);
	for (int k = 0; k < 200; k++) {
		int ready = 1;
		for (int i = 0; i < n && ready; i++)
			ready = peers(i) >= (size_t)(n - 1 < 20 ? n - 1 : 20);
		if (ready)
			break;
		usleep(100 * 1000);
	}
	sleep(2); /* let the joins' bucket refreshes settle */
	printf("bench-net: %d nodes on 127.0.0.1, joined in %.1f s\n", n, (now_ms() - t0) / 1e3);

	bench_records(n);
	bench_lookups(n);
	reader = n - 1;
	bench_chunks(n, reader);
	bench_file(n, mib, tsn);

	for (int i = n; i >= 0; i--) {
		tsn_control_stop(nodes[i].ctl);
		tsn_node_stop(nodes[i].node);
		tsn_store_close(nodes[i].st);
	}
	{
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		if (system(cmd) != 0)
			fprintf(stderr, "bench-net: could not remove %s\n", base);
	}
	return 0;
}
