/* test_block.c: the chunk codec: round trips, format, determinism, tampering. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "block.h"
#include "block_i.h"
#include "check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void
fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng() >> 24);
}

static void
fill_text(uint8_t *p, size_t n)
{
	static const char *words[] = {"tree ", "share ", "net ", "chunk ", "block ", "node\n"};
	size_t i = 0;
	while (i < n) {
		const char *w = words[rng() % 6];
		for (size_t j = 0; w[j] != '\0' && i < n; j++)
			p[i++] = (uint8_t)w[j];
	}
}

static uint8_t plain[TSN_CHUNK_MAX + 1], back[TSN_CHUNK_MAX + 1];
static uint8_t blk[TSN_BLOCK_MAX], blk2[TSN_BLOCK_MAX], copy[TSN_BLOCK_MAX];

/* Encode then decode; returns the block length. */
static long
round_trip(struct tsn_codec *c, int kind, const uint8_t *p, size_t len)
{
	struct tsn_chunk_ref ref;
	const char *why = NULL;
	long n, m;

	n = tsn_codec_encode(c, &tsn_secret_public, kind, p, len, blk, &ref);
	CHECK_INT(n, >, 0);
	CHECK_INT(n, <=, TSN_BLOCK_MAX);
	CHECK_U64(ref.len, ==, len);
	memcpy(copy, blk, (size_t)n);
	m = tsn_codec_decode(c, &ref, kind, copy, (size_t)n, back, TSN_CHUNK_MAX, &why);
	if (m < 0)
		fprintf(stderr, "decode: %s\n", why);
	CHECK_INT(m, ==, (long)len);
	CHECK_MEM(back, p, len);
	/* ref.len == 0 means "not known": accepted too. */
	ref.len = 0;
	memcpy(copy, blk, (size_t)n);
	CHECK_INT(tsn_codec_decode(c, &ref, kind, copy, (size_t)n, back, TSN_CHUNK_MAX, NULL), ==,
	          (long)len);
	memcpy(copy, blk, (size_t)n);
	CHECK_INT(tsn_codec_decode_checked(c, &ref, kind, copy, (size_t)n, back, TSN_CHUNK_MAX,
	                                   NULL), ==, (long)len);
	CHECK_MEM(back, p, len);
	return n;
}

static void
test_round_trips(struct tsn_codec *c)
{
	static const size_t sizes[] = {0, 1, 2, 15, 16, 17, 100, 1023, 1024, 4096, 65536,
	                               TSN_CHUNK_MAX - 1, TSN_CHUNK_MAX};
	struct tsn_chunk_ref ref;
	long n;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];
		fill_random(plain, len);
		n = round_trip(c, TSN_BLOCK_DATA, plain, len);
		/* Incompressible: stored raw, block = plaintext + fixed overhead. */
		CHECK_INT(n, ==, (long)(len + TSN_BLOCK_OVERHEAD));
		fill_text(plain, len);
		n = round_trip(c, TSN_BLOCK_INDEX, plain, len);
		if (len >= 4096)
			CHECK_INT(n, <, (long)(len / 2));
		memset(plain, 0, len);
		round_trip(c, TSN_BLOCK_DATA, plain, len);
	}
	fill_random(plain, TSN_CHUNK_MAX);
	CHECK_INT(round_trip(c, TSN_BLOCK_DATA, plain, TSN_CHUNK_MAX), ==, TSN_BLOCK_MAX);

	/* Too big, bad kind. */
	CHECK_INT(tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, TSN_CHUNK_MAX + 1,
	                           blk, &ref), ==, -EINVAL);
	CHECK_INT(tsn_codec_encode(c, &tsn_secret_public, 2, plain, 10, blk, &ref), ==, -EINVAL);
	CHECK_INT(tsn_codec_encode(c, &tsn_secret_public, -1, plain, 10, blk, &ref), ==, -EINVAL);
}

