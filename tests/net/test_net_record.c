/*
 * test_net_record.c: the record store: verification on put, expiry, the
 * highest sequence wins, per-key and total limits (count and bytes),
 * expired records making room first, paging order.
 */
#include <errno.h>
#include <sodium.h>

#include "../check.h"
#include "record.h"

#define NOW UINT64_C(1700000000000)
#define HOUR UINT64_C(3600000)

static struct tsn_record r, r2;

static void
test_basic(void)
{
	struct tsn_recstore *rs;
	struct tsn_blob out[8];
	uint8_t pk[32], sk[64];
	size_t total, used;

	crypto_sign_keypair(pk, sk);
	CHECK_INT(tsn_recstore_new(&rs, NULL), ==, 0);

	/* immutable */
	CHECK_INT(tsn_record_immutable(&r, "chunk holder list", 17, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0); /* idempotent */
	CHECK_INT(tsn_recstore_count(rs), ==, 1);
	CHECK_INT(tsn_recstore_get(rs, NOW, r.key, 0, out, 8, &total), ==, 1);
	CHECK_INT(tsn_record_decode(out[0].p, out[0].len, &r2, &used), ==, 0);
	CHECK_MEM(r2.value, "chunk holder list", 17);
	/* a later expiry extends it */
	r.expiry_ms = NOW + 2 * HOUR;
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW + HOUR + 1, r.key, 0, out, 8, &total), ==, 1);
	/* forged: value does not hash to the key */
	r.value[0] ^= 1;
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, -EBADMSG);
	/* expired already, or beyond max_ttl */
	CHECK_INT(tsn_record_immutable(&r, "x", 1, NOW), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, -ETIMEDOUT);
	CHECK_INT(tsn_record_immutable(&r, "x", 1, NOW + 25 * HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, -ERANGE);

	/* mutable: the highest validly signed seq wins */
	CHECK_INT(tsn_record_signed(&r, TSN_REC_MUTABLE, sk, NULL, "n", 1, "v5", 2, 5, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	CHECK_INT(tsn_record_signed(&r2, TSN_REC_MUTABLE, sk, NULL, "n", 1, "v4", 2, 4, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -ESTALE);   /* older */
	CHECK_INT(tsn_record_signed(&r2, TSN_REC_MUTABLE, sk, NULL, "n", 1, "vX", 2, 5, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -ESTALE);   /* same seq, other bytes */
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);          /* same bytes: a republish */
	CHECK_INT(tsn_record_signed(&r2, TSN_REC_MUTABLE, sk, NULL, "n", 1, "v6", 2, 6, NOW + HOUR), ==, 0);
	r2.value[1] = '7'; /* bad signature */
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -EBADMSG);
	r2.value[1] = '6';
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW, r.key, 0, out, 8, &total), ==, 1);
	CHECK_INT(tsn_record_decode(out[0].p, out[0].len, &r2, &used), ==, 0);
	CHECK_U64(r2.seq, ==, 6);
	CHECK_MEM(r2.value, "v6", 2);
	CHECK_INT(tsn_recstore_count(rs), ==, 2);
	CHECK_INT(tsn_recstore_keys(rs), ==, 2);
	/* a mutable record validly signed but whose key is not H(pubkey | salt) */
	{
		uint8_t enc[TSN_REC_MAX_LEN];
		int len;
		r.seq = 9;
		r.key[0] ^= 1;
		len = tsn_record_encode(&r, enc, sizeof(enc));
		CHECK_INT(len, >, 0);
		crypto_sign_detached(r.sig, NULL, enc, (size_t)len - 64, sk);
		CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, -EBADMSG);
		CHECK_INT(tsn_record_sign(&r, sk), ==, 0); /* recomputes the key */
		CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	}

	/* expiry: everything gone after an hour */
	CHECK_INT(tsn_recstore_expire(rs, NOW + HOUR - 1), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW + HOUR, r.key, 0, out, 8, &total), ==, 0);
	CHECK_INT(total, ==, 0);
	CHECK_INT(tsn_recstore_expire(rs, NOW + 2 * HOUR), ==, 1); /* the extended immutable */
	CHECK_INT(tsn_recstore_count(rs), ==, 0);
	CHECK_INT(tsn_recstore_bytes(rs), ==, 0);
	CHECK_INT(tsn_recstore_keys(rs), ==, 0);
	tsn_recstore_free(rs);
	tsn_recstore_free(NULL);
}

