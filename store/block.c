/*
 * block.c: the chunk codec (see block.h and docs/formats.md "Block").
 *
 * Encode works in the output buffer: zstd writes straight after the inner
 * header (only the incompressible case copies the plaintext there), then the
 * inner part is encrypted where it lies. Decode decrypts in the caller's
 * block buffer and decompresses from there into the output.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "block.h"
#include "block_i.h"
#include "util.h"

/* BLAKE2b-256("TreeShareNet public convergence secret v1"). */
const struct tsn_secret tsn_secret_public = {{
	0x34, 0x75, 0x80, 0xb0, 0xa3, 0x69, 0xb4, 0x35, 0x6a, 0xe3, 0x69, 0x4c, 0xab, 0x7b, 0x4b, 0x7e,
	0x75, 0x16, 0xd5, 0x56, 0x8d, 0x41, 0xea, 0x99, 0xd8, 0x06, 0x93, 0xc6, 0x76, 0xd2, 0x15, 0x2d,
}};

static const char nonce_label[] = "tsn/nonce/v1";
#define NONCE_LABEL_LEN (sizeof(nonce_label) - 1)

struct tsn_codec {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

struct tsn_codec *
tsn_codec_new(void)
{
	struct tsn_codec *c;

	/* Thread-safe and idempotent; picks the fast implementations. */
	if (sodium_init() < 0)
		goto fail0;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail0;
	if ((c->cctx = ZSTD_createCCtx()) == NULL)
		goto fail1;
	if ((c->dctx = ZSTD_createDCtx()) == NULL)
		goto fail2;
	return c;

fail2:
	ZSTD_freeCCtx(c->cctx);
fail1:
	free(c);
fail0:
	return NULL;
}

void
tsn_codec_free(struct tsn_codec *c)
{
	if (c == NULL)
		return;
	ZSTD_freeDCtx(c->dctx);
	ZSTD_freeCCtx(c->cctx);
	free(c);
}

void
tsn_block_id(const uint8_t *block, size_t len, uint8_t id[TSN_ID_LEN])
{
	crypto_generichash(id, TSN_ID_LEN, block, len, NULL, 0);
}

/*
 * The nonce depends on everything that decides the ciphertext besides K:
 * the kind and flags (the inner header), and for compressed blocks the zstd
 * version and level, since another zstd may compress P differently and the
 * same (K, nonce) must never seal two different plaintexts.
 */
static void
derive_nonce(const uint8_t key[TSN_KEY_LEN], uint8_t kind, uint8_t flags,
             uint8_t nonce[TSN_BLOCK_NONCE_LEN])
{
	crypto_generichash_state st;
	uint8_t extra[2 + 4 + 1];
	size_t n = 0;

	extra[n++] = kind;
	extra[n++] = flags;
	if (flags & TSN_BLOCK_FLAG_ZSTD) {
		tsn_put_be32(extra + n, (uint32_t)ZSTD_versionNumber());
		n += 4;
		extra[n++] = TSN_ZSTD_LEVEL;
	}
	crypto_generichash_init(&st, key, TSN_KEY_LEN, TSN_BLOCK_NONCE_LEN);
	crypto_generichash_update(&st, (const uint8_t *)nonce_label, NONCE_LABEL_LEN);
	crypto_generichash_update(&st, extra, n);
	crypto_generichash_final(&st, nonce, TSN_BLOCK_NONCE_LEN);
	sodium_memzero(&st, sizeof(st));
}

size_t
tsn_block_seal(const uint8_t key[TSN_KEY_LEN], const uint8_t nonce[TSN_BLOCK_NONCE_LEN],
               const uint8_t *inner, size_t len, uint8_t *out)
{
	unsigned long long clen;

	out[0] = TSN_BLOCK_VERSION;
	memmove(out + TSN_BLOCK_OFF_NONCE, nonce, TSN_BLOCK_NONCE_LEN);
	/* libsodium allows c == m: the in-place case of encode. */
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + TSN_BLOCK_OFF_INNER, &clen, inner, len,
	                                           out, 1, NULL, out + TSN_BLOCK_OFF_NONCE, key);
	return TSN_BLOCK_OFF_INNER + (size_t)clen;
}

