/*
 * test_net_sim_churn.c: a node that drops out is timed out and replaced in
 * the routing tables that query it, and lookups still converge on the true
 * k closest live nodes; hostile input (garbage, mutated messages, replies
 * nobody asked for, replies of the wrong type) is dropped and counted
 * without harm; unsolicited requests are rate-limited per source.
 */
#include <errno.h>

#include "../check.h"
#include "sim.h"
#include "wire.h"

static struct sim *s;

static struct sim_op
lookup(unsigned from, const uint8_t key[TSN_ID_LEN])
{
	struct sim_op op = {0};

	CHECK_INT(tsn_dht_lookup(sim_dht(s, from), sim_now(s), key, &op), ==, 0);
	sim_kick(s, from);
	CHECK(sim_wait(s, &op, 60000));
	return op;
}

static void
test_dropout(void)
{
	const struct tsn_table *t0 = tsn_dht_table(sim_dht(s, 0));
	uint8_t truth[20][TSN_ID_LEN];
	unsigned dead = UINT32_MAX, exact = 0;
	struct tsn_dht_stats st;

	/* a node in node 0's full bucket 0 */
	CHECK_INT(tsn_table_bucket_count(t0, 0), ==, 20);
	for (unsigned i = 1; i < sim_count(s) && dead == UINT32_MAX; i++)
		if (tsn_table_bucket_of(t0, sim_id(s, i)) == 0 && tsn_table_find(t0, sim_id(s, i), NULL))
			dead = i;
	CHECK(dead != UINT32_MAX);
	sim_set_down(s, dead, true);

	/* node 0 looks for it: its queries time out, it is evicted and replaced */
	for (int i = 0; i < 3 && tsn_table_find(t0, sim_id(s, dead), NULL); i++) {
		struct sim_op op = lookup(0, sim_id(s, dead));
		CHECK_INT(op.status, ==, 0);
		for (size_t j = 0; j < op.n; j++)
			CHECK(memcmp(op.nodes[j].id, sim_id(s, dead), TSN_ID_LEN) != 0);
	}
	CHECK(!tsn_table_find(t0, sim_id(s, dead), NULL));
	CHECK_INT(tsn_table_bucket_count(t0, 0), ==, 20);
	tsn_dht_stats(sim_dht(s, 0), &st);
	CHECK_U64(st.timeouts, >=, 1);

	/*
	 * Five more leave. Right away, lookups from live nodes return only live
	 * nodes, closest first, and nearly all of the true k closest: a live
	 * node that every asked neighbour ranks behind dead ones (not yet
	 * noticed) can stay hidden. Once the network has noticed (bucket
	 * refreshes, 16 minutes) lookups are exact again.
	 */
	for (unsigned i = 1; i <= 5; i++)
		sim_set_down(s, (dead + i * 7) % sim_count(s), true);
	for (int round = 0; round < 2; round++) {
		exact = 0;
		for (unsigned t = 0; t < 12; t++) {
			uint8_t key[TSN_ID_LEN], all[60][TSN_ID_LEN];
			unsigned src = (t * 13 + 1) % sim_count(s), found = 0;
			struct sim_op op;
			size_t want, live;

			if (src == dead || src % 7 == dead % 7)
				src = 0;
			sim_random_id(s, key);
			op = lookup(src, key);
			CHECK_INT(op.status, ==, 0);
			want = sim_true_closest(s, key, (int)src, truth, 20);
			live = sim_true_closest(s, key, (int)src, all, 60);
			CHECK_INT(op.n, <=, want);
			for (size_t i = 0; i < op.n; i++) {
				bool is_live = false;
				for (size_t j = 0; j < live; j++)
					is_live |= memcmp(op.nodes[i].id, all[j], TSN_ID_LEN) == 0;
				CHECK(is_live);
				if (i > 0)
					CHECK(tsn_id_dist_cmp(key, op.nodes[i - 1].id, op.nodes[i].id) < 0);
				for (size_t j = 0; j < want; j++)
					found += memcmp(op.nodes[i].id, truth[j], TSN_ID_LEN) == 0;
			}
			/* each of the 6 dead can push one live node out of a reply */
			CHECK_INT(found, >=, want - 6);
			exact += found == want;
		}
		printf("after churn, %s: %u/12 lookups exact\n", round == 0 ? "at once" : "16 min later",
		       exact);
		if (round == 1)
			CHECK_INT(exact, ==, 12);
		sim_run_until(s, sim_now(s) + 16 * 60000);
	}
	for (unsigned i = 0; i <= 5; i++)
		sim_set_down(s, (dead + i * 7) % sim_count(s), false);
}

static uint64_t rng = 99;

static uint32_t
rnd(void)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng >> 33);
}

