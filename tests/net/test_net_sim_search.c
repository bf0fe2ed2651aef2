/*
 * test_net_sim_search.c: what keyword search needs from the core, on a
 * simulated network of 40 cores:
 *   - a node putting many records at once sends every STORE even when its
 *     query table is too small for them all at once (they wait for room);
 *   - a keyword get pages each holder past max_pages while its pages bring
 *     new records, so a word with more entries than k * max_pages pages
 *     hold is read whole;
 *   - and no further than its budget of max_kw_pages extra pages.
 */
#include <errno.h>
#include <sodium.h>

#include "../check.h"
#include "keyword.h"
#include "sim.h"
#include "wire.h"

#define MIN UINT64_C(60000)
#define ENTRIES 30  /* keyword entries under one word */
#define PUTS 6      /* records put at once by one node */

/* Nodes holding a live record under key. */
static unsigned
holders(struct sim *s, const uint8_t key[TSN_ID_LEN])
{
	struct tsn_blob b[4];
	size_t total;
	unsigned n = 0;

	for (unsigned i = 0; i < sim_count(s); i++) {
		tsn_recstore_get(tsn_dht_records(sim_dht(s, i)), sim_now(s), key, 0, b, 4, &total);
		n += total > 0;
	}
	return n;
}

static struct sim *
network(struct tsn_dht_opts *o, uint64_t seed)
{
	struct sim_opts so = {.nodes = 40, .seed = seed, .lat_min_ms = 1, .lat_max_ms = 10,
	                      .dht = o};
	struct sim *s;

	o->table.allow_loopback = true;
	s = sim_new(&so);
	CHECK(s != NULL);
	sim_join_all(s, 20, 60000);
	return s;
}

/* PUTS puts at once from node 3, whose query table holds 24 queries: 120 STOREs. */
static void
test_stores_wait_for_room(void)
{
	struct tsn_dht_opts o;
	struct tsn_record rec[PUTS];
	struct sim_op op[PUTS];
	struct sim *s;
	uint8_t val[64];

	tsn_dht_opts_default(&o);
	o.max_inflight = 24;
	s = network(&o, 21);
	memset(op, 0, sizeof(op));
	for (int i = 0; i < PUTS; i++) {
		memset(val, 'a' + i, sizeof(val));
		CHECK_INT(tsn_record_immutable(&rec[i], val, sizeof(val), sim_now(s) + 30 * MIN), ==, 0);
		CHECK_INT(tsn_dht_put_record(sim_dht(s, 3), sim_now(s), &rec[i], &op[i]), ==, 0);
	}
	sim_kick(s, 3);
	for (int i = 0; i < PUTS; i++) {
		CHECK(sim_wait(s, &op[i], 60000));
		/* the 20 closest, and node 3 itself when it is one of them */
		CHECK_INT(op[i].status, >=, 20);
		CHECK_INT(holders(s, rec[i].key), >=, 20);
	}
	sim_free(s);
}

/*
 * ENTRIES keyword entries of 949 bytes (one per VALUES page) under one word,
 * put from the node farthest from its key so that all reach the same 20
 * nodes in the same order; then a get from node 38 with max_pages 1.
 * Returns the number of records it found.
 */
static size_t
kw_get(unsigned max_kw_pages, uint64_t seed)
{
	struct tsn_dht_opts o;
	struct tsn_record rec;
	struct sim_op op;
	struct sim *s;
	uint8_t key[TSN_ID_LEN], order[40][TSN_ID_LEN], pk[32], sk[64], wpk[32], wsk[64];
	uint8_t big[800 - 96];
	unsigned far = 0;
	size_t n;

	tsn_dht_opts_default(&o);
	o.max_pages = 1;
	o.max_kw_pages = max_kw_pages;
	s = network(&o, seed);
	tsn_kw_word_keys("paging", wpk, wsk);
	tsn_kw_key_of_pk(wpk, key);
	CHECK_INT(sim_true_closest(s, key, -1, order, 40), ==, 40);
	while (memcmp(sim_id(s, far), order[39], TSN_ID_LEN) != 0)
		far++;
	for (int i = 0; i < ENTRIES; i++) {
		memset(&op, 0, sizeof(op));
		crypto_sign_keypair(pk, sk);
		memset(big, i, sizeof(big));
		CHECK_INT(tsn_record_keyword(&rec, wsk, sk, big, sizeof(big), 1,
		                             sim_now(s) + 30 * MIN), ==, 0);
		CHECK_INT(tsn_dht_put_record(sim_dht(s, far), sim_now(s), &rec, &op), ==, 0);
		sim_kick(s, far);
		CHECK(sim_wait(s, &op, 60000));
		CHECK_INT(op.status, ==, 20);
	}
	sodium_memzero(wsk, sizeof(wsk));
	memset(&op, 0, sizeof(op));
	CHECK_INT(tsn_dht_get_records(sim_dht(s, far == 38 ? 37 : 38), sim_now(s), key, 0, &op), ==, 0);
	sim_kick(s, far == 38 ? 37 : 38);
	CHECK(sim_wait(s, &op, 60000));
	CHECK_INT(op.status, ==, 0);
	n = op.n;
	for (size_t i = 0; i < op.n; i++) {
		CHECK_INT(op.recs[i].type, ==, TSN_REC_KEYWORD);
		for (size_t j = 0; j < i; j++)
			CHECK(memcmp(op.recs[i].salt, op.recs[j].salt, 16) != 0);
	}
	sim_op_clear(&op);
	sim_free(s);
	return n;
}

static void
test_keyword_paging(void)
{
	size_t n;

	/* one page per holder reads at most one stretch start per holder: 15
	 * distinct offsets of 30 (16 * rank mod 30); extra pages read the rest */
	CHECK_INT(kw_get(64, 31), ==, ENTRIES);
	/* a budget of 3 extra pages: at most 3 records more than those 15 */
	n = kw_get(3, 31);
	CHECK_INT(n, >=, 15);
	CHECK_INT(n, <=, 18);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_stores_wait_for_room();
	test_keyword_paging();
	printf("sim search ok\n");
	return 0;
}
