/*
 * test_net_repair.c: repair, leave and a small quota, with 10 real nodes on
 * 127.0.0.1 in one process (node_repair.c; docs/protocol.md, "Replication
 * and repair").
 *
 *   - NCHUNKS chunks pushed from node 0 sit at R nodes each (held);
 *   - KILL holders are stopped at once; within a few repair intervals every
 *     chunk is back to R held copies among the live nodes, and the nodes'
 *     repair counters saw under-replicated chunks and placed copies;
 *   - a holder leaves (tsn_node_leave): right after, every chunk has R
 *     copies at nodes other than it;
 *   - node SMALL has a quota of a few blocks: it never goes over it, and
 *     reads through it keep working;
 *   - records (node_records.c), in two small networks of their own: a
 *     record whose publisher is gone, held by one node only among the
 *     nodes that joined after it was stored, is found by a newcomer after
 *     that node leaves (tsn_node_leave hands it on), and after that node is
 *     stopped without leaving when the nodes re-store what they hold
 *     (records_interval_ms).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "node.h"
#include "util.h"

#define N 10
#define R 3
#define KILL 3
#define SMALL 9
#define SMALL_QUOTA (3 * 70000)
#define NCHUNKS 16
#define PLAIN 60000
#define INTERVAL_MS 500

struct tnode {
	char dir[64];
	struct tsn_store *st;
	struct tsn_node *node;
};

static struct tnode nodes[N];
static char base[] = "/tmp/tsn-test-repair-XXXXXX";
static uint8_t ids[NCHUNKS][TSN_ID_LEN];

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
start_at(struct tnode *t, const char *name, uint64_t quota, const struct tsn_addr *boot,
         uint32_t records_ms)
{
	struct tsn_store_opts so = {.quota = quota};
	struct tsn_node_opts o;
	char err[256];
	int rc;

	snprintf(t->dir, sizeof(t->dir), "%s/%s", base, name);
	CHECK_INT(tsn_store_open(&t->st, t->dir, &so, err, sizeof(err)), ==, 0);
	memset(&o, 0, sizeof(o));
	o.store = t->st;
	o.datadir = t->dir;
	o.host = "127.0.0.1";
	if (boot != NULL) {
		o.bootstrap[0] = *boot;
		o.nbootstrap = 1;
	}
	o.replicas = R;
	o.timeout_ms = 5000;
	o.repair_interval_ms = INTERVAL_MS;
	o.records_interval_ms = records_ms;
	rc = tsn_node_start(&t->node, &o, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "start: %s\n", err);
	CHECK_INT(rc, ==, 0);
}

static void
start(int i, const struct tsn_addr *boot)
{
	char name[16];

	snprintf(name, sizeof(name), "n%d", i);
	start_at(&nodes[i], name, i == SMALL ? SMALL_QUOTA : 0, boot, 0);
}

static void
stop(int i)
{
	tsn_node_stop(nodes[i].node);
	nodes[i].node = NULL;
}

struct count {
	const uint8_t *id;
	int found;
};

static int
count_cb(void *ud, const struct tsn_store_chunk_info *ci)
{
	struct count *c = ud;

	if (memcmp(ci->id, c->id, TSN_ID_LEN) == 0 && ci->held)
		c->found = 1;
	return 0;
}

/* Held copies of chunk k at running nodes other than `except`. */
static int
copies(int k, int except)
{
	int total = 0;

	for (int i = 0; i < N; i++) {
		struct count c = {ids[k], 0};
		if (nodes[i].node == NULL || i == except)
			continue;
		CHECK_INT(tsn_store_chunk_list(nodes[i].st, 1u << TSN_STAT_PINNED | 1u << TSN_STAT_HELD,
		                               count_cb, &c), ==, 0);
		total += c.found;
	}
	return total;
}

/* 1 if stopping node i would leave some chunk with no held or pinned copy:
 * repair can only restore what has a copy left somewhere. */
static int
would_orphan(int i)
{
	for (int k = 0; k < NCHUNKS; k++)
		if (copies(k, i) == 0)
			return 1;
	return 0;
}

