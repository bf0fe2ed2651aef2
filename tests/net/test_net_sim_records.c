/*
 * test_net_sim_records.c: records across a simulated network of 40 cores:
 * a put lands on the true k closest and a get from elsewhere finds it;
 * records expire; the higher sequence wins and an older one is refused;
 * bad signatures are refused (at the API and in a raw STORE); per-key
 * limits hold across the network, with paged VALUES replies.
 */
#include <errno.h>
#include <sodium.h>

#include "../check.h"
#include "keyword.h"
#include "sim.h"
#include "wire.h"

#define MIN UINT64_C(60000)

static struct sim *s;
static struct tsn_record rec;

static int
put(unsigned from, const struct tsn_record *r)
{
	struct sim_op op = {0};

	CHECK_INT(tsn_dht_put_record(sim_dht(s, from), sim_now(s), r, &op), ==, 0);
	sim_kick(s, from);
	CHECK(sim_wait(s, &op, 60000));
	return op.status;
}

static struct sim_op
get(unsigned from, const uint8_t key[TSN_ID_LEN], unsigned flags)
{
	struct sim_op op = {0};

	CHECK_INT(tsn_dht_get_records(sim_dht(s, from), sim_now(s), key, flags, &op), ==, 0);
	sim_kick(s, from);
	CHECK(sim_wait(s, &op, 60000));
	return op;
}

/* Nodes holding a live record under key. */
static unsigned
holders(const uint8_t key[TSN_ID_LEN], bool *held)
{
	struct tsn_blob b[4];
	size_t total;
	unsigned n = 0;

	for (unsigned i = 0; i < sim_count(s); i++) {
		tsn_recstore_get(tsn_dht_records(sim_dht(s, i)), sim_now(s), key, 0, b, 4, &total);
		if (held != NULL)
			held[i] = total > 0;
		n += total > 0;
	}
	return n;
}

/* The node farthest from key: a put from it reaches exactly the 20 closest. */
static unsigned
far_node(const uint8_t key[TSN_ID_LEN])
{
	uint8_t order[40][TSN_ID_LEN];
	unsigned far = 0;

	CHECK_INT(sim_true_closest(s, key, -1, order, 40), ==, 40);
	while (memcmp(sim_id(s, far), order[39], TSN_ID_LEN) != 0)
		far++;
	return far;
}

static void
test_immutable_and_expiry(void)
{
	uint8_t truth[20][TSN_ID_LEN], unknown[TSN_ID_LEN];
	bool held[40];
	struct sim_op op;
	int st;

	CHECK_INT(tsn_record_immutable(&rec, "where chunk 42 lives", 20, sim_now(s) + 10 * MIN), ==, 0);
	st = put(3, &rec);
	printf("immutable put stored on %d nodes\n", st);
	CHECK_INT(st, >=, 20);
	CHECK_INT(holders(rec.key, held), ==, st);
	/* the true 20 closest to the key (among all nodes, the putter included) hold it */
	CHECK_INT(sim_true_closest(s, rec.key, -1, truth, 20), ==, 20);
	for (unsigned i = 0; i < sim_count(s); i++)
		for (int j = 0; j < 20; j++)
			if (memcmp(sim_id(s, i), truth[j], TSN_ID_LEN) == 0)
				CHECK(held[i]);

	op = get(17, rec.key, TSN_DHT_GET_FIRST);
	CHECK_INT(op.status, ==, 0);
	CHECK_INT(op.n, ==, 1);
	CHECK_MEM(op.recs[0].value, "where chunk 42 lives", 20);
	sim_op_clear(&op);
	op = get(25, rec.key, 0);
	CHECK_INT(op.status, ==, 0);
	CHECK_INT(op.n, ==, 1);
	sim_op_clear(&op);

	sim_random_id(s, unknown);
	op = get(5, unknown, 0);
	CHECK_INT(op.status, ==, -ENOENT);
	CHECK_INT(op.n, ==, 0);
	sim_op_clear(&op);

	/* expiry: 10 minutes, then gone from every node and from gets */
	sim_run_until(s, sim_now(s) + 9 * MIN);
	CHECK_INT(holders(rec.key, NULL), ==, st);
	sim_run_until(s, sim_now(s) + 2 * MIN + 1);
	CHECK_INT(holders(rec.key, NULL), ==, 0);
	for (unsigned i = 0; i < sim_count(s); i++) /* swept by the periodic expiry too */
		CHECK_INT(tsn_recstore_count(tsn_dht_records(sim_dht(s, i))), ==, 0);
	op = get(17, rec.key, 0);
	CHECK_INT(op.status, ==, -ENOENT);
	sim_op_clear(&op);
	/* a record already expired is refused at once; one too far ahead by all */
	CHECK_INT(tsn_record_immutable(&rec, "late", 4, sim_now(s) - 1), ==, 0);
	op = (struct sim_op){0};
	CHECK_INT(tsn_dht_put_record(sim_dht(s, 3), sim_now(s), &rec, &op), ==, -ETIMEDOUT);
	CHECK_INT(tsn_record_immutable(&rec, "far", 3, sim_now(s) + 25 * 60 * MIN), ==, 0);
	CHECK_INT(put(3, &rec), ==, -ERANGE);
}

