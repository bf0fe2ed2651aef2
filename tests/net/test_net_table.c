/*
 * test_net_table.c: routing table rules: k per bucket, least-recently-seen
 * ping then replace, replacement candidates, the /24 and /48 limits and
 * their loopback relaxation, martian and own addresses, closest-n against a
 * brute-force sort, refresh deadlines; and the id helpers.
 */
#include <errno.h>
#include <limits.h>

#include "../check.h"
#include "table.h"

static uint64_t rng = 42;

static uint64_t
rnd64(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void
rnd_id(uint8_t id[TSN_ID_LEN])
{
	for (int i = 0; i < TSN_ID_LEN; i += 8) {
		uint64_t r = rnd64();
		memcpy(id + i, &r, 8);
	}
}

static const uint8_t own[TSN_ID_LEN] = {0};

/* An id in bucket b of own (all-zero): bit b set, random below. */
static void
id_in_bucket(uint8_t id[TSN_ID_LEN], unsigned b)
{
	uint8_t r[TSN_ID_LEN];

	rnd_id(r);
	tsn_id_in_bucket(id, own, b, r);
}

static void
contact(struct tsn_contact *c, unsigned bucket, uint8_t a, uint8_t b, uint8_t cc, uint8_t d,
        uint16_t port)
{
	const uint8_t ip[4] = {a, b, cc, d};

	id_in_bucket(c->id, bucket);
	tsn_addr_v4(&c->addr, ip, port);
}

/* ping_fresh_ms 1: the LRS contact is pinged however lately it was heard from. */
static struct tsn_table *
mk(unsigned subnet_limit, bool loopback)
{
	struct tsn_table_opts o;
	struct tsn_table *t;

	tsn_table_opts_default(&o);
	memcpy(o.own_id, own, TSN_ID_LEN);
	o.subnet_limit = subnet_limit;
	o.allow_loopback = loopback;
	o.replacements = 4;
	o.ping_fresh_ms = 1;
	CHECK_INT(tsn_table_new(&t, &o, 1000), ==, 0);
	return t;
}

static void
test_ids(void)
{
	uint8_t a[TSN_ID_LEN] = {0}, b[TSN_ID_LEN] = {0}, r[TSN_ID_LEN], x[TSN_ID_LEN];

	CHECK_INT(tsn_id_cpl(a, b), ==, 256);
	b[0] = 0x80;
	CHECK_INT(tsn_id_cpl(a, b), ==, 0);
	b[0] = 0;
	b[5] = 0x10;
	CHECK_INT(tsn_id_cpl(a, b), ==, 43);
	for (unsigned cpl = 0; cpl < 256; cpl++) {
		rnd_id(r);
		rnd_id(a);
		tsn_id_in_bucket(x, a, cpl, r);
		CHECK_INT(tsn_id_cpl(a, x), ==, cpl);
	}
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(r, 0, sizeof(r));
	a[31] = 1;
	b[31] = 2;
	CHECK(tsn_id_dist_cmp(r, a, b) < 0);
	CHECK(tsn_id_dist_cmp(r, b, a) > 0);
	CHECK(tsn_id_dist_cmp(r, a, a) == 0);
	r[31] = 3; /* a^r = 2, b^r = 1 */
	CHECK(tsn_id_dist_cmp(r, a, b) > 0);
}

static void
test_k_and_lrs(void)
{
	struct tsn_table *t = mk(UINT_MAX, false);
	struct tsn_contact c[25], ping, got;
	uint64_t now = 2000;

	/* 20 fit in bucket 0, distinct /24s */
	for (int i = 0; i < 25; i++)
		contact(&c[i], 0, 10, (uint8_t)i, 0, 1, 4000);
	for (int i = 0; i < 20; i++)
		CHECK_INT(tsn_table_seen(t, now + (uint64_t)i, &c[i], true, &ping), ==, TSN_TABLE_ADDED);
	CHECK_INT(tsn_table_bucket_count(t, 0), ==, 20);
	CHECK_INT(tsn_table_count(t), ==, 20);
	/* seen again: updated, c[0] becomes most recently seen */
	CHECK_INT(tsn_table_seen(t, now + 30, &c[0], true, &ping), ==, TSN_TABLE_UPDATED);
	/* the 21st: cached, and the LRS (now c[1]) must be pinged */
	CHECK_INT(tsn_table_seen(t, now + 40, &c[20], false, &ping), ==, TSN_TABLE_PING);
	CHECK_MEM(ping.id, c[1].id, TSN_ID_LEN);
	CHECK_INT(tsn_table_bucket_count(t, 0), ==, 20);
	CHECK_INT(tsn_table_bucket_candidates(t, 0), ==, 1);
	CHECK(!tsn_table_find(t, c[20].id, NULL));
	/* while that ping is out, another newcomer does not ask again */
	CHECK_INT(tsn_table_seen(t, now + 41, &c[21], false, &ping), ==, TSN_TABLE_CACHED);
	/* the LRS answers: it stays (most recently seen), the newcomers wait */
	CHECK_INT(tsn_table_seen(t, now + 50, &c[1], true, &ping), ==, TSN_TABLE_UPDATED);
	CHECK(tsn_table_find(t, c[1].id, NULL));
	CHECK(!tsn_table_find(t, c[20].id, NULL));
	/* next newcomer: the new LRS (c[2]) is pinged; it fails: replaced by the
	 * most recent candidate */
	CHECK_INT(tsn_table_seen(t, now + 60, &c[22], false, &ping), ==, TSN_TABLE_PING);
	CHECK_MEM(ping.id, c[2].id, TSN_ID_LEN);
	CHECK_INT(tsn_table_failed(t, c[2].id), ==, 1);
	CHECK(!tsn_table_find(t, c[2].id, NULL));
	CHECK(tsn_table_find(t, c[22].id, &got));
	CHECK(tsn_addr_eq(&got.addr, &c[22].addr));
	CHECK_INT(tsn_table_bucket_count(t, 0), ==, 20);
	CHECK_INT(tsn_table_bucket_candidates(t, 0), ==, 2);
	/* a stale ping (no answer, no failure reported) is asked again later */
	CHECK_INT(tsn_table_seen(t, now + 70, &c[23], false, &ping), ==, TSN_TABLE_PING);
	CHECK_MEM(ping.id, c[3].id, TSN_ID_LEN);
	CHECK_INT(tsn_table_seen(t, now + 80, &c[24], false, &ping), ==, TSN_TABLE_CACHED);
	CHECK_INT(tsn_table_seen(t, now + 80 + 30000, &c[24], false, &ping), ==, TSN_TABLE_PING);
	/* replacement cache is bounded (4) */
	CHECK_INT(tsn_table_bucket_candidates(t, 0), ==, 4);
	/* a contact failing max_fails (2) times in a row is evicted even with no ping */
	CHECK_INT(tsn_table_failed(t, c[5].id), ==, 0);
	CHECK_INT(tsn_table_seen(t, now + 90, &c[5], true, &ping), ==, TSN_TABLE_UPDATED); /* resets */
	CHECK_INT(tsn_table_failed(t, c[5].id), ==, 0);
	CHECK_INT(tsn_table_failed(t, c[5].id), ==, 1);
	CHECK(!tsn_table_find(t, c[5].id, NULL));
	CHECK_INT(tsn_table_bucket_count(t, 0), ==, 20); /* a candidate moved in */
	CHECK_INT(tsn_table_failed(t, c[5].id), ==, -ENOENT);
	/* a known id at another address is ignored */
	got = c[6];
	got.addr.port = 4001;
	CHECK_INT(tsn_table_seen(t, now + 100, &got, true, &ping), ==, -EEXIST);
	/* other buckets are independent */
	contact(&c[0], 7, 11, 0, 0, 1, 4000);
	CHECK_INT(tsn_table_seen(t, now, &c[0], true, &ping), ==, TSN_TABLE_ADDED);
	CHECK_INT(tsn_table_bucket_count(t, 7), ==, 1);
	CHECK_INT(tsn_table_bucket_of(t, c[0].id), ==, 7);
	CHECK_INT(tsn_table_remove(t, c[0].id), ==, 0);
	CHECK_INT(tsn_table_remove(t, c[0].id), ==, -ENOENT);
	tsn_table_free(t);
}

static void
test_subnets(void)
{
	struct tsn_table *t = mk(0 /* default 2 */, true);
	struct tsn_contact c, ping;
	uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};

	/* IPv4: two per /24 per bucket */
	contact(&c, 0, 10, 0, 0, 1, 1);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	contact(&c, 0, 10, 0, 0, 2, 1);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	contact(&c, 0, 10, 0, 0, 3, 1);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -EDQUOT);
	contact(&c, 1, 10, 0, 0, 3, 1); /* another bucket: fine */
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	contact(&c, 0, 10, 0, 1, 3, 1); /* another /24: fine */
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	/* IPv6: two per /48 */
	for (int i = 0; i < 3; i++) {
		id_in_bucket(c.id, 2);
		ip6[15] = (uint8_t)i;
		ip6[7] = (uint8_t)(i * 16); /* differs below /48 */
		tsn_addr_v6(&c.addr, ip6, 7);
		CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, i < 2 ? TSN_TABLE_ADDED : -EDQUOT);
	}
	ip6[5] = 2; /* another /48 */
	tsn_addr_v6(&c.addr, ip6, 7);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	/* loopback: grouped by (address, port), so 20 nodes on 127.0.0.1 fit */
	for (int i = 0; i < 20; i++) {
		contact(&c, 3, 127, 0, 0, 1, (uint16_t)(5000 + i));
		CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	}
	/* but two ids at one (address, port) at most */
	contact(&c, 4, 127, 0, 0, 1, 6000);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	contact(&c, 4, 127, 0, 0, 1, 6000);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	contact(&c, 4, 127, 0, 0, 1, 6000);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -EDQUOT);
	tsn_table_free(t);
}

