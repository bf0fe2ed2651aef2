/*
 * test_net_record.c: the record store: verification on put, expiry, the
 * highest sequence wins, keyword records (word key binding, slot salt and
 * slot signature: forged and taken-over slots refused), per-keyword limits
 * evicting the earliest expiry, total limits refusing, expired records
 * making room first.
 */
#include <errno.h>
#include <sodium.h>

#include "../check.h"
#include "keyword.h"
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

/* A keyword record under word by owner slot key sk, sealed = fill bytes. */
static void
kwrec(struct tsn_record *out, const char *word, const uint8_t sk[64], int fill, size_t len,
      uint64_t seq, uint64_t expiry)
{
	uint8_t wpk[32], wsk[64], sealed[TSN_REC_VALUE_MAX];

	tsn_kw_word_keys(word, wpk, wsk);
	memset(sealed, fill, len);
	CHECK_INT(tsn_record_keyword(out, wsk, sk, sealed, len, seq, expiry), ==, 0);
}

static void
test_keyword(void)
{
	struct tsn_recstore *rs;
	struct tsn_blob out[8];
	uint8_t pk[2][32], sk[2][64], wpk[32], wsk[64], key[TSN_ID_LEN], buf[TSN_REC_MAX_LEN];
	size_t total, used;
	int len;

	for (int i = 0; i < 2; i++)
		crypto_sign_keypair(pk[i], sk[i]);
	CHECK_INT(tsn_recstore_new(&rs, NULL), ==, 0);
	tsn_kw_word_keys("terra", wpk, wsk);
	tsn_keyword_key("terra", key);

	/* a valid record: key, salt, both signatures; encode/decode round trip */
	kwrec(&r, "terra", sk[0], 'a', 40, 5, NOW + HOUR);
	CHECK_MEM(r.key, key, TSN_ID_LEN);
	CHECK_MEM(r.pubkey, wpk, 32);
	CHECK_MEM(r.value, pk[0], 32);
	CHECK_INT(r.salt_len, ==, 16);
	CHECK_INT(tsn_record_verify(&r), ==, 0);
	len = tsn_record_encode(&r, buf, sizeof(buf));
	CHECK_INT(len, ==, (int)tsn_record_encoded_len(&r));
	CHECK_INT(tsn_record_decode(buf, (size_t)len, &r2, &used), ==, 0);
	CHECK_INT(used, ==, (size_t)len);
	CHECK_INT(tsn_record_verify(&r2), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);

	/* signed by a key that is not the word's: the key binding fails */
	kwrec(&r2, "other", sk[0], 'a', 40, 6, NOW + HOUR);
	memcpy(r2.key, key, TSN_ID_LEN);
	CHECK_INT(tsn_record_sign(&r2, sk[1]), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -EBADMSG);
	/* a bad outer signature */
	r2 = r;
	r2.sig[3] ^= 1;
	CHECK_INT(tsn_record_verify(&r2), ==, -EBADMSG);
	/* someone who knows the word takes over the owner's slot (salt) with a
	 * higher seq: their slot key does not hash to that salt */
	kwrec(&r2, "terra", sk[1], 'x', 40, 9, NOW + HOUR);
	memcpy(r2.salt, r.salt, 16);
	CHECK_INT(tsn_record_sign(&r2, wsk), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -EBADMSG);
	/* ... or claims the owner's slot key without its signature */
	memcpy(r2.value, pk[0], 32);
	CHECK_INT(tsn_record_sign(&r2, wsk), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -EBADMSG);
	/* ... or replays the owner's entry with a higher seq (slot sig covers it) */
	r2 = r;
	r2.seq = 99;
	CHECK_INT(tsn_record_sign(&r2, wsk), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -EBADMSG);
	/* ... or changes the sealed bytes, or the expiry */
	r2 = r;
	r2.value[100] ^= 1;
	CHECK_INT(tsn_record_sign(&r2, wsk), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -EBADMSG);
	r2 = r;
	r2.expiry_ms += 1000;
	CHECK_INT(tsn_record_sign(&r2, wsk), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -EBADMSG);
	/* malformed: no sealed bytes, wrong salt length */
	r2 = r;
	r2.value_len = TSN_REC_KW_SLOT_LEN;
	CHECK_INT(tsn_record_sign(&r2, wsk), ==, 0);
	CHECK_INT(tsn_record_verify(&r2), ==, -EBADMSG);
	r2 = r;
	r2.salt_len = 15;
	CHECK_INT(tsn_record_sign(&r2, wsk), ==, 0);
	CHECK_INT(tsn_record_verify(&r2), ==, -EBADMSG);
	CHECK_INT(tsn_record_keyword(&r2, wsk, sk[0], buf, 0, 1, NOW + HOUR), ==, -EINVAL);
	CHECK_INT(tsn_record_keyword(&r2, wsk, sk[0], buf, TSN_REC_VALUE_MAX - 95, 1, NOW + HOUR),
	          ==, -EINVAL);

	/* the owner: an older seq is stale, a tombstone with a higher seq replaces */
	kwrec(&r2, "terra", sk[0], 'o', 40, 4, NOW + HOUR);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, -ESTALE);
	kwrec(&r2, "terra", sk[0], 'w', 40, 6, NOW + HOUR);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, 0);
	/* another owner gets a slot of its own */
	kwrec(&r2, "terra", sk[1], 'b', 40, 1, NOW + HOUR);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r2), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW, key, 0, out, 8, &total), ==, 2);
	CHECK_INT(tsn_record_decode(out[0].p, out[0].len, &r2, &used), ==, 0);
	CHECK_U64(r2.seq, ==, 6);
	CHECK_INT(r2.value[96], ==, 'w');
	tsn_recstore_free(rs);
}

