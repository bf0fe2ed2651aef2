/*
 * test_net_node.c: real nodes (libuv loop threads, UDP and TCP sockets on
 * 127.0.0.1, port 0) in one process, each with its own store:
 *   - they join through the first one and see each other;
 *   - a pushed chunk reaches exactly the min(r, N) nodes closest to its id
 *     (status = holders), and no other node stores it; a node over its
 *     quota answers FULL and its copy goes to the next closest node (the
 *     pushing node itself when it comes next);
 *   - a node with an empty store fetches it byte-identical, decodes it, and
 *     keeps it as cached; the origin fetches it locally;
 *   - many chunks fetched at once through the callback API all arrive,
 *     each callback once;
 *   - an unknown id gives -ENOENT well within the deadline;
 *   - a hostile peer on the TCP port: bad length prefixes and a body of the
 *     wrong size close its connection, unknown versions and types are
 *     skipped, a stray reply is ignored, a block that does not hash to its
 *     id is refused, GETs are answered (DATA, NONE); the counters say so;
 *   - a record put on one node is found from another; a lookup finds the
 *     others;
 *   - a node restarted on its data dir with no bootstrap rejoins through
 *     its saved peers, with the same id;
 *   - stop completes requests still pending with -ECANCELED, each once;
 *   - a node whose only peer answers a ping and then nothing (a scripted
 *     fake peer) completes a fetch with -ETIMEDOUT at its deadline.
 * Run under ASan/LSan, so stop must free everything.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../check.h"
#include "frame.h"
#include "node.h"
#include "util.h"
#include "wire.h"

#define N 6
#define FULL 4   /* node with a tiny quota: refuses every chunk */
#define R 3
#define TIMEOUT_MS 8000
#define NCHUNKS 12
#define PLAIN1 100000

struct tnode {
	char dir[64];
	struct tsn_store *st;
	struct tsn_node *node;
};

static struct tnode nodes[N + 1]; /* the last: the node of the deadline test */
static char base[] = "/tmp/tsn-test-node-XXXXXX";

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
open_store(struct tnode *t, int i)
{
	struct tsn_store_opts so = {.quota = i == FULL ? 1024 : 0};
	char err[256];

	snprintf(t->dir, sizeof(t->dir), "%s/n%d", base, i);
	CHECK_INT(tsn_store_open(&t->st, t->dir, &so, err, sizeof(err)), ==, 0);
}

static void
start_node(struct tnode *t, uint16_t port, const struct tsn_addr *boot, uint32_t timeout_ms)
{
	struct tsn_node_opts o;
	char err[256];
	int rc;

	memset(&o, 0, sizeof(o));
	o.store = t->st;
	o.datadir = t->dir;
	o.host = "127.0.0.1";
	o.port = port;
	if (boot != NULL) {
		o.bootstrap[0] = *boot;
		o.nbootstrap = 1;
	}
	o.replicas = R;
	o.timeout_ms = timeout_ms;
	rc = tsn_node_start(&t->node, &o, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "start: %s\n", err);
	CHECK_INT(rc, ==, 0);
	CHECK(tsn_node_port(t->node) != 0);
}

static struct tsn_addr
addr_of(struct tsn_node *n)
{
	static const uint8_t lo[4] = {127, 0, 0, 1};
	struct tsn_addr a;

	tsn_addr_v4(&a, lo, tsn_node_port(n));
	return a;
}

static size_t
peers_of(struct tsn_node *n)
{
	struct tsn_node_status st;

	tsn_node_status(n, &st);
	return st.peers;
}

/* Wait until every running node i in [0, count) sees at least want peers. */
static void
wait_peers(size_t count, size_t want, uint64_t for_ms)
{
	uint64_t end = now_ms() + for_ms;
	bool all;

	do {
		all = true;
		for (size_t i = 0; i < count; i++)
			if (nodes[i].node != NULL && peers_of(nodes[i].node) < want)
				all = false;
		if (all)
			return;
		usleep(50000);
	} while (now_ms() < end);
	for (size_t i = 0; i < count; i++)
		if (nodes[i].node != NULL)
			fprintf(stderr, "node %zu: %zu peers\n", i, peers_of(nodes[i].node));
	fprintf(stderr, "nodes did not see each other in time\n");
	exit(1);
}

