/*
 * wire.h: the datagram codec of the DHT (docs/protocol.md, "Datagrams").
 *
 * Every datagram is at most TSN_WIRE_MTU bytes:
 *
 *   u8 version (1) | u8 type | u64 txid | sender id[32] | body
 *
 * Decoding reads with a bounded cursor into a fixed struct: every variable
 * field has a named maximum, the body of each type has an exact grammar (no
 * trailing bytes), and the first violation returns -EBADMSG. Types are
 * dispatched through a bounds-checked table with a minimum body size each.
 * Encoding writes into a caller buffer and never allocates.
 *
 * Threads: pure functions, any thread. Cost: O(datagram).
 */
#ifndef TSN_NET_WIRE_H
#define TSN_NET_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "id.h"
#include "record.h"

#define TSN_WIRE_VERSION 1
#define TSN_WIRE_MTU 1200
#define TSN_WIRE_HDR_LEN 42        /* version, type, txid, sender */
#define TSN_WIRE_NODES_MAX 20      /* contacts in one NODES reply */
#define TSN_WIRE_VALUES_MAX 20     /* records in one VALUES page */
#define TSN_WIRE_CONTACT_V4 39     /* family, ip, port, id */
#define TSN_WIRE_CONTACT_V6 51

enum tsn_msg_type {
	TSN_MSG_PING = 1,
	TSN_MSG_PONG = 2,
	TSN_MSG_FIND_NODE = 3,
	TSN_MSG_NODES = 4,
	TSN_MSG_FIND_VALUE = 5,
	TSN_MSG_VALUES = 6,
	TSN_MSG_STORE = 7,
	TSN_MSG_STORE_ACK = 8,
	TSN_MSG_FORWARD = 9,  /* reserved: anonymity forwarding envelope */
	TSN_MSG_TYPE_END      /* one past the last type number */
};

/* STORE_ACK status codes (see tsn_wire_status_errno). */
enum tsn_store_status {
	TSN_STORE_OK = 0,
	TSN_STORE_STALE = 1,       /* -ESTALE: a newer or equal seq is held */
	TSN_STORE_INVALID = 2,     /* -EBADMSG: bad signature or key binding */
	TSN_STORE_FULL = 3,        /* -ENOSPC: a limit is reached */
	TSN_STORE_EXPIRY = 4,      /* -ERANGE: expired or expiry too far ahead */
	TSN_STORE_UNSUPPORTED = 5, /* -EPROTONOSUPPORT: unknown record version or type */
};

struct tsn_wire_hdr {
	uint8_t type;
	uint64_t txid;
	uint8_t sender[TSN_ID_LEN];
};

struct tsn_msg {
	struct tsn_wire_hdr h;
	union {
		struct { struct tsn_addr observed; } pong;        /* requester as seen */
		struct { uint8_t target[TSN_ID_LEN]; } find_node;
		struct {
			uint8_t n;
			struct tsn_contact nodes[TSN_WIRE_NODES_MAX];
		} nodes;
		struct { uint8_t key[TSN_ID_LEN]; uint16_t cursor; } find_value;
		struct {
			uint16_t next;    /* cursor of the next page; 0 = last page */
			uint8_t n;        /* records decoded into recs */
			uint8_t skipped;  /* records of unknown version or type, skipped */
			struct tsn_record recs[TSN_WIRE_VALUES_MAX];
		} values;
		struct {
			int rc;           /* 0, or -EPROTONOSUPPORT: rec not decoded */
			struct tsn_record rec;
		} store;
		struct { uint8_t status; } store_ack;
	} u;
};

/*
 * Decode buf (len bytes) into *m. Returns 0, -EPROTONOSUPPORT (version not
 * 1), -EOPNOTSUPP (unknown or reserved type, FORWARD included), -EBADMSG
 * (too long, truncated, a count or length over its maximum, a bad address
 * family, trailing bytes). On failure *m is unspecified.
 * sizeof(struct tsn_msg) is about 23 KiB: keep it off small stacks.
 */
int tsn_wire_decode(const uint8_t *buf, size_t len, struct tsn_msg *m);

/*
 * Encode *m (any type but VALUES and FORWARD) into buf (cap bytes; at most
 * TSN_WIRE_MTU are used). NODES carries min(n, as many as fit) contacts.
 * Returns the length, -EINVAL (bad type, family or record) or -ENOSPC.
 */
int tsn_wire_encode(const struct tsn_msg *m, uint8_t *buf, size_t cap);

/*
 * Encode a VALUES page: as many of the encoded records recs[0..n) as fit
 * (at most TSN_WIRE_VALUES_MAX), which are records start.. of `total` held
 * under the key; the page's next cursor is start + packed when records are
 * left, else 0. *packed gets the number sent. Returns the length, -EINVAL
 * or -ENOSPC (not even the header fits).
 */
int tsn_wire_encode_values(const struct tsn_wire_hdr *h, const struct tsn_blob *recs, size_t n,
                           size_t start, size_t total, uint8_t *buf, size_t cap, size_t *packed);

/* Map a STORE_ACK status to 0 or a negative errno (unknown codes: -EIO). */
int tsn_wire_status_errno(uint8_t status);
/* Map 0 or a negative errno from tsn_recstore_put to a STORE_ACK status. */
uint8_t tsn_wire_errno_status(int rc);
/* Name of a message type for logs ("PING"), "?" if unknown. */
const char *tsn_wire_type_name(uint8_t type);

#endif
