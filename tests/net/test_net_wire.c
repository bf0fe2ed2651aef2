/*
 * test_net_wire.c: datagram and record codec: round trips of every message
 * type, and rejection of truncated, oversized, trailing, unknown and
 * out-of-range input.
 */
#include <errno.h>
#include <sodium.h>

#include "../check.h"
#include "addr.h"
#include "record.h"
#include "wire.h"

static struct tsn_msg m, back;
static uint8_t buf[TSN_WIRE_MTU + 64];

static void
fill(void *p, size_t n, uint8_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 7);
}

static void
hdr(uint8_t type)
{
	memset(&m, 0, sizeof(m));
	m.h.type = type;
	m.h.txid = UINT64_C(0x0102030405060708);
	fill(m.h.sender, TSN_ID_LEN, 9);
}

/* Encode m, decode it back, check the header, and check every truncation fails. */
static int
roundtrip(void)
{
	int len = tsn_wire_encode(&m, buf, sizeof(buf));

	CHECK_INT(len, >=, TSN_WIRE_HDR_LEN);
	CHECK_INT(len, <=, TSN_WIRE_MTU);
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, 0);
	CHECK_INT(back.h.type, ==, m.h.type);
	CHECK_U64(back.h.txid, ==, m.h.txid);
	CHECK_MEM(back.h.sender, m.h.sender, TSN_ID_LEN);
	for (int cut = 0; cut < len; cut++)
		CHECK_INT(tsn_wire_decode(buf, (size_t)cut, &back), ==, -EBADMSG);
	/* a trailing byte is an error too: each body has an exact grammar */
	buf[len] = 0;
	CHECK_INT(tsn_wire_decode(buf, (size_t)len + 1, &back), ==, -EBADMSG);
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, 0);
	return len;
}

static void
test_addr(void)
{
	struct tsn_addr a, b;
	char s[TSN_ADDR_STRLEN];

	CHECK_INT(tsn_addr_parse("1.2.3.4:5", 9, &a), ==, 0);
	CHECK_STR(tsn_addr_format(&a, s), "1.2.3.4:5");
	CHECK_INT(tsn_addr_parse("[::1]:65535", 11, &b), ==, 0);
	CHECK_STR(tsn_addr_format(&b, s), "[::1]:65535");
	CHECK_INT(tsn_addr_parse("[::ffff:10.0.0.1]:7", 19, &b), ==, 0);
	CHECK_INT(b.family, ==, TSN_ADDR_V4); /* mapped IPv4 becomes IPv4 */
	CHECK_STR(tsn_addr_format(&b, s), "10.0.0.1:7");
	CHECK(tsn_addr_cmp(&a, &b) != 0);
	/* not NUL-terminated input: only len bytes are read */
	CHECK_INT(tsn_addr_parse("1.2.3.4:5XYZ", 9, &b), ==, 0);
	CHECK(tsn_addr_eq(&a, &b));
	CHECK_INT(tsn_addr_parse("1.2.3.4:65536", 13, &b), ==, -EINVAL);
	CHECK_INT(tsn_addr_parse("1.2.3.4:", 8, &b), ==, -EINVAL);
	CHECK_INT(tsn_addr_parse("1.2.3.4", 7, &b), ==, -EINVAL);
	CHECK_INT(tsn_addr_parse("host:80", 7, &b), ==, -EINVAL);
	CHECK_INT(tsn_addr_parse("::1:80", 6, &b), ==, -EINVAL);
	CHECK_INT(tsn_addr_parse("[::1]80", 7, &b), ==, -EINVAL);
	CHECK_INT(tsn_addr_parse("[]:80", 5, &b), ==, -EINVAL);
	CHECK_INT(tsn_addr_parse("1.2.3.4:+5", 10, &b), ==, -EINVAL);

	/* martians */
	const char *bad[] = {"0.1.2.3:1", "224.0.0.1:1", "255.255.255.255:1", "1.2.3.4:0",
	                     "[ff02::1]:1", "[fe80::1]:1", "[::]:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(tsn_addr_parse(bad[i], strlen(bad[i]), &b), ==, 0);
		CHECK(tsn_addr_is_martian(&b, true));
	}
	CHECK_INT(tsn_addr_parse("127.0.0.1:9", 11, &b), ==, 0);
	CHECK(tsn_addr_is_martian(&b, false));
	CHECK(!tsn_addr_is_martian(&b, true));
	CHECK_INT(tsn_addr_parse("[::1]:9", 7, &b), ==, 0);
	CHECK(tsn_addr_is_martian(&b, false));
	CHECK(!tsn_addr_is_martian(&b, true));
	CHECK(!tsn_addr_is_martian(&a, false));
	CHECK_INT(tsn_addr_parse("[2001:db8::1]:9", 15, &b), ==, 0);
	CHECK(!tsn_addr_is_martian(&b, false));
	b.family = 5;
	CHECK(tsn_addr_is_martian(&b, true));
}

