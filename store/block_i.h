/*
 * block_i.h: internals of the block codec shared with its tests and fuzz
 * targets. Not for other modules: everything else goes through block.h.
 */
#ifndef TSN_BLOCK_I_H
#define TSN_BLOCK_I_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"

/* Offsets in a version-1 block. */
#define TSN_BLOCK_OFF_NONCE 1
#define TSN_BLOCK_OFF_INNER (1 + TSN_BLOCK_NONCE_LEN)

/* Inner header flags. */
#define TSN_BLOCK_FLAG_ZSTD 0x01u

/*
 * Seal len bytes of inner plaintext (an inner header and body, or any bytes
 * at all) under key and nonce as a version-1 block into out, which must hold
 * TSN_BLOCK_OVERHEAD - TSN_BLOCK_INNER_HDR + len bytes. inner may be
 * out + TSN_BLOCK_OFF_INNER (sealed in place) or must not overlap out.
 * Returns the block length. Does not check that inner is well formed: the
 * tests and fuzz targets use it to make authentic blocks with bad contents.
 */
size_t tsn_block_seal(const uint8_t key[TSN_KEY_LEN], const uint8_t nonce[TSN_BLOCK_NONCE_LEN],
                      const uint8_t *inner, size_t len, uint8_t *out);

#endif