static void
test_mutable(void)
{
	uint8_t pk[32], sk[64];
	struct tsn_record old;
	struct sim_op op;
	uint64_t exp = sim_now(s) + 30 * MIN;

	crypto_sign_keypair(pk, sk);
	CHECK_INT(tsn_record_signed(&old, TSN_REC_MUTABLE, sk, NULL, "profile", 7, "v1", 2, 1, exp), ==, 0);
	CHECK_INT(put(4, &old), >=, 20);
	CHECK_INT(tsn_record_signed(&rec, TSN_REC_MUTABLE, sk, NULL, "profile", 7, "v2", 2, 2, exp), ==, 0);
	CHECK_INT(put(9, &rec), >=, 20);
	op = get(30, rec.key, 0);
	CHECK_INT(op.status, ==, 0);
	CHECK_INT(op.n, ==, 1);
	CHECK_U64(op.recs[0].seq, ==, 2);
	CHECK_MEM(op.recs[0].value, "v2", 2);
	sim_op_clear(&op);
	/* replaying the older one: every holder refuses it */
	CHECK_INT(put(far_node(rec.key), &old), ==, -ESTALE);
	op = get(12, rec.key, 0);
	CHECK_U64(op.recs[0].seq, ==, 2);
	sim_op_clear(&op);

	/* a forged update: the API refuses it outright, no callback */
	CHECK_INT(tsn_record_signed(&rec, TSN_REC_MUTABLE, sk, NULL, "profile", 7, "v3", 2, 3, exp), ==, 0);
	rec.value[1] = '9';
	op = (struct sim_op){0};
	CHECK_INT(tsn_dht_put_record(sim_dht(s, 4), sim_now(s), &rec, &op), ==, -EBADMSG);
	sim_run_until(s, sim_now(s) + MIN);
	CHECK_INT(op.calls, ==, 0);

	/* a raw STORE of it straight to a holder: acked INVALID, nothing stored */
	{
		static struct tsn_msg m, ack;
		uint8_t buf[TSN_WIRE_MTU], raw[TSN_WIRE_MTU];
		struct tsn_addr from = sim_addr(0);
		struct tsn_recstore *rs = NULL;
		unsigned before = sim_raw_count(s);
		size_t n, count = 0;
		int len;

		from.port = SIM_RAW_PORT;
		for (unsigned i = 0; i < sim_count(s) && rs == NULL; i++) {
			struct tsn_blob b[1];
			size_t total;
			tsn_recstore_get(tsn_dht_records(sim_dht(s, i)), sim_now(s), rec.key, 0, b, 1, &total);
			if (total > 0) {
				rs = tsn_dht_records(sim_dht(s, i));
				count = tsn_recstore_count(rs);
				m.h.type = TSN_MSG_STORE;
				m.h.txid = 77;
				memset(m.h.sender, 0xee, TSN_ID_LEN);
				m.u.store.rec = rec;
				len = tsn_wire_encode(&m, buf, sizeof(buf));
				CHECK_INT(len, >, 0);
				CHECK_INT(sim_inject(s, i, &from, buf, (size_t)len), ==, 0);
			}
		}
		CHECK(rs != NULL);
		CHECK_INT(sim_raw_count(s), ==, before + 1);
		n = sim_raw_last(s, raw, sizeof(raw));
		CHECK_INT(tsn_wire_decode(raw, n, &ack), ==, 0);
		CHECK_INT(ack.h.type, ==, TSN_MSG_STORE_ACK);
		CHECK_U64(ack.h.txid, ==, 77);
		CHECK_INT(ack.u.store_ack.status, ==, TSN_STORE_INVALID);
		CHECK_INT(tsn_recstore_count(rs), ==, count);
	}
	op = get(13, rec.key, 0);
	CHECK_U64(op.recs[0].seq, ==, 2);
	sim_op_clear(&op);
}