/* The bytes are what docs/formats.md says. */
static void
test_format(struct tsn_codec *c)
{
	struct tsn_chunk_ref ref;
	uint8_t key[32], id[32], nonce[24], inner[TSN_BLOCK_MAX];
	unsigned long long ilen;
	crypto_generichash_state st;
	long n;

	/* The public secret is BLAKE2b-256 of its label. */
	crypto_generichash(key, 32, (const uint8_t *)"TreeShareNet public convergence secret v1",
	                   41, NULL, 0);
	CHECK_MEM(key, tsn_secret_public.b, 32);

	for (int compressible = 0; compressible < 2; compressible++) {
		size_t len = 5000;
		if (compressible)
			fill_text(plain, len);
		else
			fill_random(plain, len);
		n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_INDEX, plain, len, blk, &ref);
		CHECK_INT(n, >, 0);
		crypto_generichash(key, 32, plain, len, tsn_secret_public.b, 32);
		CHECK_MEM(ref.key, key, 32);
		crypto_generichash(id, 32, blk, (size_t)n, NULL, 0);
		CHECK_MEM(ref.id, id, 32);
		CHECK_INT(blk[0], ==, TSN_BLOCK_VERSION);

		uint8_t extra[7] = {TSN_BLOCK_INDEX, (uint8_t)compressible};
		size_t ne = 2;
		if (compressible) {
			uint32_t v = (uint32_t)ZSTD_versionNumber();
			extra[2] = (uint8_t)(v >> 24);
			extra[3] = (uint8_t)(v >> 16);
			extra[4] = (uint8_t)(v >> 8);
			extra[5] = (uint8_t)v;
			extra[6] = TSN_ZSTD_LEVEL;
			ne = 7;
		}
		crypto_generichash_init(&st, key, 32, 24);
		crypto_generichash_update(&st, (const uint8_t *)"tsn/nonce/v1", 12);
		crypto_generichash_update(&st, extra, ne);
		crypto_generichash_final(&st, nonce, 24);
		CHECK_MEM(blk + 1, nonce, 24);

		CHECK_INT(crypto_aead_xchacha20poly1305_ietf_decrypt(inner, &ilen, NULL, blk + 25,
		                                                     (size_t)n - 25, blk, 1, nonce,
		                                                     key), ==, 0);
		CHECK_INT(inner[0], ==, TSN_BLOCK_INDEX);
		CHECK_INT(inner[1], ==, compressible);
		CHECK_INT(inner[2], ==, 0);
		CHECK_INT(inner[3], ==, 0);
		CHECK_U64((uint32_t)inner[4] << 24 | inner[5] << 16 | inner[6] << 8 | inner[7], ==, len);
		if (compressible) {
			CHECK_U64(ZSTD_decompress(back, len, inner + 8, (size_t)ilen - 8), ==, len);
			CHECK_MEM(back, plain, len);
		} else {
			CHECK_U64(ilen, ==, len + 8);
			CHECK_MEM(inner + 8, plain, len);
		}
	}
}

/* zstd is used exactly when it saves at least 1/16. */
static void
test_compress_rule(struct tsn_codec *c)
{
	const size_t len = 4096;
	uint8_t *z = malloc(ZSTD_compressBound(len));
	struct tsn_chunk_ref ref;
	int seen_raw = 0, seen_zstd = 0, seen_edge = 0;

	CHECK(z != NULL);
	for (size_t x = 3600; x <= len; x += 3) {
		size_t csize;
		long n;
		fill_random(plain, x);
		memset(plain + x, 'a', len - x);
		csize = ZSTD_compress(z, ZSTD_compressBound(len), plain, len, TSN_ZSTD_LEVEL);
		CHECK(!ZSTD_isError(csize));
		n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, len, blk, &ref);
		if (16 * csize <= 15 * len) {
			CHECK_INT(n, ==, (long)(csize + TSN_BLOCK_OVERHEAD));
			seen_zstd++;
		} else {
			CHECK_INT(n, ==, (long)(len + TSN_BLOCK_OVERHEAD));
			seen_raw++;
		}
		if (csize > 15 * len / 16 - 8 && csize < 15 * len / 16 + 8)
			seen_edge++;
	}
	CHECK_INT(seen_raw, >, 0);
	CHECK_INT(seen_zstd, >, 0);
	CHECK_INT(seen_edge, >, 0);
	free(z);
}

