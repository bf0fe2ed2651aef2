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
 *     reads through it keep working.
 */
#include <errno.h>
#include <ftw.h>
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
start(int i, const struct tsn_addr *boot)
{
	struct tsn_store_opts so = {.quota = i == SMALL ? SMALL_QUOTA : 0};
	struct tsn_node_opts o;
	char err[256];
	int rc;

	snprintf(nodes[i].dir, sizeof(nodes[i].dir), "%s/n%d", base, i);
	CHECK_INT(tsn_store_open(&nodes[i].st, nodes[i].dir, &so, err, sizeof(err)), ==, 0);
	memset(&o, 0, sizeof(o));
	o.store = nodes[i].st;
	o.datadir = nodes[i].dir;
	o.host = "127.0.0.1";
	if (boot != NULL) {
		o.bootstrap[0] = *boot;
		o.nbootstrap = 1;
	}
	o.replicas = R;
	o.timeout_ms = 5000;
	o.repair_interval_ms = INTERVAL_MS;
	rc = tsn_node_start(&nodes[i].node, &o, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "start: %s\n", err);
	CHECK_INT(rc, ==, 0);
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
	uint64_t handed, short_, failed, under = 0, placed = 0;
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
	}
	CHECK_U64(under, >, 0);
	CHECK_U64(placed, >, 0);

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
	CHECK_INT(tsn_node_leave(nodes[leaver].node, 20000, &handed, &short_, &failed), ==, 0);
	CHECK_U64(handed, >, 0);
	CHECK_U64(failed, ==, 0);
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
	nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	printf("ok: repair restored %d copies after %d of %d nodes stopped (%llu under-replicated "
	       "seen, %llu copies placed); leave handed %llu chunks\n", R, KILL, N,
	       (unsigned long long)under, (unsigned long long)placed, (unsigned long long)handed);
	return 0;
}