static void
test_hostile(void)
{
	static struct tsn_msg m;
	uint8_t buf[TSN_WIRE_MTU + 200], valid[4][TSN_WIRE_MTU];
	size_t vlen[4];
	struct tsn_addr from;
	struct tsn_dht_stats before, after;
	struct sim_op op = {0};
	struct tsn_addr a1 = sim_addr(1);
	unsigned dropped = 0;
	int len;

	/* some valid datagrams to mutate */
	memset(&m, 0, sizeof(m));
	m.h.type = TSN_MSG_FIND_NODE;
	len = tsn_wire_encode(&m, valid[0], TSN_WIRE_MTU);
	vlen[0] = (size_t)len;
	m.h.type = TSN_MSG_NODES;
	m.u.nodes.n = 5;
	for (int i = 0; i < 5; i++)
		m.u.nodes.nodes[i].addr = sim_addr((unsigned)i);
	vlen[1] = (size_t)tsn_wire_encode(&m, valid[1], TSN_WIRE_MTU);
	m.h.type = TSN_MSG_STORE;
	CHECK_INT(tsn_record_immutable(&m.u.store.rec, "x", 1, sim_now(s) + 1000), ==, 0);
	vlen[2] = (size_t)tsn_wire_encode(&m, valid[2], TSN_WIRE_MTU);
	m.h.type = TSN_MSG_FIND_VALUE;
	vlen[3] = (size_t)tsn_wire_encode(&m, valid[3], TSN_WIRE_MTU);

	tsn_dht_stats(sim_dht(s, 2), &before);
	for (int i = 0; i < 20000; i++) {
		size_t n;
		uint8_t ip[4] = {10, (uint8_t)(rnd() & 255), (uint8_t)(rnd() & 255), 1};
		tsn_addr_v4(&from, ip, (uint16_t)(1 + rnd() % 60000));
		if (i % 2 == 0) { /* garbage, sometimes with a plausible header */
			n = rnd() % sizeof(buf);
			for (size_t j = 0; j < n; j++)
				buf[j] = (uint8_t)rnd();
			if (i % 4 == 0 && n >= 2) {
				buf[0] = TSN_WIRE_VERSION;
				buf[1] = (uint8_t)(rnd() % 11);
			}
		} else { /* a valid message with a few bytes changed or cut */
			int v = (int)(rnd() % 4);
			n = vlen[v];
			memcpy(buf, valid[v], n);
			for (int k = 0; k < 3; k++)
				buf[2 + rnd() % (n - 2)] = (uint8_t)rnd();
			if (rnd() % 2)
				n = rnd() % (n + 1);
		}
		if (sim_inject(s, 2, &from, buf, n) != 0)
			dropped++;
	}
	tsn_dht_stats(sim_dht(s, 2), &after);
	printf("hostile: %u of 20000 dropped (%llu malformed, %llu bad version, %llu bad type, "
	       "%llu unsolicited, %llu rate-limited)\n", dropped,
	       (unsigned long long)(after.malformed - before.malformed),
	       (unsigned long long)(after.bad_version - before.bad_version),
	       (unsigned long long)(after.bad_type - before.bad_type),
	       (unsigned long long)(after.unsolicited - before.unsolicited),
	       (unsigned long long)(after.rate_limited - before.rate_limited));
	CHECK_U64(after.malformed - before.malformed, >, 1000);
	CHECK_U64(after.bad_type - before.bad_type, >, 100);
	CHECK_U64(after.bad_version - before.bad_version, >, 100);
	CHECK_INT(tsn_table_count(tsn_dht_table(sim_dht(s, 2))), <=, 256 * 20);
	/* still healthy: node 2 answers a ping */
	CHECK_INT(tsn_dht_ping(sim_dht(s, 3), sim_now(s), &(struct tsn_addr){0}, &op), ==,
	          -EADDRNOTAVAIL);
	a1 = sim_addr(2);
	CHECK_INT(tsn_dht_ping(sim_dht(s, 3), sim_now(s), &a1, &op), ==, 0);
	sim_kick(s, 3);
	CHECK(sim_wait(s, &op, 10000));
	CHECK_INT(op.status, ==, 0);
	sim_run_until(s, sim_now(s) + 120000); /* let the junk contacts time out */
}