static void
test_determinism(struct tsn_codec *c)
{
	struct tsn_codec *c2 = tsn_codec_new();
	struct tsn_chunk_ref r1, r2, r3;
	struct tsn_secret other;
	long n1, n2, n3;

	CHECK(c2 != NULL);
	for (int k = 0; k < 2; k++) {
		if (k == 0)
			fill_text(plain, 100000);
		else
			fill_random(plain, 100000);
		n1 = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, 100000, blk, &r1);
		n2 = tsn_codec_encode(c2, &tsn_secret_public, TSN_BLOCK_DATA, plain, 100000, blk2, &r2);
		CHECK_INT(n1, ==, n2);
		CHECK_MEM(blk, blk2, (size_t)n1);
		CHECK_MEM(&r1, &r2, sizeof(r1));

		/* Another secret: another key, another id. */
		memset(&other, 0x5a, sizeof(other));
		n3 = tsn_codec_encode(c, &other, TSN_BLOCK_DATA, plain, 100000, blk2, &r3);
		CHECK_INT(n3, ==, n1);
		CHECK(memcmp(r3.id, r1.id, 32) != 0);
		CHECK(memcmp(r3.key, r1.key, 32) != 0);

		/* Another kind: same key, another nonce, another id. */
		n3 = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_INDEX, plain, 100000, blk2, &r3);
		CHECK_INT(n3, ==, n1);
		CHECK_MEM(r3.key, r1.key, 32);
		CHECK(memcmp(blk2 + 1, blk + 1, 24) != 0);
		CHECK(memcmp(r3.id, r1.id, 32) != 0);
	}
	tsn_codec_free(c2);
	tsn_codec_free(NULL);
}

/* Flip byte i of the block: detected by the id, and (id recomputed) by the tag. */
static void
flip_one(struct tsn_codec *c, const struct tsn_chunk_ref *ref, int kind, size_t n, size_t i)
{
	struct tsn_chunk_ref forged = *ref;
	const char *why = NULL;
	long rc;

	memcpy(copy, blk, n);
	copy[i] ^= (uint8_t)(1u << (i % 8));
	rc = tsn_codec_decode(c, ref, kind, copy, n, back, TSN_CHUNK_MAX, &why);
	CHECK_INT(rc, ==, -EBADMSG);
	CHECK(why != NULL && strstr(why, "hash mismatch") != NULL);

	memcpy(copy, blk, n);
	copy[i] ^= 0x80;
	tsn_block_id(copy, n, forged.id);
	rc = tsn_codec_decode(c, &forged, kind, copy, n, back, TSN_CHUNK_MAX, &why);
	CHECK_INT(rc, ==, i == 0 ? -EPROTO : -EBADMSG);
	/* without the hash (ids checked by the fetch): the tag still catches it */
	memcpy(copy, blk, n);
	copy[i] ^= (uint8_t)(1u << (i % 8));
	rc = tsn_codec_decode_checked(c, ref, kind, copy, n, back, TSN_CHUNK_MAX, &why);
	CHECK_INT(rc, ==, i == 0 && (copy[0] != TSN_BLOCK_VERSION) ? -EPROTO : -EBADMSG);
}

