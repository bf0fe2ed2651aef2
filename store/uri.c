/*
 * uri.c: "tsn:" + base32 of version | size | root id | root key | checksum.
 *
 * The checksum is BLAKE2b with a 4-byte digest (RFC 7693, digest length 4 in
 * the parameter block: not a truncated longer hash). libsodium refuses
 * digests under 16 bytes, and the 73 checked bytes fit in one BLAKE2b block,
 * so a one-block BLAKE2b lives here.
 */
#include <errno.h>
#include <string.h>

#include "uri.h"

#define URI_PREFIX "tsn:"
#define URI_PREFIX_LEN 4
#define URI_RAW 77     /* bytes behind the base32 text */
#define URI_CHECKED 73 /* bytes the checksum covers */
#define URI_B32 124    /* ceil(77 * 8 / 5) */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static const uint64_t b2b_iv[8] = {
	UINT64_C(0x6a09e667f3bcc908), UINT64_C(0xbb67ae8584caa73b),
	UINT64_C(0x3c6ef372fe94f82b), UINT64_C(0xa54ff53a5f1d36f1),
	UINT64_C(0x510e527fade682d1), UINT64_C(0x9b05688c2b3e6c1f),
	UINT64_C(0x1f83d9abfb41bd6b), UINT64_C(0x5be0cd19137e2179),
};

static const uint8_t b2b_sigma[12][16] = {
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
	{11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
	{7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
	{9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
	{2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
	{12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
	{13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
	{6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
	{10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static uint64_t
rotr64(uint64_t x, unsigned n)
{
	return x >> n | x << (64 - n);
}

#define B2B_G(a, b, c, d, x, y) do { \
	v[a] = v[a] + v[b] + (x); v[d] = rotr64(v[d] ^ v[a], 32); \
	v[c] = v[c] + v[d];       v[b] = rotr64(v[b] ^ v[c], 24); \
	v[a] = v[a] + v[b] + (y); v[d] = rotr64(v[d] ^ v[a], 16); \
	v[c] = v[c] + v[d];       v[b] = rotr64(v[b] ^ v[c], 63); \
} while (0)

/* Unkeyed BLAKE2b with an outlen-byte digest of len <= 128 bytes. */
static void
blake2b_small(uint8_t *out, size_t outlen, const uint8_t *in, size_t len)
{
	uint64_t h[8], v[16], m[16] = {0};

	for (size_t i = 0; i < len; i++)
		m[i / 8] |= (uint64_t)in[i] << (8 * (i % 8));
	for (int i = 0; i < 8; i++)
		h[i] = b2b_iv[i];
	h[0] ^= UINT64_C(0x01010000) ^ outlen;
	for (int i = 0; i < 8; i++) {
		v[i] = h[i];
		v[i + 8] = b2b_iv[i];
	}
	v[12] ^= len;  /* byte counter, low word */
	v[14] = ~v[14]; /* last block */
	for (int r = 0; r < 12; r++) {
		const uint8_t *s = b2b_sigma[r];
		B2B_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
		B2B_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
		B2B_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
		B2B_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
		B2B_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
		B2B_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
		B2B_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
		B2B_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
	}
	for (int i = 0; i < 8; i++)
		h[i] ^= v[i] ^ v[i + 8];
	for (size_t i = 0; i < outlen; i++)
		out[i] = (uint8_t)(h[i / 8] >> (8 * (i % 8)));
}

void
tsn_uri_format(const struct tsn_uri *u, char out[TSN_URI_STRLEN + 1])
{
	uint8_t raw[URI_RAW];
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = URI_PREFIX_LEN;

	raw[0] = TSN_URI_VERSION;
	for (int i = 0; i < 8; i++)
		raw[1 + i] = (uint8_t)(u->size >> (56 - 8 * i));
	memcpy(raw + 9, u->id, TSN_ID_LEN);
	memcpy(raw + 9 + TSN_ID_LEN, u->key, TSN_KEY_LEN);
	blake2b_small(raw + URI_CHECKED, 4, raw, URI_CHECKED);

	memcpy(out, URI_PREFIX, URI_PREFIX_LEN);
	for (size_t i = 0; i < URI_RAW; i++) {
		acc = acc << 8 | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = b32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

static int
b32_value(char ch)
{
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a';
	if (ch >= '2' && ch <= '7')
		return ch - '2' + 26;
	return -1;
}

static int
fail(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
	return -EINVAL;
}

int
tsn_uri_parse(const char *s, size_t len, struct tsn_uri *out, const char **why)
{
	uint8_t raw[URI_RAW], sum[4];
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	uint64_t size = 0;

	if (len != TSN_URI_STRLEN)
		return fail(why, "a tsn URI is \"tsn:\" and 124 characters");
	if (memcmp(s, URI_PREFIX, URI_PREFIX_LEN) != 0)
		return fail(why, "a tsn URI starts with \"tsn:\"");
	for (size_t i = URI_PREFIX_LEN; i < len; i++) {
		int v = b32_value(s[i]);
		if (v < 0)
			return fail(why, "a tsn URI has only a-z and 2-7 after \"tsn:\"");
		acc = acc << 5 | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* 124 * 5 = 620 bits = 77 bytes and 4 bits that must be zero. */
	if (o != URI_RAW || bits != 4 || (acc & 15) != 0)
		return fail(why, "nonzero padding bits in the tsn URI");
	blake2b_small(sum, sizeof(sum), raw, URI_CHECKED);
	if (memcmp(sum, raw + URI_CHECKED, sizeof(sum)) != 0)
		return fail(why, "bad checksum (mistyped or cut URI)");
	if (raw[0] != TSN_URI_VERSION)
		return fail(why, "unknown tsn URI version");
	for (int i = 0; i < 8; i++)
		size = size << 8 | raw[1 + i];
	if (size > TSN_FILE_MAX)
		return fail(why, "file size over the maximum");
	out->size = size;
	memcpy(out->id, raw + 9, TSN_ID_LEN);
	memcpy(out->key, raw + 9 + TSN_ID_LEN, TSN_KEY_LEN);
	return 0;
}