static void
test_refused(void)
{
	struct tsn_table *t = mk(0, false);
	struct tsn_contact c, ping;
	struct tsn_addr me;

	contact(&c, 0, 127, 0, 0, 1, 5); /* loopback not allowed here */
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -EADDRNOTAVAIL);
	contact(&c, 0, 0, 1, 2, 3, 5);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -EADDRNOTAVAIL);
	contact(&c, 0, 239, 1, 2, 3, 5);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -EADDRNOTAVAIL);
	contact(&c, 0, 8, 8, 8, 8, 0); /* port 0 */
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -EADDRNOTAVAIL);
	/* own id */
	contact(&c, 0, 8, 8, 8, 8, 53);
	memcpy(c.id, own, TSN_ID_LEN);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -ELOOP);
	/* own address */
	CHECK_INT(tsn_addr_parse("8.8.4.4:53", 10, &me), ==, 0);
	CHECK_INT(tsn_table_add_own_addr(t, &me), ==, 0);
	contact(&c, 0, 8, 8, 4, 4, 53);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, -ELOOP);
	contact(&c, 0, 8, 8, 4, 4, 54);
	CHECK_INT(tsn_table_seen(t, 1, &c, true, &ping), ==, TSN_TABLE_ADDED);
	CHECK_INT(tsn_table_count(t), ==, 1);
	tsn_table_free(t);
}