/* ---- callback results ---- */

struct res {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	long status;
	size_t n;
	struct tsn_record rec;
	uint8_t *buf;
};

static void
res_init(struct res *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
}

static void
res_done(struct res *r, long status)
{
	pthread_mutex_lock(&r->mu);
	r->calls++;
	r->status = status;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void
res_wait(struct res *r, int calls)
{
	pthread_mutex_lock(&r->mu);
	while (r->calls < calls)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

static void
status_cb(void *ud, int status)
{
	res_done(ud, status);
}

static void
records_cb(void *ud, int status, const struct tsn_record *recs, size_t n)
{
	struct res *r = ud;

	pthread_mutex_lock(&r->mu);
	r->n = n;
	if (n > 0)
		r->rec = recs[0];
	pthread_mutex_unlock(&r->mu);
	res_done(r, status);
}

static void
lookup_cb(void *ud, int status, const struct tsn_contact *c, size_t n)
{
	struct res *r = ud;

	(void)c;
	pthread_mutex_lock(&r->mu);
	r->n = n;
	pthread_mutex_unlock(&r->mu);
	res_done(r, status);
}

/* Many requests, one counter. */
struct many {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, ok, canceled, noent, other;
};

static void
many_cb(void *ud, long len)
{
	struct many *m = ud;

	pthread_mutex_lock(&m->mu);
	m->calls++;
	if (len > 0)
		m->ok++;
	else if (len == -ECANCELED)
		m->canceled++;
	else if (len == -ENOENT)
		m->noent++;
	else
		m->other++;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* ---- helpers ---- */

/* Indices of the R nodes closest to id, by XOR distance, leaving out the
 * full node (it refuses, so the next closest takes its copy). */
static void
closest(const uint8_t id[TSN_ID_LEN], int out[R])
{
	int order[N], k = 0;

	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int i = 1; i < N; i++)
		for (int j = i; j > 0 && tsn_id_dist_cmp(id, tsn_node_id(nodes[order[j]].node),
		                                         tsn_node_id(nodes[order[j - 1]].node)) < 0; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < N && k < R; i++)
		if (order[i] != FULL)
			out[k++] = order[i];
}

static bool
in(const int *set, int n, int x)
{
	for (int i = 0; i < n; i++)
		if (set[i] == x)
			return true;
	return false;
}

/* ---- a hostile peer on the TCP port ---- */

static int
tcp_open(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	CHECK_INT(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
	return fd;
}

static void
send_all(int fd, const void *p, size_t n)
{
	CHECK_INT(send(fd, p, n, MSG_NOSIGNAL), ==, (long)n);
}

/* Read one whole frame into buf; returns its length, 0 on EOF. */
static size_t
recv_frame(int fd, uint8_t *buf, size_t cap)
{
	size_t have = 0, need = TSN_FRAME_LEN_SIZE, flen;

	while (have < need) {
		ssize_t r = recv(fd, buf + have, need - have, 0);
		CHECK(r >= 0); /* not a timeout */
		if (r == 0)
			return 0;
		have += (size_t)r;
		if (have == TSN_FRAME_LEN_SIZE && need == TSN_FRAME_LEN_SIZE) {
			CHECK_INT(tsn_frame_need(buf, have, &flen), ==, 0);
			CHECK(flen <= cap);
			need = flen;
		}
	}
	return have;
}

static void
put_frame(int fd, uint8_t type, uint64_t reqid, const uint8_t id[TSN_ID_LEN], const uint8_t *blk,
          size_t blen)
{
	static uint8_t out[TSN_FRAME_MAX];
	struct tsn_frame f = {.type = type, .reqid = reqid, .block = blk, .block_len = blen};
	int len;

	memcpy(f.id, id, TSN_ID_LEN);
	len = tsn_frame_encode(&f, out, sizeof(out));
	CHECK_INT(len, >, 0);
	send_all(fd, out, (size_t)len);
}

static void
hostile_tcp(struct tsn_node *node, const uint8_t id[TSN_ID_LEN], const uint8_t *block, size_t blen)
{
	static uint8_t in[TSN_FRAME_MAX];
	static const uint8_t bad_len[] = {0, 0, 0, 3, 1, 1, 0};
	uint8_t other[TSN_ID_LEN], raw[14 + TSN_ID_LEN];
	struct tsn_node_status st0, st;
	struct tsn_frame f;
	size_t n;
	int fd;

	tsn_node_status(node, &st0);
	/* a length prefix below the header: the node hangs up */
	fd = tcp_open(tsn_node_port(node));
	send_all(fd, bad_len, sizeof(bad_len));
	CHECK_U64(recv_frame(fd, in, sizeof(in)), ==, 0);
	close(fd);
	/* a prefix over one block: the same, before any body arrives */
	fd = tcp_open(tsn_node_port(node));
	send_all(fd, "\x7f\xff\xff\xff\x01\x01", 6);
	CHECK_U64(recv_frame(fd, in, sizeof(in)), ==, 0);
	close(fd);

	/* unknown type, reserved FORWARD, unknown version: skipped; then real requests */
	fd = tcp_open(tsn_node_port(node));
	memset(raw, 0, sizeof(raw));
	raw[3] = 10 + TSN_ID_LEN;
	raw[4] = TSN_FRAME_VERSION;
	raw[5] = 77;
	send_all(fd, raw, sizeof(raw));
	raw[5] = TSN_FRAME_FORWARD;
	send_all(fd, raw, sizeof(raw));
	raw[4] = 9;
	raw[5] = TSN_FRAME_CHUNK_GET;
	send_all(fd, raw, sizeof(raw));
	/* a reply to nothing we asked is ignored */
	put_frame(fd, TSN_FRAME_CHUNK_DATA, 999, id, block, 10);
	put_frame(fd, TSN_FRAME_CHUNK_GET, 5, id, NULL, 0);
	randombytes_buf(other, sizeof(other));
	put_frame(fd, TSN_FRAME_CHUNK_GET, 6, other, NULL, 0);
	/* a block that does not hash to its id is refused */
	put_frame(fd, TSN_FRAME_CHUNK_PUT, 7, other, block, blen);
	for (int i = 0; i < 3; i++) {
		n = recv_frame(fd, in, sizeof(in));
		CHECK_U64(n, >, 0);
		CHECK_INT(tsn_frame_decode(in, n, &f), ==, 0);
		if (f.reqid == 5) {
			CHECK_INT(f.type, ==, TSN_FRAME_CHUNK_DATA);
			CHECK_MEM(f.id, id, TSN_ID_LEN);
			CHECK_U64(f.block_len, ==, blen);
			CHECK_MEM(f.block, block, blen);
		} else if (f.reqid == 6) {
			CHECK_INT(f.type, ==, TSN_FRAME_CHUNK_NONE);
			CHECK_INT(f.status, ==, TSN_FRAME_ST_NOTFOUND);
		} else {
			CHECK_U64(f.reqid, ==, 7);
			CHECK_INT(f.type, ==, TSN_FRAME_CHUNK_ACK);
			CHECK_INT(f.status, ==, TSN_FRAME_ST_INVALID);
		}
	}
	/* a GET with a body of the wrong size: malformed, the node hangs up */
	raw[3] = 10 + TSN_ID_LEN - 1;
	raw[4] = TSN_FRAME_VERSION;
	send_all(fd, raw, sizeof(raw) - 1);
	CHECK_U64(recv_frame(fd, in, sizeof(in)), ==, 0);
	close(fd);
	/* the status is a snapshot, refreshed every 250 ms */
	for (int i = 0; i < 100; i++) {
		tsn_node_status(node, &st);
		if (st.frames_malformed - st0.frames_malformed >= 3)
			break;
		usleep(20000);
	}
	CHECK_U64(st.frames_malformed - st0.frames_malformed, ==, 3);
	CHECK_U64(st.frames_bad - st0.frames_bad, ==, 3);
}

/*
 * A fake peer on 127.0.0.1: UDP answers the first PING with a PONG (so the
 * node puts it in its routing table) and then nothing; TCP accepts
 * connections (the kernel's backlog) and never reads. A fetch at a node
 * that knows only it can only end at its deadline.
 */
static void
silent_peer_deadline(struct tnode *t, const uint8_t id[TSN_ID_LEN])
{
	static struct tsn_msg m;
	static uint8_t buf[TSN_BLOCK_MAX];
	struct sockaddr_in sa = {.sin_family = AF_INET}, from;
	struct timeval tv = {.tv_sec = 5};
	socklen_t sl = sizeof(sa), fl = sizeof(from);
	struct tsn_addr boot, peer;
	uint8_t dg[TSN_WIRE_MTU];
	int u, l, len;
	long rc;
	uint64_t t0;

	/* a UDP port whose TCP twin is free too (another process may hold it) */
	for (int tries = 0;; tries++) {
		CHECK(tries < 50);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = 0;
		sl = sizeof(sa);
		CHECK((u = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
		CHECK_INT(bind(u, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
		CHECK_INT(getsockname(u, (struct sockaddr *)&sa, &sl), ==, 0);
		CHECK((l = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
		if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(l);
		close(u);
	}
	CHECK_INT(setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
	CHECK_INT(listen(l, 8), ==, 0);
	tsn_addr_v4(&boot, (const uint8_t[]){127, 0, 0, 1}, ntohs(sa.sin_port));

	start_node(t, 0, &boot, 700);
	len = (int)recvfrom(u, dg, sizeof(dg), 0, (struct sockaddr *)&from, &fl);
	CHECK_INT(len, >, 0);
	CHECK_INT(tsn_wire_decode(dg, (size_t)len, &m), ==, 0);
	CHECK_INT(m.h.type, ==, TSN_MSG_PING);
	CHECK_INT(tsn_addr_from_sockaddr(&peer, (struct sockaddr *)&from, fl), ==, 0);
	m.h.type = TSN_MSG_PONG;
	randombytes_buf(m.h.sender, TSN_ID_LEN);
	m.u.pong.observed = peer;
	len = tsn_wire_encode(&m, dg, sizeof(dg));
	CHECK_INT(len, >, 0);
	CHECK_INT(sendto(u, dg, (size_t)len, 0, (struct sockaddr *)&from, fl), ==, len);
	wait_peers(N + 1, 1, 5000);

	t0 = now_ms();
	rc = tsn_node_fetch_chunk_wait(t->node, id, buf, sizeof(buf));
	CHECK_INT(rc, ==, -ETIMEDOUT);
	CHECK_U64(now_ms() - t0, >=, 600);
	CHECK_U64(now_ms() - t0, <=, 700 + 800); /* slack for a loaded machine */
	tsn_node_stop(t->node);
	t->node = NULL;
	close(l);
	close(u);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	static uint8_t plain[TSN_CHUNK_MAX], block[TSN_BLOCK_MAX], got[TSN_BLOCK_MAX], out[TSN_CHUNK_MAX];
	static uint8_t blocks[NCHUNKS][TSN_BLOCK_MAX], fetched[NCHUNKS][TSN_BLOCK_MAX];
	static struct tsn_chunk_ref refs[NCHUNKS];
	struct tsn_chunk_ref ref;
	struct tsn_codec *codec;
	struct tsn_addr boot;
	struct tsn_record rec;
	struct tsn_node_status st;
	struct res r;
	struct many m;
	uint8_t unknown[TSN_ID_LEN], node2_id[TSN_ID_LEN];
	int hold[R], origin = 1, asker = -1;
	long blen, len;
	uint64_t t0;

	if (sodium_init() < 0)
		return 1;
	tsn_log_set_level(getenv("TSN_TEST_VERBOSE") != NULL ? TSN_LOG_DEBUG : TSN_LOG_ERROR);
	CHECK(mkdtemp(base) != NULL);
	CHECK((codec = tsn_codec_new()) != NULL);

	/* ---- a network of N nodes, joined through node 0 ---- */
	for (int i = 0; i < N; i++)
		open_store(&nodes[i], i);
	start_node(&nodes[0], 0, NULL, TIMEOUT_MS);
	boot = addr_of(nodes[0].node);
	for (int i = 1; i < N; i++)
		start_node(&nodes[i], 0, &boot, TIMEOUT_MS);
	wait_peers(N, N - 1, 15000);
	tsn_node_status(nodes[0].node, &st);
	CHECK_U64(st.addr.port, ==, tsn_node_port(nodes[0].node));
	CHECK_INT(st.replicas, ==, R);
	CHECK_MEM(st.id, tsn_node_id(nodes[0].node), TSN_ID_LEN);
	{
		struct tsn_contact pc[N];
		CHECK_U64(tsn_node_peers(nodes[0].node, pc, N), ==, N - 1);
	}

	/* ---- push one chunk from node 1 ---- */
	randombytes_buf(plain, PLAIN1);
	blen = tsn_codec_encode(codec, &tsn_secret_public, TSN_BLOCK_DATA, plain, PLAIN1, block, &ref);
	CHECK_INT(blen, >, 0);
	CHECK_INT(tsn_store_chunk_put(nodes[origin].st, ref.id, block, (size_t)blen,
	                              TSN_CHUNK_PENDING), ==, 0);
	CHECK_INT(tsn_node_push_chunk_wait(nodes[origin].node, ref.id), ==, R);
	closest(ref.id, hold);
	if (getenv("TSN_TEST_VERBOSE") != NULL)
		for (int i = 0; i < N; i++) {
			char hex[17];
			tsn_hex(tsn_node_id(nodes[i].node), 8, hex);
			fprintf(stderr, "node %d %s port %u has %d peers %zu holder %d\n", i, hex,
			        tsn_node_port(nodes[i].node), tsn_store_chunk_has(nodes[i].st, ref.id),
			        peers_of(nodes[i].node), in(hold, R, i));
		}
	for (int i = 0; i < N; i++) {
		if (in(hold, R, i))
			CHECK_INT(tsn_store_chunk_has(nodes[i].st, ref.id), ==, 1);
		else if (i != origin)
			CHECK_INT(tsn_store_chunk_has(nodes[i].st, ref.id), ==, 0);
		if (!in(hold, R, i) && i != origin && i != FULL && asker < 0)
			asker = i;
	}
	CHECK(asker >= 0);
	tsn_node_status(nodes[FULL].node, &st);
	CHECK_U64(st.chunks_accepted, ==, 0);
	CHECK_INT(tsn_store_chunk_has(nodes[FULL].st, ref.id), ==, 0);
	/* pushing it again finds it in place: still R holders */
	CHECK_INT(tsn_node_push_chunk_wait(nodes[origin].node, ref.id), ==, R);
	/* a chunk that is not local cannot be pushed */
	randombytes_buf(unknown, sizeof(unknown));
	CHECK_INT(tsn_node_push_chunk_wait(nodes[origin].node, unknown), ==, -ENOENT);

	/* ---- fetch it from a node that does not hold it ---- */
	len = tsn_node_fetch_chunk_wait(nodes[asker].node, ref.id, got, sizeof(got));
	CHECK_INT(len, ==, blen);
	CHECK_MEM(got, block, (size_t)blen);
	CHECK_INT(tsn_codec_decode(codec, &ref, TSN_BLOCK_DATA, got, (size_t)len, out, sizeof(out),
	                           NULL), ==, PLAIN1);
	CHECK_MEM(out, plain, PLAIN1);
	/* cached: written after the caller got it, so wait a little */
	for (int i = 0; i < 200 && tsn_store_chunk_has(nodes[asker].st, ref.id) != 1; i++)
		usleep(10000);
	CHECK_INT(tsn_store_chunk_has(nodes[asker].st, ref.id), ==, 1);
	tsn_node_status(nodes[asker].node, &st);
	CHECK_U64(st.chunks_fetched, ==, 1);
	CHECK_U64(st.connections, >=, 1);
	/* the origin has it locally; a buffer too small says so */
	memset(got, 0, sizeof(got));
	CHECK_INT(tsn_node_fetch(nodes[origin].node, ref.id, got, sizeof(got)), ==, blen);
	CHECK_MEM(got, block, (size_t)blen);
	CHECK_INT(tsn_node_fetch_chunk_wait(nodes[origin].node, ref.id, got, 10), ==, -EMSGSIZE);

	/* ---- an unknown id: -ENOENT, long before the deadline ---- */
	t0 = now_ms();
	CHECK_INT(tsn_node_fetch_chunk_wait(nodes[asker].node, unknown, got, sizeof(got)), ==, -ENOENT);
	CHECK_U64(now_ms() - t0, <, TIMEOUT_MS / 2);

	/* ---- many chunks at once, pushed and fetched concurrently through callbacks ---- */
	{
		static struct res pr[NCHUNKS];
		static long blens[NCHUNKS];

		for (int c = 0; c < NCHUNKS; c++) {
			size_t plen = 1000 + (size_t)c * 20000;
			randombytes_buf(plain, plen);
			blens[c] = tsn_codec_encode(codec, &tsn_secret_public, TSN_BLOCK_DATA, plain, plen,
			                            blocks[c], &refs[c]);
			CHECK_INT(blens[c], >, 0);
			CHECK_INT(tsn_store_chunk_put(nodes[origin].st, refs[c].id, blocks[c],
			                              (size_t)blens[c], TSN_CHUNK_PENDING), ==, 0);
		}
		for (int c = 0; c < NCHUNKS; c++) {
			res_init(&pr[c]);
			CHECK_INT(tsn_node_push_chunk(nodes[origin].node, refs[c].id, status_cb, &pr[c]),
			          ==, 0);
		}
		for (int c = 0; c < NCHUNKS; c++) {
			res_wait(&pr[c], 1);
			CHECK_INT(pr[c].status, ==, R);
			CHECK_INT(pr[c].calls, ==, 1);
		}
		memset(&m, 0, sizeof(m));
		pthread_mutex_init(&m.mu, NULL);
		pthread_cond_init(&m.cv, NULL);
		for (int c = 0; c < NCHUNKS; c++)
			CHECK_INT(tsn_node_fetch_chunk(nodes[asker].node, refs[c].id, fetched[c],
			                               sizeof(fetched[c]), many_cb, &m), ==, 0);
		pthread_mutex_lock(&m.mu);
		while (m.calls < NCHUNKS)
			pthread_cond_wait(&m.cv, &m.mu);
		pthread_mutex_unlock(&m.mu);
		CHECK_INT(m.ok, ==, NCHUNKS);
		for (int c = 0; c < NCHUNKS; c++)
			CHECK_MEM(fetched[c], blocks[c], (size_t)blens[c]);
		usleep(100000); /* no second callback comes late */
		CHECK_INT(m.calls, ==, NCHUNKS);
	}

	/* ---- a hostile peer on the TCP port; the node still serves after it ---- */
	hostile_tcp(nodes[origin].node, ref.id, block, (size_t)blen);
	CHECK_INT(tsn_node_fetch_chunk_wait(nodes[asker].node, ref.id, got, sizeof(got)), ==, blen);

	/* ---- records and lookups across nodes ---- */
	CHECK_INT(tsn_record_immutable(&rec, "hello, network", 14, wall_ms() + 3600 * 1000), ==, 0);
	res_init(&r);
	CHECK_INT(tsn_node_put_record(nodes[1].node, &rec, status_cb, &r), ==, 0);
	res_wait(&r, 1);
	CHECK_INT(r.status, >=, 1);
	res_init(&r);
	CHECK_INT(tsn_node_get_records(nodes[4].node, rec.key, TSN_DHT_GET_FIRST, records_cb, &r), ==, 0);
	res_wait(&r, 1);
	CHECK_INT(r.status, ==, 0);
	CHECK_U64(r.n, >=, 1);
	CHECK_INT(r.rec.value_len, ==, 14);
	CHECK_MEM(r.rec.value, "hello, network", 14);
	res_init(&r);
	CHECK_INT(tsn_node_get_records(nodes[4].node, unknown, 0, records_cb, &r), ==, 0);
	res_wait(&r, 1);
	CHECK_INT(r.status, ==, -ENOENT);
	res_init(&r);
	CHECK_INT(tsn_node_lookup(nodes[0].node, unknown, lookup_cb, &r), ==, 0);
	res_wait(&r, 1);
	CHECK_INT(r.status, ==, 0);
	CHECK_U64(r.n, ==, N - 1);
	/* bad arguments fail now */
	CHECK_INT(tsn_node_lookup(nodes[0].node, unknown, NULL, &r), ==, -EINVAL);
	rec.value[0] ^= 1;
	CHECK_INT(tsn_node_put_record(nodes[1].node, &rec, status_cb, &r), ==, -EBADMSG);
	rec.value[0] ^= 1;

	/* ---- restart node 2 on its data dir, no bootstrap, another port: the
	 * others do not know where it is now, only its saved peers bring it back ---- */
	{
		uint16_t port = tsn_node_port(nodes[2].node);
		memcpy(node2_id, tsn_node_id(nodes[2].node), TSN_ID_LEN);
		tsn_node_stop(nodes[2].node);
		nodes[2].node = NULL;
		start_node(&nodes[2], 0, NULL, TIMEOUT_MS);
		CHECK(tsn_node_port(nodes[2].node) != port);
		CHECK_MEM(tsn_node_id(nodes[2].node), node2_id, TSN_ID_LEN);
		wait_peers(N, N - 1, 15000);
		res_init(&r);
		CHECK_INT(tsn_node_get_records(nodes[2].node, rec.key, TSN_DHT_GET_FIRST, records_cb,
		                               &r), ==, 0);
		res_wait(&r, 1);
		CHECK_INT(r.status, ==, 0);
		CHECK_MEM(r.rec.value, "hello, network", 14);
	}

	/* ---- stop with requests pending: each completes once ---- */
	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.mu, NULL);
	pthread_cond_init(&m.cv, NULL);
	for (int i = 0; i < 40; i++) {
		static uint8_t sink[40][TSN_BLOCK_MAX];
		uint8_t id[TSN_ID_LEN];
		randombytes_buf(id, sizeof(id));
		CHECK_INT(tsn_node_fetch_chunk(nodes[3].node, id, sink[i], sizeof(sink[i]), many_cb, &m),
		          ==, 0);
	}
	tsn_node_stop(nodes[3].node);
	nodes[3].node = NULL;
	CHECK_INT(m.calls, ==, 40);
	CHECK_INT(m.ok + m.other, ==, 0);
	CHECK_INT(m.canceled + m.noent, ==, 40);

	for (int i = 0; i < N; i++) {
		tsn_node_stop(nodes[i].node);
		nodes[i].node = NULL;
	}

	/* ---- a peer that goes silent: a fetch ends at its deadline ---- */
	open_store(&nodes[N], N);
	silent_peer_deadline(&nodes[N], unknown);
	tsn_node_stop(NULL);

	for (int i = 0; i <= N; i++)
		tsn_store_close(nodes[i].st);
	tsn_codec_free(codec);
	nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	printf("node ok\n");
	return 0;
}
