/*
 * tree.h: a file as a tree of blocks (the manifest), written in one pass and
 * read at any offset.
 *
 * A file of S bytes is cut into chunks of C bytes (C = chunk size, the last
 * chunk shorter, no chunk for S = 0), each encoded as a DATA block. Their
 * refs are listed in INDEX nodes of at most F = (C - 20) / 68 entries; when
 * more than F refs are needed, the nodes themselves are listed by nodes one
 * level up, and so on, until one node, the root, remains. The depth d (the
 * root's level) is the smallest d >= 0 with F^(d+1) >= number of chunks, so
 * the shape follows from (S, C) alone and a reader checks every node
 * against it. Index node plaintext (big endian):
 *   u8 version (1) | u8 level | u16 0 | u32 chunk size C | u64 size
 *   | u32 count | count x (id[32] key[32] u32 plaintext length)
 * where size is the number of file bytes under the node: S at the root,
 * F^(level+1) * C for every node off the rightmost path. (Not S in every
 * node: a streaming encoder does not know S before the end, and must emit
 * full nodes early to keep its memory bounded. A side effect: files that
 * share a prefix share its full nodes.)
 * Nodes are blocks like any other (same convergence secret), so the same
 * file gives the same URI; the root ref and S make the URI.
 */
#ifndef TSN_TREE_H
#define TSN_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "block.h"
#include "uri.h"

#define TSN_TREE_NODE_VERSION 1
#define TSN_TREE_NODE_HDR 20
#define TSN_TREE_NODE_ENTRY 68
#define TSN_TREE_MAX_DEPTH 8
#define TSN_CHUNK_DEFAULT TSN_CHUNK_MAX

/* The parsed header of an index node; entries stay in the buffer. */
struct tsn_tree_node {
	uint8_t level;
	uint32_t chunk_size;
	uint64_t size;          /* file bytes under this node; S at the root */
	uint32_t count;
	const uint8_t *entries; /* count * TSN_TREE_NODE_ENTRY bytes, borrowed */
};

/*
 * Parse an index node's plaintext (bounded: every field checked against len;
 * chunk size within [TSN_CHUNK_MIN, TSN_CHUNK_MAX], count <= fanout, level <=
 * TSN_TREE_MAX_DEPTH, size <= TSN_FILE_MAX, zero reserved bytes, exact
 * length). Returns 0 or -EBADMSG (*why set if not NULL).
 */
int tsn_tree_node_parse(const uint8_t *p, size_t len, struct tsn_tree_node *out, const char **why);
/* Entry i (< n->count) of a parsed node. */
void tsn_tree_node_entry(const struct tsn_tree_node *n, uint32_t i, struct tsn_chunk_ref *out);
/* Entries per node for chunk size C: (C - TSN_TREE_NODE_HDR) / TSN_TREE_NODE_ENTRY. */
uint32_t tsn_tree_fanout(uint32_t chunk_size);
/*
 * The root's level for a file of `size` bytes in chunks of chunk_size: the
 * smallest d with F^(d+1) >= chunks (0 for an empty file). May exceed
 * TSN_TREE_MAX_DEPTH (such a file cannot be encoded); UINT_MAX when
 * chunk_size has a fanout under 2.
 */
unsigned tsn_tree_depth(uint64_t size, uint32_t chunk_size);

/*
 * Called once per finished block, children before parents, data blocks in
 * file order (in any order with put_mt, see below). block is borrowed for
 * the call. Return 0, or -errno to stop the encode (tsn_encoder_write/finish
 * then return that error).
 */
typedef int (*tsn_put_fn)(void *ud, const struct tsn_chunk_ref *ref, int kind,
                          const uint8_t *block, size_t len);

struct tsn_encoder_opts {
	const struct tsn_secret *conv; /* borrowed; NULL = tsn_secret_public */
	uint32_t chunk_size;           /* 0 = TSN_CHUNK_DEFAULT */
	unsigned threads;              /* encoding threads (at most 64); 0 or 1 = the caller's */
	int put_mt;                    /* put is thread-safe: with threads > 1, each encoding
	                                  thread puts the data blocks it made (in any order);
	                                  nodes are still put by the caller's thread */
};

struct tsn_encoder;

/*
 * New encoder; opts NULL = all defaults. With threads = T > 1 it starts T
 * threads that encode data chunks while the caller copies data in and hands
 * blocks on; put is called only from the caller's thread, in order, unless
 * put_mt (then the T threads put data blocks as they finish them, so slow
 * puts run in parallel and off the caller's thread).
 * Memory: T + 1 slots (2T + 2 with put_mt) of (chunk size + TSN_BLOCK_MAX),
 * one with T = 1, plus one node per level; at most that many whole chunks
 * less one wait for put when a call returns.
 * Returns 0 or -EINVAL (bad chunk size, put NULL) / -ENOMEM / -EAGAIN (no
 * thread); *out NULL on failure. One thread at a time may call the encoder.
 */