static const uint8_t *sort_target;

static int
by_dist(const void *a, const void *b)
{
	return tsn_id_dist_cmp(sort_target, ((const struct tsn_contact *)a)->id,
	                       ((const struct tsn_contact *)b)->id);
}

static void
test_closest_and_refresh(void)
{
	struct tsn_table_opts o;
	struct tsn_table *t;
	static struct tsn_contact all[2000], in[2000], out[40];
	struct tsn_contact ping;
	size_t nin = 0, n;
	uint64_t next;
	int b;

	tsn_table_opts_default(&o);
	rnd_id(o.own_id);
	o.subnet_limit = UINT_MAX;
	o.refresh_ms = 1000;
	CHECK_INT(tsn_table_new(&t, &o, 10), ==, 0);
	CHECK_INT(tsn_table_due_bucket(t, 5000, &next), ==, -1); /* empty: nothing to refresh */
	for (int i = 0; i < 2000; i++) {
		const uint8_t ip[4] = {10, (uint8_t)(i >> 8), (uint8_t)i, 1};
		rnd_id(all[i].id);
		if (i < 50) /* some near own id, so that deep buckets fill */
			memcpy(all[i].id, o.own_id, 1 + i / 10);
		tsn_addr_v4(&all[i].addr, ip, 9);
		if (tsn_table_seen(t, 10, &all[i], true, &ping) == TSN_TABLE_ADDED)
			in[nin++] = all[i];
	}
	CHECK_INT(tsn_table_count(t), ==, nin);
	CHECK(nin < 2000 && nin > 100);
	for (int trial = 0; trial < 50; trial++) {
		uint8_t target[TSN_ID_LEN];
		rnd_id(target);
		if (trial % 5 == 0)
			memcpy(target, o.own_id, TSN_ID_LEN);
		sort_target = target;
		qsort(in, nin, sizeof(in[0]), by_dist);
		n = tsn_table_closest(t, target, NULL, false, out, 20);
		CHECK_INT(n, ==, 20);
		for (size_t i = 0; i < n; i++)
			CHECK_MEM(out[i].id, in[i].id, TSN_ID_LEN);
		n = tsn_table_closest(t, target, in[0].id, false, out, 20); /* excluded */
		CHECK_MEM(out[0].id, in[1].id, TSN_ID_LEN);
	}
	/* refresh: at 10 every populated bucket answered; due at 1010 */
	CHECK_INT(tsn_table_due_bucket(t, 500, &next), ==, -1);
	CHECK_U64(next, ==, 1010);
	b = tsn_table_due_bucket(t, 1010, &next);
	CHECK_INT(b, ==, 0);
	tsn_table_touch(t, 0, 1010);
	b = tsn_table_due_bucket(t, 1010, &next);
	CHECK_INT(b, ==, 1);
	for (unsigned i = 0; i < 256; i++)
		tsn_table_touch(t, i, 1010);
	CHECK_INT(tsn_table_due_bucket(t, 1010, &next), ==, -1);
	CHECK_U64(next, ==, 2010);
	tsn_table_touch_all_due(t);
	CHECK_INT(tsn_table_due_bucket(t, 1011, &next), ==, 0);
	n = tsn_table_contacts(t, all, 2000);
	CHECK_INT(n, ==, nin);
	tsn_table_free(t);
}