static void
test_limits(void)
{
	struct tsn_recstore_opts o;
	struct tsn_recstore *rs;
	struct tsn_blob out[16];
	struct tsn_record x;
	uint8_t key[TSN_ID_LEN], key2[TSN_ID_LEN], pk[12][32], sk[12][64], big[800];
	size_t total, used;

	memset(big, 'b', sizeof(big));
	for (int i = 0; i < 12; i++)
		crypto_sign_keypair(pk[i], sk[i]);
	tsn_recstore_opts_default(&o);
	o.kw_per_key = 4;
	o.kw_bytes_per_key = 3000;
	o.max_records = 8;
	CHECK_INT(tsn_recstore_new(&rs, &o), ==, 0);
	tsn_keyword_key("terra", key);
	tsn_keyword_key("pins", key2);

	/* keyword entries: 4 per key; a newcomer evicts the earliest expiry */
	for (int i = 0; i < 6; i++) {
		kwrec(&r, "terra", sk[i], '0' + i, 40, 1, NOW + (uint64_t)(i + 1) * 1000);
		CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	}
	CHECK_INT(tsn_recstore_get(rs, NOW, key, 0, out, 16, &total), ==, 4);
	for (size_t i = 0; i < 4; i++) {
		CHECK_INT(tsn_record_decode(out[i].p, out[i].len, &x, &used), ==, 0);
		CHECK_INT(x.value[96], ==, '2' + (int)i); /* entries 2..5 kept */
	}
	/* an owner updating its entry is not a newcomer: nothing evicted */
	kwrec(&r, "terra", sk[5], '5', 40, 2, NOW + HOUR);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW, key, 0, out, 16, &total), ==, 4);
	/* the earliest expiry goes first (entry 2, at NOW + 3000), not the
	 * earliest inserted: entry 5 was refreshed in place */
	kwrec(&r, "terra", sk[6], '6', 40, 1, NOW + HOUR);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	CHECK_INT(tsn_recstore_get(rs, NOW, key, 0, out, 16, &total), ==, 4);
	CHECK_INT(tsn_record_decode(out[0].p, out[0].len, &x, &used), ==, 0);
	CHECK_INT(x.value[96], ==, '3');

	/* bytes per key: 800-byte values (949 encoded), 3000 bytes: 3 fit */
	for (int i = 0; i < 4; i++) {
		kwrec(&r, "pins", sk[i], 'a' + i, 800 - 96, 1, NOW + HOUR + (uint64_t)i);
		CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	}
	CHECK_INT(tsn_recstore_get(rs, NOW, key2, 0, out, 16, &total), ==, 3);
	CHECK_INT(tsn_record_decode(out[0].p, out[0].len, &x, &used), ==, 0);
	CHECK_INT(x.value[96], ==, 'b');
	/* total count (8) still refuses newcomers, keyword or not: 4 + 3 held */
	CHECK_INT(tsn_recstore_count(rs), ==, 7);
	CHECK_INT(tsn_record_immutable(&r, "one more", 8, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, 0);
	CHECK_INT(tsn_record_immutable(&r, "two more", 8, NOW + HOUR), ==, 0);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, -ENOSPC);
	kwrec(&r, "other", sk[0], 'z', 40, 1, NOW + HOUR);
	CHECK_INT(tsn_recstore_put(rs, NOW, &r), ==, -ENOSPC);
	/* after terra's short-lived entries expire (3..4 at NOW + 5000), there is room */
	CHECK_INT(tsn_recstore_put(rs, NOW + 5000, &r), ==, 0);
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
	test_keyword();
	test_limits();
	printf("record ok\n");
	return 0;
}