static void
test_per_key_limits(void)
{
	uint8_t key[TSN_ID_LEN], pk[8][32], sk[8][64], wpk[32], wsk[64], big[800 - 96];
	struct sim_op op;
	uint64_t exp = sim_now(s) + 30 * MIN;
	unsigned far;

	tsn_kw_word_keys("limits", wpk, wsk);
	tsn_kw_key_of_pk(wpk, key);
	far = far_node(key); /* so that every put reaches the same 20 nodes */
	for (int i = 0; i < 8; i++) {
		crypto_sign_keypair(pk[i], sk[i]);
		memset(big, 'a' + i, sizeof(big));
		CHECK_INT(tsn_record_keyword(&rec, wsk, sk[i], big, sizeof(big), 1, exp), ==, 0);
		/* kw_per_key is 5 in this network: the earliest inserted are evicted */
		CHECK_INT(put(far, &rec), ==, 20);
	}
	for (unsigned i = 0; i < sim_count(s); i++) {
		struct tsn_blob b[8];
		size_t total;
		tsn_recstore_get(tsn_dht_records(sim_dht(s, i)), sim_now(s), key, 0, b, 8, &total);
		CHECK_INT(total, <=, 5);
	}
	/* each 949-byte entry fills a VALUES page: the get walks 5 pages per node */
	op = get(38, key, 0);
	CHECK_INT(op.status, ==, 0);
	CHECK_INT(op.n, ==, 5);
	for (size_t i = 0; i < op.n; i++) {
		CHECK_INT(op.recs[i].value_len, ==, 800);
		CHECK(op.recs[i].value[96] >= 'd'); /* entries 3..7 kept */
		for (size_t j = 0; j < i; j++)
			CHECK(memcmp(op.recs[i].salt, op.recs[j].salt, 16) != 0);
	}
	sim_op_clear(&op);
	/* first-value mode stops early */
	op = get(37, key, TSN_DHT_GET_FIRST);
	CHECK_INT(op.status, ==, 0);
	CHECK_INT(op.n, >=, 1);
	sim_op_clear(&op);
}

int
main(void)
{
	struct tsn_dht_opts o;
	struct sim_opts so = {.nodes = 40, .seed = 11, .lat_min_ms = 1, .lat_max_ms = 10, .dht = &o};

	if (sodium_init() < 0)
		return 1;
	tsn_dht_opts_default(&o);
	o.table.allow_loopback = true;
	o.records.kw_per_key = 5;
	s = sim_new(&so);
	sim_join_all(s, 20, 60000);
	test_immutable_and_expiry();
	test_mutable();
	test_per_key_limits();
	sim_free(s);
	printf("sim records ok\n");
	return 0;
}