static void
test_records(void)
{
	static struct tsn_record r, r2;
	uint8_t pk[32], sk[64], rb[TSN_REC_MAX_LEN + 8], key[TSN_ID_LEN];
	size_t used;
	int len;

	crypto_sign_keypair(pk, sk);
	CHECK_INT(tsn_record_immutable(&r, "hello", 5, 1000), ==, 0);
	CHECK_INT(tsn_record_verify(&r), ==, 0);
	len = tsn_record_encode(&r, rb, sizeof(rb));
	CHECK_INT(len, ==, TSN_REC_FIXED_LEN + 5);
	CHECK_INT(tsn_record_decode(rb, (size_t)len, &r2, &used), ==, 0);
	CHECK_INT(used, ==, len);
	CHECK_INT(tsn_record_verify(&r2), ==, 0);
	CHECK_MEM(r2.value, "hello", 5);
	r2.value[0] ^= 1;
	CHECK_INT(tsn_record_verify(&r2), ==, -EBADMSG); /* key no longer the hash */

	CHECK_INT(tsn_record_signed(&r, TSN_REC_MUTABLE, sk, NULL, "name", 4, "v1", 2, 7, 5000), ==, 0);
	tsn_record_mutable_key(key, pk, "name", 4);
	CHECK_MEM(r.key, key, TSN_ID_LEN);
	CHECK_INT(tsn_record_verify(&r), ==, 0);
	len = tsn_record_encode(&r, rb, sizeof(rb));
	CHECK_INT(len, ==, TSN_REC_FIXED_LEN + 4 + 2 + 96);
	CHECK_INT(tsn_record_decode(rb, (size_t)len, &r2, &used), ==, 0);
	CHECK_INT(tsn_record_verify(&r2), ==, 0);
	CHECK_U64(r2.seq, ==, 7);
	for (int cut = 0; cut < len; cut++)
		CHECK(tsn_record_decode(rb, (size_t)cut, &r2, &used) != 0);
	/* every single bit flip breaks the signature or the structure */
	for (int i = 2; i < len; i++) {
		rb[i] ^= 0x10;
		if (tsn_record_decode(rb, (size_t)len, &r2, &used) == 0 && used == (size_t)len)
			CHECK_INT(tsn_record_verify(&r2), ==, -EBADMSG);
		rb[i] ^= 0x10;
	}
	rb[0] = 2;
	CHECK_INT(tsn_record_decode(rb, (size_t)len, &r2, &used), ==, -EPROTONOSUPPORT);
	rb[0] = 1;
	rb[1] = 4;
	CHECK_INT(tsn_record_decode(rb, (size_t)len, &r2, &used), ==, -EPROTONOSUPPORT);
	rb[1] = TSN_REC_MUTABLE;
	/* signing with another key than the one the key binds: refused */
	r2 = r;
	{
		uint8_t pk2[32], sk2[64];
		crypto_sign_keypair(pk2, sk2);
		CHECK_INT(tsn_record_sign(&r2, sk2), ==, 0); /* mutable: recomputes the key */
		CHECK_INT(tsn_record_verify(&r2), ==, 0);
		memcpy(r2.pubkey, pk, 32); /* claim another signer */
		CHECK_INT(tsn_record_verify(&r2), ==, -EBADMSG);
	}
	/* limits */
	CHECK_INT(tsn_record_immutable(&r, rb, TSN_REC_VALUE_MAX + 1, 1), ==, -EINVAL);
	CHECK_INT(tsn_record_signed(&r, TSN_REC_MUTABLE, sk, NULL, rb, TSN_REC_SALT_MAX + 1, "v", 1, 1, 1),
	          ==, -EINVAL);
	CHECK_INT(tsn_record_signed(&r, TSN_REC_IMMUTABLE, sk, NULL, NULL, 0, "v", 1, 1, 1), ==, -EINVAL);
	/* value_len over its maximum in the bytes */
	CHECK_INT(tsn_record_immutable(&r, "x", 1, 1), ==, 0);
	len = tsn_record_encode(&r, rb, sizeof(rb));
	rb[51] = 0xff; rb[52] = 0xff;
	CHECK_INT(tsn_record_decode(rb, sizeof(rb), &r2, &used), ==, -EBADMSG);
	/* salt on an immutable record */
	len = tsn_record_encode(&r, rb, sizeof(rb));
	rb[50] = 1;
	CHECK_INT(tsn_record_decode(rb, sizeof(rb), &r2, &used), ==, -EBADMSG);
	/* the largest record fits a STORE datagram */
	CHECK_INT(TSN_WIRE_HDR_LEN + TSN_REC_MAX_LEN, <=, TSN_WIRE_MTU);
}

