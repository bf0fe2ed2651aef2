/*
 * block.h: one chunk of plaintext <-> one encrypted, content-addressed block.
 *
 * A chunk of at most TSN_CHUNK_MAX bytes of plaintext P becomes a block:
 *   K     = BLAKE2b-256(key = convergence secret, P)          (convergent key)
 *   inner = kind | flags | 0 0 | u32 len(P) | zstd(P) or P     (zstd only if it
 *                                                               saves >= 1/16)
 *   nonce = BLAKE2b-192(key = K, "tsn/nonce/v1" | kind | flags
 *                       [| u32 zstd version | u8 level, when compressed])
 *   block = 0x01 | nonce | XChaCha20-Poly1305(K, nonce, inner, ad = 0x01)
 *   id    = BLAKE2b-256(block)
 * The exact bytes are in docs/formats.md. Decoding checks, in this order, the
 * id, the tag, the inner lengths, and decompresses with a capped output.
 *
 * A codec holds the zstd contexts and is used by one thread at a time; make
 * one per thread. Nothing here touches the disk or the network.
 */
#ifndef TSN_BLOCK_H
#define TSN_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#define TSN_ID_LEN 32
#define TSN_KEY_LEN 32
#define TSN_CHUNK_MAX (256u * 1024u)        /* largest plaintext of one block */
#define TSN_CHUNK_MIN 1024u                 /* smallest chunk size a tree may use */
#define TSN_BLOCK_VERSION 1
#define TSN_BLOCK_NONCE_LEN 24
#define TSN_BLOCK_INNER_HDR 8
#define TSN_BLOCK_TAG_LEN 16
#define TSN_BLOCK_OVERHEAD (1 + TSN_BLOCK_NONCE_LEN + TSN_BLOCK_INNER_HDR + TSN_BLOCK_TAG_LEN)
#define TSN_BLOCK_MAX (TSN_CHUNK_MAX + TSN_BLOCK_OVERHEAD)
#define TSN_ZSTD_LEVEL 1

/* What a block's plaintext is: file data, or a tree (manifest) node. */
enum tsn_block_kind { TSN_BLOCK_DATA = 0, TSN_BLOCK_INDEX = 1 };

/* A convergence secret: public shares use tsn_secret_public. */
struct tsn_secret {
	uint8_t b[32];
};
extern const struct tsn_secret tsn_secret_public;

/* Everything needed to fetch and read one block. len is the plaintext
 * length; 0 means "not known" (only for a root taken from a URI). */
struct tsn_chunk_ref {
	uint8_t id[TSN_ID_LEN];
	uint8_t key[TSN_KEY_LEN];
	uint32_t len;
};

struct tsn_codec;

/* New codec, or NULL when out of memory. */
struct tsn_codec *tsn_codec_new(void);
/* Free; NULL is a no-op. */
void tsn_codec_free(struct tsn_codec *c);

/*
 * Encode len (<= TSN_CHUNK_MAX) bytes of plain as a block of `kind` under the
 * convergence secret conv. out must hold TSN_BLOCK_MAX bytes. On success
 * returns the block length (> 0) and fills ref (id, key, len). Deterministic:
 * the same (conv, kind, plain) gives the same block with the same zstd.
 * Errors: -EINVAL (len too big, bad kind), -ENOMEM.
 */
long tsn_codec_encode(struct tsn_codec *c, const struct tsn_secret *conv, int kind,
                      const void *plain, size_t len, uint8_t *out, struct tsn_chunk_ref *ref);

/*
 * Decode block (len bytes; modified in place: it is decrypted where it lies)
 * that ref names and that must be of `kind`. Checks BLAKE2b(block) == ref->id,
 * then the version and tag, then the inner header (kind, length == ref->len
 * when ref->len != 0, length <= cap), then decompresses into out (cap bytes).
 * Returns the plaintext length, or:
 *   -EBADMSG   id mismatch, bad tag, bad inner header, bad zstd data
 *   -EPROTO    unknown block version
 *   -EMSGSIZE  plaintext larger than cap
 * On failure *why (if why is not NULL) points at a static English reason.
 */
long tsn_codec_decode(struct tsn_codec *c, const struct tsn_chunk_ref *ref, int kind,
                      uint8_t *block, size_t len, uint8_t *out, size_t cap,
                      const char **why);
/*
 * The same without the BLAKE2b of the block, for a caller whose blocks were
 * just checked against their ids (a node's fetch from other nodes hashes
 * each block it receives). A block that differs from what ref names still
 * fails: its authentication tag, under ref's key, covers the version, the
 * nonce and the ciphertext (-EBADMSG "authentication failed").
 */
long tsn_codec_decode_checked(struct tsn_codec *c, const struct tsn_chunk_ref *ref, int kind,
                              uint8_t *block, size_t len, uint8_t *out, size_t cap,
                              const char **why);
/*
 * As tsn_codec_decode_checked, without copying a raw (uncompressed) body
 * out of the block: *plain points at the plaintext, inside block when it
 * was stored raw, at out when it was decompressed. Saves a copy of every
 * incompressible chunk a reader decodes.
 */
long tsn_codec_decode_inplace(struct tsn_codec *c, const struct tsn_chunk_ref *ref, int kind,
                              uint8_t *block, size_t len, uint8_t *out, size_t cap,
                              const uint8_t **plain, const char **why);

/* BLAKE2b-256 of a block: its id. */
void tsn_block_id(const uint8_t *block, size_t len, uint8_t id[TSN_ID_LEN]);

#endif