static void
test_tamper(struct tsn_codec *c)
{
	struct tsn_chunk_ref ref, forged;
	const char *why;
	long n;

	/* Small blocks: every byte, raw and compressed. */
	for (int k = 0; k < 2; k++) {
		if (k == 0)
			fill_random(plain, 300);
		else
			fill_text(plain, 300);
		n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, 300, blk, &ref);
		CHECK_INT(n, >, 0);
		for (size_t i = 0; i < (size_t)n; i++)
			flip_one(c, &ref, TSN_BLOCK_DATA, (size_t)n, i);
	}
	/* A big one: the edges and a sample. */
	fill_random(plain, TSN_CHUNK_MAX);
	n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, TSN_CHUNK_MAX, blk, &ref);
	for (size_t i = 0; i < (size_t)n; i += (i < 64 || i + 64 > (size_t)n) ? 1 : 997)
		flip_one(c, &ref, TSN_BLOCK_DATA, (size_t)n, i);

	/* Truncated or extended with a matching id. */
	n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, 1000, blk, &ref);
	for (size_t cut = 0; cut < (size_t)n; cut += (cut < 80 ? 1 : 101)) {
		forged = ref;
		memcpy(copy, blk, cut);
		tsn_block_id(copy, cut, forged.id);
		CHECK_INT(tsn_codec_decode(c, &forged, TSN_BLOCK_DATA, copy, cut, back, TSN_CHUNK_MAX,
		                           NULL), ==, -EBADMSG);
	}
	forged = ref;
	memcpy(copy, blk, (size_t)n);
	copy[n] = 0;
	tsn_block_id(copy, (size_t)n + 1, forged.id);
	CHECK_INT(tsn_codec_decode(c, &forged, TSN_BLOCK_DATA, copy, (size_t)n + 1, back,
	                           TSN_CHUNK_MAX, NULL), ==, -EBADMSG);

	/* Over the maximum block length, with a matching id. */
	{
		uint8_t *big = calloc(1, TSN_BLOCK_MAX + 1);
		CHECK(big != NULL);
		big[0] = TSN_BLOCK_VERSION;
		forged = ref;
		tsn_block_id(big, TSN_BLOCK_MAX + 1, forged.id);
		CHECK_INT(tsn_codec_decode(c, &forged, TSN_BLOCK_DATA, big, TSN_BLOCK_MAX + 1, back,
		                           TSN_CHUNK_MAX, NULL), ==, -EBADMSG);
		free(big);
	}

	/* Unknown version, even with a matching id. */
	memcpy(copy, blk, (size_t)n);
	copy[0] = 2;
	forged = ref;
	tsn_block_id(copy, (size_t)n, forged.id);
	why = NULL;
	CHECK_INT(tsn_codec_decode(c, &forged, TSN_BLOCK_DATA, copy, (size_t)n, back, TSN_CHUNK_MAX,
	                           &why), ==, -EPROTO);
	CHECK(why != NULL);

	/* Wrong key. */
	forged = ref;
	forged.key[5] ^= 1;
	memcpy(copy, blk, (size_t)n);
	CHECK_INT(tsn_codec_decode(c, &forged, TSN_BLOCK_DATA, copy, (size_t)n, back, TSN_CHUNK_MAX,
	                           NULL), ==, -EBADMSG);

	/* Wrong kind. */
	memcpy(copy, blk, (size_t)n);
	why = NULL;
	CHECK_INT(tsn_codec_decode(c, &ref, TSN_BLOCK_INDEX, copy, (size_t)n, back, TSN_CHUNK_MAX,
	                           &why), ==, -EBADMSG);
	CHECK(why != NULL && strstr(why, "kind") != NULL);

	/* Length differing from the ref's. */
	forged = ref;
	forged.len = 999;
	memcpy(copy, blk, (size_t)n);
	CHECK_INT(tsn_codec_decode(c, &forged, TSN_BLOCK_DATA, copy, (size_t)n, back, TSN_CHUNK_MAX,
	                           NULL), ==, -EBADMSG);

	/* Cap too small, raw and compressed; exact cap fits. */
	for (int k = 0; k < 2; k++) {
		if (k == 0)
			fill_random(plain, 1000);
		else
			fill_text(plain, 1000);
		n = tsn_codec_encode(c, &tsn_secret_public, TSN_BLOCK_DATA, plain, 1000, blk, &ref);
		memcpy(copy, blk, (size_t)n);
		CHECK_INT(tsn_codec_decode(c, &ref, TSN_BLOCK_DATA, copy, (size_t)n, back, 999, NULL),
		          ==, -EMSGSIZE);
		memcpy(copy, blk, (size_t)n);
		CHECK_INT(tsn_codec_decode(c, &ref, TSN_BLOCK_DATA, copy, (size_t)n, back, 1000, NULL),
		          ==, 1000);
	}
}

/* Authentic blocks with bad inner contents (as a URI's author could make). */
static long
decode_sealed(struct tsn_codec *c, const uint8_t *inner, size_t len, uint32_t reflen)
{
	struct tsn_chunk_ref ref;
	uint8_t nonce[24];
	size_t n;

	memset(ref.key, 7, sizeof(ref.key));
	memset(nonce, 9, sizeof(nonce));
	n = tsn_block_seal(ref.key, nonce, inner, len, blk);
	CHECK_U64(n, ==, len + TSN_BLOCK_OVERHEAD - TSN_BLOCK_INNER_HDR);
	tsn_block_id(blk, n, ref.id);
	ref.len = reflen;
	return tsn_codec_decode(c, &ref, TSN_BLOCK_DATA, blk, n, back, TSN_CHUNK_MAX, NULL);
}

