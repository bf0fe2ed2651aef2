/*
 * test_net_sim_lookup.c: DHT cores on the in-memory network. Two nodes find
 * each other and ping; 200 nodes join one by one, after which iterative
 * lookups from random nodes return exactly the true k closest ids (checked
 * against a sorted list of all ids); each operation completes exactly once;
 * two newcomers that found only each other still join the network.
 */
#include <errno.h>

#include "../check.h"
#include "sim.h"

static void
test_two(void)
{
	struct sim_opts so = {.nodes = 2, .seed = 1, .lat_min_ms = 1, .lat_max_ms = 5};
	struct sim *s = sim_new(&so);
	struct sim_op op = {0};
	struct tsn_addr a0 = sim_addr(0), nobody = sim_addr(7);
	uint8_t key[TSN_ID_LEN];
	struct tsn_dht_stats st;

	sim_join_all(s, 10, 5000);
	CHECK_INT(tsn_table_count(tsn_dht_table(sim_dht(s, 0))), ==, 1);
	CHECK_INT(tsn_table_count(tsn_dht_table(sim_dht(s, 1))), ==, 1);

	CHECK_INT(tsn_dht_ping(sim_dht(s, 1), sim_now(s), &a0, &op), ==, 0);
	CHECK_INT(op.calls, ==, 0); /* never inside the call */
	sim_kick(s, 1);
	CHECK(sim_wait(s, &op, 10000));
	CHECK_INT(op.status, ==, 0);
	CHECK_MEM(op.id, sim_id(s, 0), TSN_ID_LEN);

	sim_op_clear(&op);
	CHECK_INT(tsn_dht_ping(sim_dht(s, 1), sim_now(s), &nobody, &op), ==, 0);
	sim_kick(s, 1);
	CHECK(sim_wait(s, &op, 10000));
	CHECK_INT(op.status, ==, -ETIMEDOUT);

	sim_op_clear(&op);
	sim_random_id(s, key);
	CHECK_INT(tsn_dht_lookup(sim_dht(s, 0), sim_now(s), key, &op), ==, 0);
	sim_kick(s, 0);
	CHECK(sim_wait(s, &op, 60000));
	CHECK_INT(op.status, ==, 0);
	CHECK_INT(op.n, ==, 1);
	CHECK_MEM(op.nodes[0].id, sim_id(s, 1), TSN_ID_LEN);
	sim_run_until(s, sim_now(s) + 60000);
	CHECK_INT(op.calls, ==, 1);

	/* a node alone: lookups fail with EHOSTUNREACH, later, once */
	sim_set_down(s, 1, true);
	sim_run_until(s, sim_now(s) + 20 * 60000);
	sim_op_clear(&op);
	CHECK_INT(tsn_dht_lookup(sim_dht(s, 0), sim_now(s), key, &op), ==, 0);
	sim_kick(s, 0);
	CHECK(sim_wait(s, &op, 60000));
	CHECK(op.status == -EHOSTUNREACH || op.status == 0);

	tsn_dht_stats(sim_dht(s, 0), &st);
	CHECK_U64(st.malformed, ==, 0);
	CHECK_U64(st.unsolicited, ==, 0);
	sim_set_down(s, 1, false);
	sim_free(s);
}

/* Caps: the 33rd concurrent operation fails now and never calls back; the
 * others complete once; freeing the node cancels what is still running. */
static void
test_caps_and_cancel(void)
{
	struct sim_opts so = {.nodes = 3, .seed = 2, .lat_min_ms = 1, .lat_max_ms = 5};
	struct sim *s = sim_new(&so);
	static struct sim_op ops[33], ping, late;
	struct tsn_addr nobody = sim_addr(9);
	uint8_t key[TSN_ID_LEN];

	sim_join_all(s, 10, 5000);
	for (int i = 0; i < 33; i++) {
		sim_random_id(s, key);
		CHECK_INT(tsn_dht_lookup(sim_dht(s, 2), sim_now(s), key, &ops[i]), ==, i < 32 ? 0 : -EAGAIN);
	}
	sim_kick(s, 2);
	sim_run_until(s, sim_now(s) + 60000);
	for (int i = 0; i < 33; i++) {
		CHECK_INT(ops[i].calls, ==, i < 32 ? 1 : 0);
		if (i < 32)
			CHECK_INT(ops[i].status, ==, 0);
	}
	/* running operations at free: completed with -ECANCELED, once */
	sim_set_down(s, 0, true);
	sim_set_down(s, 1, true);
	CHECK_INT(tsn_dht_ping(sim_dht(s, 2), sim_now(s), &nobody, &ping), ==, 0);
	CHECK_INT(tsn_dht_get_records(sim_dht(s, 2), sim_now(s), key, 0, &late), ==, 0);
	sim_kick(s, 2);
	sim_run_until(s, sim_now(s) + 100);
	CHECK_INT(ping.calls + late.calls, ==, 0);
	sim_free(s);
	CHECK_INT(ping.calls, ==, 1);
	CHECK_INT(ping.status, ==, -ECANCELED);
	CHECK_INT(late.calls, ==, 1);
	CHECK_INT(late.status, ==, -ECANCELED);
	for (int i = 0; i < 33; i++)
		sim_op_clear(&ops[i]);
	sim_op_clear(&late);
}