/* With the default ping_fresh_ms (60 s): an LRS contact heard from lately is
 * not pinged for a newcomer; one quiet for 60 s, or whose last query
 * failed, is. */
static void
test_lrs_fresh(void)
{
	struct tsn_table_opts o;
	struct tsn_table *t;
	struct tsn_contact c[23], ping;
	uint64_t now = 5000;

	tsn_table_opts_default(&o);
	memcpy(o.own_id, own, TSN_ID_LEN);
	o.subnet_limit = UINT_MAX;
	CHECK_U64(o.ping_fresh_ms, ==, 60000);
	CHECK_INT(tsn_table_new(&t, &o, 1000), ==, 0);
	for (int i = 0; i < 23; i++)
		contact(&c[i], 0, 10, (uint8_t)i, 0, 1, 4000);
	for (int i = 0; i < 20; i++)
		CHECK_INT(tsn_table_seen(t, now + (uint64_t)i, &c[i], true, &ping), ==, TSN_TABLE_ADDED);
	/* c[0], the LRS, was heard from 1 s ago: the newcomer waits, no ping */
	CHECK_INT(tsn_table_seen(t, now + 1000, &c[20], false, &ping), ==, TSN_TABLE_CACHED);
	CHECK_INT(tsn_table_bucket_candidates(t, 0), ==, 1);
	/* 60 s later it is pinged */
	CHECK_INT(tsn_table_seen(t, now + 60000, &c[21], false, &ping), ==, TSN_TABLE_PING);
	CHECK_MEM(ping.id, c[0].id, TSN_ID_LEN);
	/* it answers; then a query to the new LRS fails: pinged at once */
	CHECK_INT(tsn_table_seen(t, now + 60010, &c[0], true, &ping), ==, TSN_TABLE_UPDATED);
	CHECK_INT(tsn_table_failed(t, c[1].id), ==, 0); /* c[1] is the LRS now */
	CHECK_INT(tsn_table_seen(t, now + 60020, &c[22], false, &ping), ==, TSN_TABLE_PING);
	CHECK_MEM(ping.id, c[1].id, TSN_ID_LEN);
	tsn_table_free(t);
}

int
main(void)
{
	test_ids();
	test_k_and_lrs();
	test_lrs_fresh();
	test_subnets();
	test_refused();
	test_closest_and_refresh();
	printf("table ok\n");
	return 0;
}