int tsn_encoder_new(struct tsn_encoder **out, const struct tsn_encoder_opts *opts,
                    tsn_put_fn put, void *ud);
/*
 * Feed len bytes. Blocks are encoded and handed to put as chunks fill; memory
 * stays bounded (a few chunks per thread plus one partial node per level).
 * Returns 0 or -errno (from put, or -EFBIG past TSN_FILE_MAX). After an
 * error the encoder only accepts tsn_encoder_free.
 */
int tsn_encoder_write(struct tsn_encoder *e, const void *buf, size_t len);
/*
 * Flush the last chunk and the nodes; fill *uri. Returns 0 or -errno. After
 * it, write and finish return -EINVAL.
 */
int tsn_encoder_finish(struct tsn_encoder *e, struct tsn_uri *uri);
/* Bytes fed so far. */
uint64_t tsn_encoder_size(const struct tsn_encoder *e);
/* Free; NULL is a no-op. */
void tsn_encoder_free(struct tsn_encoder *e);

/*
 * Fetch the block named id into buf (cap >= TSN_BLOCK_MAX bytes). Returns its
 * length, or -ENOENT (nobody has it), -ETIMEDOUT, -EIO, ... The block need
 * not be checked: the reader checks it.
 */
typedef long (*tsn_fetch_fn)(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap);
/*
 * The same, for a fetch that keeps blocks in buffers of its own: it may
 * hand its buffer over instead of copying, trading *buf for it. Every
 * buffer traded is malloc'ed, cap (= TSN_BLOCK_MAX) bytes, and freed by
 * whoever holds it last.
 */
typedef long (*tsn_fetch_swap_fn)(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t **buf,
                                  size_t cap);

struct tsn_reader;

/*
 * Open the file a URI names: fetches and checks the root node. Returns 0, or
 * the fetch error, -EBADMSG (bad block or node), -EPROTO (unknown version);
 * *out NULL on failure (the reason is lost; use tsn_reader_open_err to keep it).
 * fetch/ud are borrowed for the reader's life. One thread at a time.
 */
int tsn_reader_open(struct tsn_reader **out, const struct tsn_uri *uri,
                    tsn_fetch_fn fetch, void *ud);
/* Same, with the reason written to err (errlen bytes, NUL-terminated) on failure. */
int tsn_reader_open_err(struct tsn_reader **out, const struct tsn_uri *uri,
                        tsn_fetch_fn fetch, void *ud, char *err, size_t errlen);
/* File size. */
uint64_t tsn_reader_size(const struct tsn_reader *r);
/* Chunk size of this file's tree. */
uint32_t tsn_reader_chunk_size(const struct tsn_reader *r);
/*
 * Read up to len bytes at off. Fetches only the nodes and chunks that cover
 * the range; keeps the last decoded chunk and one node per level. Returns
 * bytes read (0 at or past the end), or -errno like open.
 */
ssize_t tsn_reader_pread(struct tsn_reader *r, void *buf, size_t len, uint64_t off);
/* The ref of data chunk `index` (fetching nodes as needed). Returns 0 or -errno. */
int tsn_reader_chunk_ref(struct tsn_reader *r, uint64_t index, struct tsn_chunk_ref *out);
/*
 * From now on the fetch function's blocks are checked against their ids
 * by the fetch itself (a node's fetch from the network), or come from the
 * local store: decoding skips its own hash (tsn_codec_decode_checked; the
 * authentication tag still catches any change).
 */
void tsn_reader_ids_checked(struct tsn_reader *r);
/* From now on fetch with fetch_swap (same ud) instead of the fetch given at open. */
void tsn_reader_fetch_swaps(struct tsn_reader *r, tsn_fetch_swap_fn fetch_swap);
/*
 * Visit every block of the file, nodes (fetched) and data chunks (not
 * fetched), parents before children. cb returns 0 to go on or -errno to stop
 * with that error. Returns 0 or -errno.
 */
int tsn_reader_walk(struct tsn_reader *r,
                    int (*cb)(void *ud, const struct tsn_chunk_ref *ref, int kind), void *ud);
/* The last error as one English line naming the chunk (hex id) and why. */
const char *tsn_reader_error(const struct tsn_reader *r);
/* Free; NULL is a no-op. */
void tsn_reader_free(struct tsn_reader *r);

#endif