long
tsn_codec_encode(struct tsn_codec *c, const struct tsn_secret *conv, int kind,
                 const void *plain, size_t len, uint8_t *out, struct tsn_chunk_ref *ref)
{
	uint8_t key[TSN_KEY_LEN], nonce[TSN_BLOCK_NONCE_LEN];
	uint8_t *inner = out + TSN_BLOCK_OFF_INNER, *body = inner + TSN_BLOCK_INNER_HDR;
	uint8_t flags = 0;
	size_t blen, total, zr;
	long rc;

	if (len > TSN_CHUNK_MAX || (kind != TSN_BLOCK_DATA && kind != TSN_BLOCK_INDEX)) {
		rc = -EINVAL;
		goto fail0;
	}
	crypto_generichash(key, sizeof(key), plain, len, conv->b, sizeof(conv->b));

	/*
	 * "Saves at least 1/16" is 16 * csize <= 15 * len, i.e. csize fits in
	 * floor(15 * len / 16) bytes: zstd gives up with dstSize_tooSmall
	 * otherwise, and we store the chunk raw.
	 */
	zr = ZSTD_compressCCtx(c->cctx, body, len * 15 / 16, plain, len, TSN_ZSTD_LEVEL);
	if (!ZSTD_isError(zr)) {
		flags |= TSN_BLOCK_FLAG_ZSTD;
		blen = zr;
	} else if (ZSTD_getErrorCode(zr) == ZSTD_error_dstSize_tooSmall) {
		if (len > 0)
			memcpy(body, plain, len);
		blen = len;
	} else {
		/* Storing raw here would make the block depend on memory. */
		rc = -ENOMEM;
		goto fail1;
	}

	inner[0] = (uint8_t)kind;
	inner[1] = flags;
	inner[2] = 0;
	inner[3] = 0;
	tsn_put_be32(inner + 4, (uint32_t)len);
	derive_nonce(key, (uint8_t)kind, flags, nonce);
	total = tsn_block_seal(key, nonce, inner, TSN_BLOCK_INNER_HDR + blen, out);

	tsn_block_id(out, total, ref->id);
	memcpy(ref->key, key, sizeof(key));
	ref->len = (uint32_t)len;
	sodium_memzero(key, sizeof(key));
	return (long)total;

fail1:
	sodium_memzero(key, sizeof(key));
fail0:
	return rc;
}

static long
fail_why(const char **why, const char *text, long rc)
{
	if (why != NULL)
		*why = text;
	return rc;
}

long
tsn_codec_decode(struct tsn_codec *c, const struct tsn_chunk_ref *ref, int kind,
                 uint8_t *block, size_t len, uint8_t *out, size_t cap, const char **why)
{
	uint8_t id[TSN_ID_LEN];

	tsn_block_id(block, len, id);
	if (memcmp(id, ref->id, TSN_ID_LEN) != 0)
		return fail_why(why, "hash mismatch (block tampered or corrupt)", -EBADMSG);
	return tsn_codec_decode_checked(c, ref, kind, block, len, out, cap, why);
}

long
tsn_codec_decode_inplace(struct tsn_codec *c, const struct tsn_chunk_ref *ref, int kind,
                         uint8_t *block, size_t len, uint8_t *out, size_t cap,
                         const uint8_t **plain, const char **why)
{
	uint8_t *inner = block + TSN_BLOCK_OFF_INNER, *body;
	unsigned long long ilen;
	uint32_t plen;
	size_t blen, zr;

	if (len < 1)
		return fail_why(why, "empty block", -EBADMSG);
	if (block[0] != TSN_BLOCK_VERSION)
		return fail_why(why, "unknown block version", -EPROTO);
	if (len < TSN_BLOCK_OVERHEAD)
		return fail_why(why, "block too short", -EBADMSG);
	if (len > TSN_BLOCK_MAX)
		return fail_why(why, "block too long", -EBADMSG);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(inner, &ilen, NULL, inner,
	                                               len - TSN_BLOCK_OFF_INNER, block, 1,
	                                               block + TSN_BLOCK_OFF_NONCE, ref->key) != 0)
		return fail_why(why, "authentication failed (wrong key or corrupt block)", -EBADMSG);

	/* Authentic from here on, but whoever made the URI may lie: check all. */
	if (inner[0] != kind)
		return fail_why(why, "wrong block kind", -EBADMSG);
	if ((inner[1] & ~TSN_BLOCK_FLAG_ZSTD) != 0 || inner[2] != 0 || inner[3] != 0)
		return fail_why(why, "bad inner header", -EBADMSG);
	plen = tsn_get_be32(inner + 4);
	if (plen > TSN_CHUNK_MAX)
		return fail_why(why, "plaintext length over the chunk maximum", -EBADMSG);
	if (ref->len != 0 && plen != ref->len)
		return fail_why(why, "plaintext length differs from the reference", -EBADMSG);
	if (plen > cap)
		return fail_why(why, "plaintext larger than the buffer", -EMSGSIZE);
	body = inner + TSN_BLOCK_INNER_HDR;
	blen = (size_t)ilen - TSN_BLOCK_INNER_HDR;

	if (inner[1] & TSN_BLOCK_FLAG_ZSTD) {
		/* The output cap is the checked length: zstd cannot write past it. */
		zr = ZSTD_decompressDCtx(c->dctx, out, plen, body, blen);
		if (ZSTD_isError(zr) || zr != plen)
			return fail_why(why, "bad zstd data", -EBADMSG);
		*plain = out;
	} else {
		if (blen != plen)
			return fail_why(why, "raw length differs from the header", -EBADMSG);
		*plain = body;
	}
	return (long)plen;
}

long
tsn_codec_decode_checked(struct tsn_codec *c, const struct tsn_chunk_ref *ref, int kind,
                         uint8_t *block, size_t len, uint8_t *out, size_t cap, const char **why)
{
	const uint8_t *plain;
	long n = tsn_codec_decode_inplace(c, ref, kind, block, len, out, cap, &plain, why);

	if (n > 0 && plain != out)
		memcpy(out, plain, (size_t)n);
	return n;
}