static void
set_hdr(uint8_t *p, uint8_t kind, uint8_t flags, uint8_t r2, uint8_t r3, uint32_t len)
{
	p[0] = kind;
	p[1] = flags;
	p[2] = r2;
	p[3] = r3;
	p[4] = (uint8_t)(len >> 24);
	p[5] = (uint8_t)(len >> 16);
	p[6] = (uint8_t)(len >> 8);
	p[7] = (uint8_t)len;
}

static void
test_inner(struct tsn_codec *c)
{
	static uint8_t in[TSN_BLOCK_MAX];
	size_t zl;

	memset(in + 8, 'x', 100);
	set_hdr(in, 0, 0, 0, 0, 100);
	CHECK_INT(decode_sealed(c, in, 108, 0), ==, 100);
	CHECK_INT(decode_sealed(c, in, 108, 100), ==, 100);
	CHECK_INT(decode_sealed(c, in, 108, 101), ==, -EBADMSG);
	CHECK_INT(decode_sealed(c, in, 7, 0), ==, -EBADMSG);   /* no room for the header */
	CHECK_INT(decode_sealed(c, in, 107, 0), ==, -EBADMSG); /* raw body short */
	CHECK_INT(decode_sealed(c, in, 109, 0), ==, -EBADMSG); /* raw body long */
	set_hdr(in, 1, 0, 0, 0, 100);
	CHECK_INT(decode_sealed(c, in, 108, 0), ==, -EBADMSG); /* kind */
	set_hdr(in, 0, 2, 0, 0, 100);
	CHECK_INT(decode_sealed(c, in, 108, 0), ==, -EBADMSG); /* unknown flag */
	set_hdr(in, 0, 0, 1, 0, 100);
	CHECK_INT(decode_sealed(c, in, 108, 0), ==, -EBADMSG); /* reserved */
	set_hdr(in, 0, 0, 0, 1, 100);
	CHECK_INT(decode_sealed(c, in, 108, 0), ==, -EBADMSG);
	set_hdr(in, 0, 0, 0, 0, TSN_CHUNK_MAX + 1);
	CHECK_INT(decode_sealed(c, in, 108, 0), ==, -EBADMSG); /* length over the max */

	/* zstd: good, garbage, and a frame that decodes to more or less. */
	memset(plain, 'y', 50000);
	zl = ZSTD_compress(in + 8, sizeof(in) - 8, plain, 50000, 1);
	CHECK(!ZSTD_isError(zl));
	set_hdr(in, 0, 1, 0, 0, 50000);
	CHECK_INT(decode_sealed(c, in, 8 + zl, 0), ==, 50000);
	CHECK_MEM(back, plain, 50000);
	set_hdr(in, 0, 1, 0, 0, 49999);
	CHECK_INT(decode_sealed(c, in, 8 + zl, 0), ==, -EBADMSG); /* would write past the cap */
	set_hdr(in, 0, 1, 0, 0, 50001);
	CHECK_INT(decode_sealed(c, in, 8 + zl, 0), ==, -EBADMSG); /* short output */
	set_hdr(in, 0, 1, 0, 0, 50000);
	CHECK_INT(decode_sealed(c, in, 8 + zl - 1, 0), ==, -EBADMSG); /* truncated frame */
	memset(in + 8, 0xa5, 200);
	CHECK_INT(decode_sealed(c, in, 208, 0), ==, -EBADMSG); /* garbage */
	/* A frame promising far more than the header says stops at the cap. */
	memset(plain, 0, TSN_CHUNK_MAX);
	zl = ZSTD_compress(in + 8, sizeof(in) - 8, plain, TSN_CHUNK_MAX, 1);
	set_hdr(in, 0, 1, 0, 0, 10);
	CHECK_INT(decode_sealed(c, in, 8 + zl, 0), ==, -EBADMSG);
}

int
main(void)
{
	struct tsn_codec *c = tsn_codec_new();

	CHECK(c != NULL);
	test_round_trips(c);
	test_format(c);
	test_compress_rule(c);
	test_determinism(c);
	test_tamper(c);
	test_inner(c);
	tsn_codec_free(c);
	return 0;
}
