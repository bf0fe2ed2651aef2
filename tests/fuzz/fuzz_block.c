/*
 * fuzz_block.c: the block decoder. The first byte picks what the rest is:
 *   byte % 3 == 0: key[32] | block, decoded under an id computed from the
 *                  block itself, so the input reaches the version and tag
 *   byte % 3 == 1: an inner plaintext (header and body), sealed properly
 *                  under a fixed key, so the inner header checks and the
 *                  capped decompression see arbitrary authentic bytes
 *   byte % 3 == 2: a plaintext: encode, decode, compare
 * and the next bits the kind, a short output cap, a known length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "block_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t blk[TSN_BLOCK_MAX + 64], out[TSN_CHUNK_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tsn_codec *c;
	struct tsn_chunk_ref ref;
	unsigned sel;
	int kind;
	size_t cap;
	long n;

	if (c == NULL && (c = tsn_codec_new()) == NULL)
		abort();
	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	kind = (sel / 3) & 1;
	cap = (sel / 6) & 1 ? 1000 : sizeof(out);
	memset(&ref, 0, sizeof(ref));
	ref.len = (sel / 12) & 1 ? 1000 : 0;

	switch (sel % 3) {
	case 0:
		if (size < TSN_KEY_LEN || size - TSN_KEY_LEN > sizeof(blk))
			return 0;
		memcpy(ref.key, data, TSN_KEY_LEN);
		size -= TSN_KEY_LEN;
		memcpy(blk, data + TSN_KEY_LEN, size);
		tsn_block_id(blk, size, ref.id);
		n = tsn_codec_decode(c, &ref, kind, blk, size, out, cap, NULL);
		if (n > (long)cap || (n >= 0 && ref.len != 0 && n != (long)ref.len))
			abort();
		break;
	case 1: {
		uint8_t key[TSN_KEY_LEN], nonce[TSN_BLOCK_NONCE_LEN];
		size_t bl;
		if (size > TSN_BLOCK_MAX - TSN_BLOCK_OVERHEAD + TSN_BLOCK_INNER_HDR)
			return 0;
		memset(key, 0x4b, sizeof(key));
		memset(nonce, 0x4e, sizeof(nonce));
		bl = tsn_block_seal(key, nonce, data, size, blk);
		memcpy(ref.key, key, sizeof(key));
		tsn_block_id(blk, bl, ref.id);
		n = tsn_codec_decode(c, &ref, kind, blk, bl, out, cap, NULL);
		if (n > (long)cap || (n >= 0 && ref.len != 0 && n != (long)ref.len))
			abort();
		break;
	}
	default: {
		static uint8_t copy[TSN_BLOCK_MAX];
		long m;
		if (size > TSN_CHUNK_MAX)
			return 0;
		n = tsn_codec_encode(c, &tsn_secret_public, kind, data, size, blk, &ref);
		if (n <= 0 || n > (long)TSN_BLOCK_MAX)
			abort();
		memcpy(copy, blk, (size_t)n);
		m = tsn_codec_decode(c, &ref, kind, copy, (size_t)n, out, sizeof(out), NULL);
		if (m != (long)size || memcmp(out, data, size) != 0)
			abort();
		break;
	}
	}
	return 0;
}