static int
all_at_r(int except, bool report)
{
	int ok = 1;

	for (int k = 0; k < NCHUNKS; k++) {
		int c = copies(k, except);
		if (c < R) {
			ok = 0;
			if (report)
				fprintf(stderr, "chunk %d: %d copies\n", k, c);
		}
	}
	return ok;
}

static void
wait_r(uint64_t for_ms)
{
	uint64_t end = now_ms() + for_ms;

	while (!all_at_r(-1, false)) {
		if (now_ms() > end) {
			all_at_r(-1, true);
			fprintf(stderr, "repair did not restore %d copies in time\n", R);
			exit(1);
		}
		usleep(100000);
	}
}

static void
wait_peers(size_t want, uint64_t for_ms)
{
	uint64_t end = now_ms() + for_ms;
	struct tsn_node_status st;
	bool all;

	do {
		all = true;
		for (int i = 0; i < N; i++) {
			tsn_node_status(nodes[i].node, &st);
			if (st.peers < want)
				all = false;
		}
		if (all)
			return;
		usleep(50000);
	} while (now_ms() < end);
	fprintf(stderr, "nodes did not see each other in time\n");
	exit(1);
}

/* ---- records ---- */

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished, status;
	size_t nrecs;
};

static void
done_init(struct done *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
}

