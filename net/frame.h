/*
 * frame.h: the TCP frame codec of chunk transfers (docs/protocol.md, "Chunk
 * transfer (TCP)").
 *
 * A TCP connection between two nodes carries a stream of frames:
 *
 *   u32 length | u8 version (1) | u8 type | u64 request id | body
 *
 * length counts the bytes after itself (10 + body), big-endian like every
 * integer here. Bodies (id is a chunk id, status a TSN_FRAME_ST_* code):
 *
 *   CHUNK_GET   id[32]                      request: send me this block
 *   CHUNK_DATA  id[32] block[1..BLOCK_MAX]  reply: the block
 *   CHUNK_NONE  id[32] u8 status            reply: not sent, and why
 *   CHUNK_PUT   id[32] block[1..BLOCK_MAX]  request: hold this block
 *   CHUNK_ACK   id[32] u8 status            reply: held (0) or why not
 *   FORWARD     reserved for anonymity forwarding; decoded as unknown
 *   CHUNK_HAS   id[32] u8 flags              request: do you hold it? (ACK 0 or
 *                                            NOTFOUND); flags bit 0 (HAS_REFRESH):
 *                                            the owner asks, restart its lifetime
 *   CHUNK_COPY  id[32] u32 age block[1..BLOCK_MAX]  request: hold this block as a
 *                                            copy whose lifetime began age seconds
 *                                            ago (repair, leave; ACK as PUT)
 *
 * A reply carries the request id of its request. Decoding is table-driven
 * (bounds-checked by type, exact body size per type, no trailing bytes)
 * with a bounded cursor; the largest frame is TSN_FRAME_MAX, one block plus
 * its header, so a receiver never buffers more than that per frame.
 * A block is never copied by the decoder: f->block points into the input.
 *
 * Threads: pure functions, any thread. Cost: O(header); encode copies the
 * block once (tsn_frame_encode_head does not).
 */
#ifndef TSN_NET_FRAME_H
#define TSN_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"

#define TSN_FRAME_VERSION 1
#define TSN_FRAME_LEN_SIZE 4     /* the u32 length prefix */
#define TSN_FRAME_HDR_LEN 14     /* length, version, type, request id */
#define TSN_FRAME_BODY_MAX (TSN_ID_LEN + 4 + TSN_BLOCK_MAX)
#define TSN_FRAME_MAX (TSN_FRAME_HDR_LEN + TSN_FRAME_BODY_MAX)
/* Everything of a frame but its block: header, id, status or age. */
#define TSN_FRAME_HEAD_MAX (TSN_FRAME_HDR_LEN + TSN_ID_LEN + 4)

enum tsn_frame_type {
	TSN_FRAME_CHUNK_GET = 1,
	TSN_FRAME_CHUNK_DATA = 2,
	TSN_FRAME_CHUNK_NONE = 3,
	TSN_FRAME_CHUNK_PUT = 4,
	TSN_FRAME_CHUNK_ACK = 5,
	TSN_FRAME_FORWARD = 6,   /* reserved: anonymity forwarding envelope */
	TSN_FRAME_CHUNK_HAS = 7, /* repair: a presence check, answered by CHUNK_ACK */
	TSN_FRAME_CHUNK_COPY = 8, /* repair: CHUNK_PUT of a copy with its lifetime's age */
	TSN_FRAME_TYPE_END       /* one past the last type number */
};

#define TSN_FRAME_HAS_REFRESH 0x01u /* CHUNK_HAS flag */

/* Status codes of CHUNK_NONE and CHUNK_ACK (see tsn_frame_status_errno). */
enum tsn_frame_status {
	TSN_FRAME_ST_OK = 0,       /* 0: stored (ACK) */
	TSN_FRAME_ST_NOTFOUND = 1, /* -ENOENT: not held here */
	TSN_FRAME_ST_FULL = 2,     /* -ENOSPC: over quota */
	TSN_FRAME_ST_INVALID = 3,  /* -EBADMSG: block does not hash to id */
	TSN_FRAME_ST_BUSY = 4,     /* -EBUSY: overloaded, ask someone else */
	TSN_FRAME_ST_ERROR = 5,    /* -EIO: local error */
};

struct tsn_frame {
	uint8_t type;             /* enum tsn_frame_type */
	uint64_t reqid;
	uint8_t id[TSN_ID_LEN];
	uint8_t status;           /* NONE, ACK; HAS: its flags */
	uint32_t age_s;           /* COPY: seconds since the copy's lifetime began */
	const uint8_t *block;     /* DATA, PUT, COPY: borrowed (a view into the decoded input) */
	size_t block_len;         /* DATA, PUT, COPY: 1..TSN_BLOCK_MAX */
};

/*
 * Length of the frame at the front of buf (len bytes available), from its
 * length prefix alone. Returns 0 with *frame_len set (header included,
 * TSN_FRAME_HDR_LEN..TSN_FRAME_MAX), -EAGAIN when fewer than 4 bytes are
 * there, -EBADMSG when the prefix is below the header or above
 * TSN_FRAME_MAX (the stream cannot be resynchronised: close it).
 */
int tsn_frame_need(const uint8_t *buf, size_t len, size_t *frame_len);
/*
 * Decode exactly one whole frame (len bytes, as tsn_frame_need said).
 * Returns 0; -EPROTONOSUPPORT (version not 1) or -EOPNOTSUPP (unknown or
 * reserved type, FORWARD included): f->type and f->reqid are set and the
 * frame can be skipped; -EBADMSG (length prefix disagrees with len, a body
 * of the wrong size for its type). On failure the other fields of *f are
 * unspecified.
 */
int tsn_frame_decode(const uint8_t *buf, size_t len, struct tsn_frame *f);
/*
 * Encode everything but the block of *f into buf (cap bytes, at most
 * TSN_FRAME_HEAD_MAX used); the length prefix counts f->block_len, so the
 * block (DATA, PUT) must be sent right after, e.g. as a second uv_buf_t.
 * Returns the head length, -EINVAL (bad type, block length 0 or over
 * TSN_BLOCK_MAX for DATA/PUT) or -ENOSPC.
 */
int tsn_frame_encode_head(const struct tsn_frame *f, uint8_t *buf, size_t cap);
/* Encode the whole frame (head and block). Returns its length or as above. */
int tsn_frame_encode(const struct tsn_frame *f, uint8_t *buf, size_t cap);

/* Map a status code to 0 or a negative errno (unknown codes: -EIO). */
int tsn_frame_status_errno(uint8_t status);
/* Map 0 or a negative errno to a status code (unknown errors: ERROR). */
uint8_t tsn_frame_errno_status(int rc);
/* Name of a frame type for logs ("CHUNK_GET"), "?" if unknown. */
const char *tsn_frame_type_name(uint8_t type);

#endif