static void
test_limits(void)
{
	struct tsn_recstore_opts o;
	struct tsn_recstore *rs;
	struct tsn_blob out[16];
	uint8_t key[TSN_ID_LEN], pk[12][32], sk[12][64], big[800];
	size_t total, used;

	memset(key, 0x5a, sizeof(key));
	memset(big, 'b', sizeof(big));
	for (int i = 0; i < 12; i++)
		crypto_sign_keypair(pk[i], sk[i]);
	tsn_recstore_opts_default(&o);
	o.max_per_key = 4;
	o.max_bytes_per_key = 3000;
	o.max_records = 6;
	CHECK_INT(tsn_recstore_new(&rs, &o), ==, 0);

	/* keyword entries: one slot per signer; 4 per key at most */
	for (int i = 0; i < 6; i++) {
		char v[8];
		snprintf(v, sizeof(v), "e%d", i);
		CHECK_INT(tsn_record_signed(&r, TSN_REC_KEYWORD, sk[i], key, NULL, 0, v, 2, 1,
		                            NOW + (uint64_t)(i + 1) * 1000), ==, 0);
		CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, i < 4 ? 0 : -ENOSPC);
	}
	CHECK_INT(tsn_recstore_get(rs, NOW, key, 0, out, 16, &total), ==, 4);
	/* the same signer updating its entry is not a new record */
	CHECK_INT(tsn_record_signed(&r, TSN_REC_KEYWORD, sk[0], key, NULL, 0, "e0", 2, 2, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	/* an expired entry makes room (entry 1 expires at NOW + 2000) */
	CHECK_INT(tsn_record_signed(&r, TSN_REC_KEYWORD, sk[6], key, NULL, 0, "e6", 2, 1, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW + 1500, &r), ==, -ENOSPC);
	CHECK_INT(tsn_recstore_put(rs, NOW + 2000, &r), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW + 2000, key, 0, out, 16, &total), ==, 4);
	/* paging: from index 2 on */
	CHECK_INT(tsn_recstore_get(rs, NOW + 2000, key, 2, out, 16, &total), ==, 2);
	CHECK_INT(total, ==, 4);

	/* bytes per key: 800-byte values, 3000 bytes per key */
	memset(key, 0x6b, sizeof(key));
	for (int i = 0; i < 4; i++) {
		CHECK_INT(tsn_record_signed(&r, TSN_REC_KEYWORD, sk[i], key, NULL, 0, big, sizeof(big), 1,
		                            NOW + HOUR), ==, 0);
		/* 949 bytes each: 3 fit, the 4th would pass 3000; total count is 6 */
		CHECK_INT(tsn_recstore_put(rs, NOW + 2000, &r), ==, i < 2 ? 0 : -ENOSPC);
	}
	/* total count (6): 4 + 2 held */
	CHECK_INT(tsn_recstore_count(rs), ==, 6);
	CHECK_INT(tsn_record_immutable(&r, "one more", 8, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW + 2000, &r), ==, -ENOSPC);
	/* after the first key's short-lived entries expire, there is room */
	CHECK_INT(tsn_recstore_put(rs, NOW + 5000, &r), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW + 5000, r.key, 0, out, 16, &total), ==, 1);
	CHECK_INT(tsn_record_decode(out[0].p, out[0].len, &r2, &used), ==, 0);
	CHECK_MEM(r2.value, "one more", 8);
	tsn_recstore_free(rs);

	/* total bytes */
	tsn_recstore_opts_default(&o);
	o.max_bytes = 2000;
	CHECK_INT(tsn_recstore_new(&rs, &o), ==, 0);
	for (int i = 0; i < 3; i++) {
		big[0] = (uint8_t)i;
		CHECK_INT(tsn_record_immutable(&r, big, sizeof(big), NOW + HOUR), ==, 0);
		CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, i < 2 ? 0 : -ENOSPC);
	}
	CHECK_INT(tsn_recstore_bytes(rs), ==, 2 * (TSN_REC_FIXED_LEN + 800));
	tsn_recstore_free(rs);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_basic();
	test_limits();
	printf("record ok\n");
	return 0;
}