static void
done_set(struct done *d, int status, size_t nrecs)
{
	pthread_mutex_lock(&d->mu);
	d->status = status;
	d->nrecs = nrecs;
	d->finished = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* Every node call ends by its deadline (the node's timeout). */
static int
done_wait(struct done *d)
{
	pthread_mutex_lock(&d->mu);
	while (!d->finished)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	return d->status;
}

static void
put_cb(void *ud, int status)
{
	done_set(ud, status, 0);
}

static void
get_cb(void *ud, int status, const struct tsn_record *recs, size_t n)
{
	(void)recs;
	done_set(ud, status, n);
}

static int
put_record(struct tnode *t, const struct tsn_record *rec)
{
	struct done d;

	done_init(&d);
	CHECK_INT(tsn_node_put_record(t->node, rec, put_cb, &d), ==, 0);
	return done_wait(&d);
}

/* Records found under key from t (0: none, or the get failed). */
static size_t
get_records(struct tnode *t, const uint8_t key[TSN_ID_LEN])
{
	struct done d;

	done_init(&d);
	CHECK_INT(tsn_node_get_records(t->node, key, 0, get_cb, &d), ==, 0);
	return done_wait(&d) == 0 ? d.nrecs : 0;
}

static size_t
records_held(struct tnode *t)
{
	struct tsn_node_status st;

	tsn_node_status(t->node, &st);
	return st.records;
}

static void
wait_peers_of(struct tnode *t, size_t want)
{
	uint64_t end = now_ms() + 15000;
	struct tsn_node_status st;

	for (;;) {
		tsn_node_status(t->node, &st);
		if (st.peers >= want)
			return;
		CHECK(now_ms() < end);
		usleep(50000);
	}
}

static void
stop_at(struct tnode *t)
{
	tsn_node_stop(t->node);
	t->node = NULL;
	tsn_store_close(t->st);
	t->st = NULL;
}

/*
 * A publisher P and a node A hold a record; P goes; B, C, D join through A
 * (only A holds the record); then A leaves (leave != 0) or just stops after
 * the others re-stored what they hold; a newcomer E finds the record.
 * records_ms: the nodes' re-store interval (0: the default hour, so only a
 * leave can hand the record on).
 */
static void
records_case(const char *tag, bool leave, uint32_t records_ms)
{
	enum { P, A, B, C, D, E, RN };
	static const uint8_t lo[4] = {127, 0, 0, 1};
	struct tnode rn[RN];
	struct tsn_record rec;
	struct tsn_addr boot;
	char name[32], value[64];
	uint64_t end;

	memset(rn, 0, sizeof(rn));
	snprintf(name, sizeof(name), "%s-p", tag);
	start_at(&rn[P], name, 0, NULL, records_ms);
	tsn_addr_v4(&boot, lo, tsn_node_port(rn[P].node));
	snprintf(name, sizeof(name), "%s-a", tag);
	start_at(&rn[A], name, 0, &boot, records_ms);
	wait_peers_of(&rn[P], 1);
	wait_peers_of(&rn[A], 1);

	snprintf(value, sizeof(value), "record of %s", tag);
	CHECK_INT(tsn_record_immutable(&rec, value, strlen(value),
	                               (uint64_t)time(NULL) * 1000 + 3600 * 1000), ==, 0);
	CHECK_INT(put_record(&rn[P], &rec), ==, 2);
	/* the status snapshot follows within 250 ms of the store */
	end = now_ms() + 10000;
	while (records_held(&rn[A]) != 1) {
		CHECK(now_ms() < end);
		usleep(50000);
	}
	stop_at(&rn[P]); /* the publisher is gone */

	tsn_addr_v4(&boot, lo, tsn_node_port(rn[A].node));
	for (int i = B; i <= D; i++) {
		snprintf(name, sizeof(name), "%s-%c", tag, "pabcde"[i]);
		start_at(&rn[i], name, 0, &boot, records_ms);
	}
	for (int i = B; i <= D; i++)
		wait_peers_of(&rn[i], 3); /* A and the two others */

	if (leave) {
		struct tsn_node_leave_res res;
		for (int i = B; i <= D; i++)
			CHECK_U64(records_held(&rn[i]), ==, 0); /* only A holds it */
		CHECK_INT(tsn_node_leave(rn[A].node, 20000, &res), ==, 0);
		CHECK_U64(res.records_handed, ==, 1);
		CHECK_U64(res.records_failed, ==, 0);
	} else {
		/* A re-stores it at B, C and D within a few intervals */
		end = now_ms() + 30000;
		while (records_held(&rn[B]) == 0 || records_held(&rn[C]) == 0 ||
		       records_held(&rn[D]) == 0) {
			CHECK(now_ms() < end);
			usleep(100000);
		}
	}
	/* at B, C or D now (a put that reports 2 nodes: A and another); the
	 * status snapshots follow within 250 ms */
	end = now_ms() + 10000;
	while (records_held(&rn[B]) + records_held(&rn[C]) + records_held(&rn[D]) == 0) {
		CHECK(now_ms() < end);
		usleep(50000);
	}
	stop_at(&rn[A]);

	tsn_addr_v4(&boot, lo, tsn_node_port(rn[B].node));
	snprintf(name, sizeof(name), "%s-e", tag);
	start_at(&rn[E], name, 0, &boot, records_ms);
	wait_peers_of(&rn[E], 1);
	CHECK_U64(get_records(&rn[E], rec.key), ==, 1);
	if (!leave) { /* B re-stores it too */
		struct tsn_node_status st;
		end = now_ms() + 30000;
		for (tsn_node_status(rn[B].node, &st); st.records_restored == 0;
		     tsn_node_status(rn[B].node, &st)) {
			CHECK(now_ms() < end);
			usleep(100000);
		}
	}
	for (int i = 0; i < RN; i++)
		if (rn[i].node != NULL)
			stop_at(&rn[i]);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

int
main(void)
{
	static uint8_t plain[PLAIN], block[TSN_BLOCK_MAX];
	struct tsn_chunk_ref ref;
	struct tsn_codec *codec;
	struct tsn_node_status st;
	struct tsn_store_stat ss;
	struct tsn_addr boot;
	static const uint8_t lo[4] = {127, 0, 0, 1};
	struct tsn_node_leave_res lres;
	uint64_t under = 0, placed = 0, moved = 0;
	int killed = 0, leaver = -1;
	long blen;

	signal(SIGPIPE, SIG_IGN); /* a write to a stopped peer: EPIPE, not death */
	if (sodium_init() < 0)
		return 1;
	tsn_log_set_level(getenv("TSN_TEST_VERBOSE") != NULL ? TSN_LOG_DEBUG : TSN_LOG_ERROR);
	CHECK(mkdtemp(base) != NULL);
	CHECK((codec = tsn_codec_new()) != NULL);

	start(0, NULL);
	tsn_addr_v4(&boot, lo, tsn_node_port(nodes[0].node));
	for (int i = 1; i < N; i++)
		start(i, &boot);
	wait_peers(N - 1, 15000);

	/* ---- NCHUNKS chunks at R nodes each ---- */
	for (int k = 0; k < NCHUNKS; k++) {
		randombytes_buf(plain, sizeof(plain));
		blen = tsn_codec_encode(codec, &tsn_secret_public, TSN_BLOCK_DATA, plain, sizeof(plain),
		                        block, &ref);
		CHECK_INT(blen, >, 0);
		memcpy(ids[k], ref.id, TSN_ID_LEN);
		CHECK_INT(tsn_store_chunk_put(nodes[0].st, ref.id, block, (size_t)blen,
		                              TSN_CHUNK_PENDING), ==, 0);
		CHECK_INT(tsn_node_push_chunk_wait(nodes[0].node, ref.id), >=, R);
	}
	CHECK(all_at_r(-1, true));

	/* ---- KILL holders stop at once (not node 0, nor the small one) ---- */
	for (int i = 1; i < N && killed < KILL; i++) {
		if (i == SMALL || would_orphan(i))
			continue; /* the premise: enough nodes remain */
		struct count c = {ids[killed * 5 % NCHUNKS], 0};
		CHECK_INT(tsn_store_chunk_list(nodes[i].st, 1u << TSN_STAT_HELD, count_cb, &c), ==, 0);
		if (!c.found && i < N - KILL)
			continue; /* prefer holders; take any late in the list */
		stop(i);
		killed++;
	}
	/* Three at once when the placement allows it without taking every copy
	 * of some chunk (r = 3 of 10 nodes: not always); never fewer than two. */
	CHECK_INT(killed, >=, KILL - 1);
	wait_r(30000);
	for (int i = 0; i < N; i++) {
		if (nodes[i].node == NULL)
			continue;
		tsn_node_status(nodes[i].node, &st);
		under += st.repair_under;
		placed += st.repair_copies;
		moved += st.repair_bytes;
	}
	CHECK_U64(under, >, 0);
	CHECK_U64(placed, >, 0);
	/* every copy placed is a whole block */
	CHECK_U64(moved, >=, placed * PLAIN);
	CHECK_U64(moved, <=, placed * TSN_BLOCK_MAX);

	/* ---- a holder of chunk 0 leaves: R copies elsewhere at once ---- */
	for (int i = 1; i < N && leaver < 0; i++) {
		struct count c = {ids[0], 0};
		if (nodes[i].node == NULL || i == SMALL)
			continue;
		CHECK_INT(tsn_store_chunk_list(nodes[i].st, 1u << TSN_STAT_HELD, count_cb, &c), ==, 0);
		if (c.found)
			leaver = i;
	}
	CHECK(leaver > 0);
	CHECK_INT(tsn_node_leave(nodes[leaver].node, 20000, &lres), ==, 0);
	CHECK_U64(lres.handed, >, 0);
	CHECK_U64(lres.failed, ==, 0);
	CHECK(all_at_r(leaver, true));
	stop(leaver);

	/* ---- the small node: reads through it work, its quota holds ---- */
	for (int k = 0; k < NCHUNKS; k++) {
		static uint8_t got[TSN_BLOCK_MAX];
		CHECK_INT(tsn_node_fetch_chunk_wait(nodes[SMALL].node, ids[k], got, sizeof(got)), >, 0);
		tsn_store_stat(nodes[SMALL].st, &ss);
		CHECK_U64(ss.bytes[0] + ss.bytes[1] + ss.bytes[2] + ss.bytes[3], <=, SMALL_QUOTA);
	}
	/* and repair still ends at R copies with it full */
	wait_r(30000);
	tsn_store_stat(nodes[SMALL].st, &ss);
	CHECK_U64(ss.bytes[0] + ss.bytes[1] + ss.bytes[2] + ss.bytes[3], <=, SMALL_QUOTA);

	for (int i = 0; i < N; i++) {
		if (nodes[i].node != NULL)
			stop(i);
		tsn_store_close(nodes[i].st);
	}
	tsn_codec_free(codec);

	records_case("leave", true, 0);
	records_case("churn", false, INTERVAL_MS);

	nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	printf("ok: repair restored %d copies after %d of %d nodes stopped (%llu under-replicated "
	       "seen, %llu copies placed, %llu bytes); leave handed %llu chunks; records survive "
	       "a leave and a stop\n", R, KILL, N, (unsigned long long)under,
	       (unsigned long long)placed, (unsigned long long)moved, (unsigned long long)lres.handed);
	return 0;
}