static void
test_converge(unsigned nodes, unsigned trials, unsigned loss)
{
	struct sim_opts so = {.nodes = nodes, .seed = 7, .lat_min_ms = 1, .lat_max_ms = 20,
	                      .loss_pct = loss};
	struct sim *s = sim_new(&so);
	uint8_t (*truth)[TSN_ID_LEN] = malloc(20 * TSN_ID_LEN);
	unsigned exact = 0, min_peers = UINT32_MAX, worst = 20;
	uint64_t sent0;

	CHECK(truth != NULL);
	sim_join_all(s, 20, 120000);
	for (unsigned i = 0; i < nodes; i++) {
		unsigned p = (unsigned)tsn_table_count(tsn_dht_table(sim_dht(s, i)));
		if (p < min_peers)
			min_peers = p;
	}
	printf("%u nodes joined: smallest table %u contacts, %llu datagrams\n", nodes, min_peers,
	       (unsigned long long)sim_sent(s));
	if (loss == 0)
		CHECK_INT(min_peers, >=, nodes - 1 < 20 ? nodes - 1 : 20);

	sent0 = sim_sent(s);
	for (unsigned t = 0; t < trials; t++) {
		struct sim_op op = {0};
		uint8_t target[TSN_ID_LEN];
		unsigned src = (unsigned)(t * 7919u % nodes);
		size_t want;

		sim_random_id(s, target);
		if (t % 4 == 3) /* also targets that are node ids */
			memcpy(target, sim_id(s, (src + 1) % nodes), TSN_ID_LEN);
		CHECK_INT(tsn_dht_lookup(sim_dht(s, src), sim_now(s), target, &op), ==, 0);
		sim_kick(s, src);
		CHECK(sim_wait(s, &op, 60000));
		CHECK_INT(op.status, ==, 0);
		want = sim_true_closest(s, target, (int)src, truth, 20);
		unsigned found = 0;
		for (size_t i = 0; i < op.n; i++) {
			for (size_t j = 0; j < want; j++)
				found += memcmp(op.nodes[i].id, truth[j], TSN_ID_LEN) == 0;
			if (i > 0)
				CHECK(tsn_id_dist_cmp(target, op.nodes[i - 1].id, op.nodes[i].id) < 0);
		}
		if (found < worst)
			worst = found;
		exact += found == want && op.n == want;
	}
	printf("%u%% loss: %u/%u lookups returned exactly the true k closest (worst %u/20), "
	       "%.1f datagrams each\n", loss, exact, trials, worst,
	       (double)(sim_sent(s) - sent0) / trials);
	if (loss == 0)
		CHECK_INT(exact, ==, trials);
	else { /* a node whose datagrams are lost twice looks dead to that lookup */
		CHECK_INT(worst, >=, 18);
		CHECK_INT(exact, >=, trials * 2 / 3);
	}
	free(truth);
	sim_free(s);
}

/*
 * Node 30 bootstraps through node 5 while 5 is down (its PING is lost), then
 * node 31 bootstraps through 30: each knows only the other. Node 5 comes
 * back; both must end up joined (full tables), not as an island whose join
 * lookups only ever ask each other.
 */
static void
test_island(void)
{
	struct sim_opts so = {.nodes = 32, .seed = 3, .lat_min_ms = 1, .lat_max_ms = 20};
	struct sim *s = sim_new(&so);
	struct tsn_addr a;

	for (unsigned i = 1; i < 30; i++) {
		a = sim_addr(i - 1);
		CHECK_INT(tsn_dht_bootstrap(sim_dht(s, i), sim_now(s), &a), ==, 0);
		sim_kick(s, i);
		sim_run_until(s, sim_now(s) + 20);
	}
	sim_run_until(s, sim_now(s) + 30000);
	sim_set_down(s, 5, true);
	a = sim_addr(5);
	CHECK_INT(tsn_dht_bootstrap(sim_dht(s, 30), sim_now(s), &a), ==, 0);
	sim_kick(s, 30);
	sim_run_until(s, sim_now(s) + 100);
	a = sim_addr(30);
	CHECK_INT(tsn_dht_bootstrap(sim_dht(s, 31), sim_now(s), &a), ==, 0);
	sim_kick(s, 31);
	sim_run_until(s, sim_now(s) + 500);
	CHECK_INT(tsn_table_count(tsn_dht_table(sim_dht(s, 30))), ==, 1);
	CHECK_INT(tsn_table_count(tsn_dht_table(sim_dht(s, 31))), ==, 1);
	sim_set_down(s, 5, false);
	sim_run_until(s, sim_now(s) + 120000);
	printf("island: tables of 30 and 31 after 120 s: %zu, %zu contacts\n",
	       tsn_table_count(tsn_dht_table(sim_dht(s, 30))),
	       tsn_table_count(tsn_dht_table(sim_dht(s, 31))));
	CHECK_INT(tsn_table_count(tsn_dht_table(sim_dht(s, 30))), >=, 20);
	CHECK_INT(tsn_table_count(tsn_dht_table(sim_dht(s, 31))), >=, 20);
	sim_free(s);
}

int
main(void)
{
	test_two();
	test_caps_and_cancel();
	test_island();
	test_converge(30, 20, 0);
	test_converge(200, 40, 0);
	test_converge(100, 30, 5);
	printf("sim lookup ok\n");
	return 0;
}