static void
test_replies(void)
{
	static struct tsn_msg m, ping;
	uint8_t buf[TSN_WIRE_MTU], raw[TSN_WIRE_MTU];
	struct tsn_addr rawaddr = sim_addr(0);
	struct sim_op op = {0};
	size_t n;
	int len;

	rawaddr.port = SIM_RAW_PORT;
	/* a reply to nothing */
	memset(&m, 0, sizeof(m));
	m.h.type = TSN_MSG_PONG;
	m.h.txid = 12345;
	memset(m.h.sender, 0x11, TSN_ID_LEN);
	m.u.pong.observed = sim_addr(4);
	len = tsn_wire_encode(&m, buf, sizeof(buf));
	CHECK_INT(sim_inject(s, 4, &rawaddr, buf, (size_t)len), ==, -ENOENT);

	/* node 4 pings the raw endpoint; a NODES reply with the right txid is the wrong type */
	CHECK_INT(tsn_dht_ping(sim_dht(s, 4), sim_now(s), &rawaddr, &op), ==, 0);
	n = sim_raw_last(s, raw, sizeof(raw));
	CHECK_INT(tsn_wire_decode(raw, n, &ping), ==, 0);
	CHECK_INT(ping.h.type, ==, TSN_MSG_PING);
	m.h.type = TSN_MSG_NODES;
	m.h.txid = ping.h.txid;
	m.u.nodes.n = 0;
	len = tsn_wire_encode(&m, buf, sizeof(buf));
	CHECK_INT(sim_inject(s, 4, &rawaddr, buf, (size_t)len), ==, -EPROTO);
	/* the right reply from the wrong address: nothing matches */
	m.h.type = TSN_MSG_PONG;
	m.u.pong.observed = sim_addr(4);
	len = tsn_wire_encode(&m, buf, sizeof(buf));
	CHECK_INT(len, >, 0);
	CHECK_INT(sim_inject(s, 4, &(struct tsn_addr){.family = 4, .ip = {10, 9, 9, 9}, .port = 9},
	                     buf, (size_t)len), ==, -ENOENT);
	CHECK_INT(op.calls, ==, 0);
	/* the right reply completes the ping, once */
	CHECK_INT(sim_inject(s, 4, &rawaddr, buf, (size_t)len), ==, 0);
	CHECK_INT(op.calls, ==, 1);
	CHECK_INT(op.status, ==, 0);
	CHECK_MEM(op.id, m.h.sender, TSN_ID_LEN);
	CHECK_INT(sim_inject(s, 4, &rawaddr, buf, (size_t)len), ==, -ENOENT); /* replayed */
	CHECK_INT(op.calls, ==, 1);
	/* a datagram claiming our own id is dropped */
	memcpy(m.h.sender, sim_id(s, 4), TSN_ID_LEN);
	m.h.type = TSN_MSG_PING;
	len = tsn_wire_encode(&m, buf, sizeof(buf));
	CHECK_INT(sim_inject(s, 4, &rawaddr, buf, (size_t)len), ==, -ELOOP);
	/* from a martian source */
	CHECK_INT(sim_inject(s, 4, &(struct tsn_addr){.family = 4, .ip = {224, 0, 0, 1}, .port = 9},
	                     buf, (size_t)len), ==, -EADDRNOTAVAIL);
}

static void
test_rate_limit(void)
{
	static struct tsn_msg m;
	uint8_t buf[TSN_WIRE_MTU];
	struct tsn_addr rawaddr = sim_addr(0), other = sim_addr(0);
	unsigned before = sim_raw_count(s), ok = 0, limited = 0;
	int len;

	rawaddr.port = SIM_RAW_PORT;
	other.port = SIM_RAW_PORT - 1; /* another loopback source: its own bucket */
	memset(&m, 0, sizeof(m));
	m.h.type = TSN_MSG_PING;
	memset(m.h.sender, 0x22, TSN_ID_LEN);
	len = tsn_wire_encode(&m, buf, sizeof(buf));
	struct tsn_ratelimit_opts rl;

	tsn_ratelimit_opts_default(&rl);
	for (unsigned i = 0; i < 5 * rl.burst; i++) {
		int rc = sim_inject(s, 5, &rawaddr, buf, (size_t)len);
		ok += rc == 0;
		limited += rc == -EAGAIN;
	}
	CHECK_INT(ok, ==, rl.burst);        /* the burst */
	CHECK_INT(limited, ==, 4 * rl.burst);
	CHECK_INT(sim_raw_count(s), ==, before + rl.burst);
	CHECK_INT(sim_inject(s, 5, &other, buf, (size_t)len), ==, 0);
	/* refilled at rl.rate per second */
	sim_run_until(s, sim_now(s) + 1000);
	ok = 0;
	for (unsigned i = 0; i < 2 * rl.rate; i++)
		ok += sim_inject(s, 5, &rawaddr, buf, (size_t)len) == 0;
	CHECK_INT(ok, ==, rl.rate);
}

int
main(void)
{
	struct sim_opts so = {.nodes = 60, .seed = 5, .lat_min_ms = 2, .lat_max_ms = 15};

	s = sim_new(&so);
	sim_join_all(s, 20, 60000);
	test_dropout();
	test_replies();
	test_rate_limit();
	test_hostile();
	sim_free(s);
	printf("sim churn ok\n");
	return 0;
}