static void
test_messages(void)
{
	static struct tsn_record recs[3];
	struct tsn_blob blobs[3];
	static uint8_t enc[3][TSN_REC_MAX_LEN];
	uint8_t sk[64], pk[32];
	size_t packed;
	int len;

	hdr(TSN_MSG_PING);
	CHECK_INT(roundtrip(), ==, TSN_WIRE_HDR_LEN);

	hdr(TSN_MSG_PONG);
	CHECK_INT(tsn_addr_parse("[2001:db8::7]:4242", 18, &m.u.pong.observed), ==, 0);
	roundtrip();
	CHECK(tsn_addr_eq(&back.u.pong.observed, &m.u.pong.observed));

	hdr(TSN_MSG_FIND_NODE);
	fill(m.u.find_node.target, TSN_ID_LEN, 1);
	CHECK_INT(roundtrip(), ==, TSN_WIRE_HDR_LEN + TSN_ID_LEN);
	CHECK_MEM(back.u.find_node.target, m.u.find_node.target, TSN_ID_LEN);

	/* NODES: 20 IPv6 contacts, the worst case, fit */
	hdr(TSN_MSG_NODES);
	m.u.nodes.n = TSN_WIRE_NODES_MAX;
	for (int i = 0; i < TSN_WIRE_NODES_MAX; i++) {
		char s[64];
		snprintf(s, sizeof(s), "[2001:db8::%x]:%d", i + 1, 1000 + i);
		CHECK_INT(tsn_addr_parse(s, strlen(s), &m.u.nodes.nodes[i].addr), ==, 0);
		if (i % 2)
			CHECK_INT(tsn_addr_parse("10.1.2.3:99", 11, &m.u.nodes.nodes[i].addr), ==, 0);
		fill(m.u.nodes.nodes[i].id, TSN_ID_LEN, (uint8_t)i);
	}
	len = roundtrip();
	CHECK_INT(back.u.nodes.n, ==, TSN_WIRE_NODES_MAX);
	for (int i = 0; i < TSN_WIRE_NODES_MAX; i++) {
		CHECK(tsn_addr_eq(&back.u.nodes.nodes[i].addr, &m.u.nodes.nodes[i].addr));
		CHECK_MEM(back.u.nodes.nodes[i].id, m.u.nodes.nodes[i].id, TSN_ID_LEN);
	}
	/* count over the maximum */
	buf[TSN_WIRE_HDR_LEN] = TSN_WIRE_NODES_MAX + 1;
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, -EBADMSG);
	buf[TSN_WIRE_HDR_LEN] = TSN_WIRE_NODES_MAX;
	/* a bad family */
	buf[TSN_WIRE_HDR_LEN + 1] = 5;
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, -EBADMSG);
	/* encoding a bad family is refused */
	m.u.nodes.nodes[0].addr.family = 0;
	CHECK_INT(tsn_wire_encode(&m, buf, sizeof(buf)), ==, -EINVAL);

	hdr(TSN_MSG_FIND_VALUE);
	fill(m.u.find_value.key, TSN_ID_LEN, 3);
	m.u.find_value.cursor = 513;
	roundtrip();
	CHECK_INT(back.u.find_value.cursor, ==, 513);

	/* STORE of the largest record */
	crypto_sign_keypair(pk, sk);
	hdr(TSN_MSG_STORE);
	{
		uint8_t v[TSN_REC_VALUE_MAX], salt[TSN_REC_SALT_MAX];
		fill(v, sizeof(v), 5);
		fill(salt, sizeof(salt), 6);
		CHECK_INT(tsn_record_signed(&m.u.store.rec, TSN_REC_MUTABLE, sk, NULL, salt, sizeof(salt),
		                            v, sizeof(v), 99, 123456), ==, 0);
	}
	len = roundtrip();
	CHECK_INT(len, ==, TSN_WIRE_HDR_LEN + TSN_REC_MAX_LEN);
	CHECK_INT(back.u.store.rc, ==, 0);
	CHECK_INT(tsn_record_verify(&back.u.store.rec), ==, 0);
	CHECK_MEM(back.u.store.rec.value, m.u.store.rec.value, TSN_REC_VALUE_MAX);
	/* a STORE of an unknown record version decodes with rc set (acked UNSUPPORTED) */
	buf[TSN_WIRE_HDR_LEN] = 9;
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, 0);
	CHECK_INT(back.u.store.rc, ==, -EPROTONOSUPPORT);

	hdr(TSN_MSG_STORE_ACK);
	m.u.store_ack.status = TSN_STORE_STALE;
	roundtrip();
	CHECK_INT(tsn_wire_status_errno(back.u.store_ack.status), ==, -ESTALE);
	CHECK_INT(tsn_wire_status_errno(200), ==, -EIO);
	CHECK_INT(tsn_wire_errno_status(-EBADMSG), ==, TSN_STORE_INVALID);

	/* VALUES: paging by what fits */
	for (int i = 0; i < 3; i++) {
		uint8_t v[TSN_REC_VALUE_MAX];
		fill(v, sizeof(v), (uint8_t)i);
		CHECK_INT(tsn_record_immutable(&recs[i], v, 500, 1000), ==, 0);
		len = tsn_record_encode(&recs[i], enc[i], sizeof(enc[i]));
		blobs[i].p = enc[i];
		blobs[i].len = (size_t)len;
	}
	hdr(TSN_MSG_VALUES);
	len = tsn_wire_encode_values(&m.h, blobs, 3, 4, 10, buf, sizeof(buf), &packed);
	CHECK_INT(packed, ==, 2); /* 2 x 555 bytes fit in 1200, 3 do not */
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, 0);
	CHECK_INT(back.h.type, ==, TSN_MSG_VALUES);
	CHECK_INT(back.u.values.n, ==, 2);
	CHECK_INT(back.u.values.next, ==, 6);
	CHECK_MEM(back.u.values.recs[1].value, recs[1].value, 500);
	for (int cut = 0; cut < len; cut++)
		CHECK_INT(tsn_wire_decode(buf, (size_t)cut, &back), ==, -EBADMSG);
	/* last page: next 0 */
	len = tsn_wire_encode_values(&m.h, blobs, 1, 9, 10, buf, sizeof(buf), &packed);
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, 0);
	CHECK_INT(back.u.values.next, ==, 0);
	/* a record of an unknown version inside a page is stepped over */
	buf[TSN_WIRE_HDR_LEN + 3 + 2] = 7;
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, 0);
	CHECK_INT(back.u.values.n, ==, 0);
	CHECK_INT(back.u.values.skipped, ==, 1);
	/* a record length that disagrees with the record */
	buf[TSN_WIRE_HDR_LEN + 3 + 2] = 1;
	buf[TSN_WIRE_HDR_LEN + 4]--;
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, -EBADMSG);

	/* unknown version, unknown and reserved types, oversize */
	hdr(TSN_MSG_PING);
	len = tsn_wire_encode(&m, buf, sizeof(buf));
	buf[0] = 2;
	CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, -EPROTONOSUPPORT);
	buf[0] = TSN_WIRE_VERSION;
	for (int t = 0; t < 256; t++) {
		int want = (t >= TSN_MSG_PING && t <= TSN_MSG_STORE_ACK) ? -EBADMSG : -EOPNOTSUPP;
		if (t == TSN_MSG_PING)
			want = 0;
		buf[1] = (uint8_t)t;
		CHECK_INT(tsn_wire_decode(buf, (size_t)len, &back), ==, want);
	}
	memset(buf, 0, sizeof(buf));
	buf[0] = TSN_WIRE_VERSION;
	buf[1] = TSN_MSG_PING;
	CHECK_INT(tsn_wire_decode(buf, TSN_WIRE_MTU + 1, &back), ==, -EBADMSG);
	CHECK_INT(tsn_wire_decode(buf, 0, &back), ==, -EBADMSG);
	CHECK_INT(tsn_wire_decode(buf, 1, &back), ==, -EBADMSG);
	/* FORWARD cannot be encoded yet */
	hdr(TSN_MSG_FORWARD);
	CHECK_INT(tsn_wire_encode(&m, buf, sizeof(buf)), ==, -EINVAL);
	/* too small a buffer */
	hdr(TSN_MSG_FIND_NODE);
	CHECK_INT(tsn_wire_encode(&m, buf, TSN_WIRE_HDR_LEN + 5), ==, -ENOSPC);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_addr();
	test_records();
	test_messages();
	printf("wire ok\n");
	return 0;
}
