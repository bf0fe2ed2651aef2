/* wire.c: datagram codec (see wire.h and docs/protocol.md). */
#include <errno.h>
#include <string.h>

#include "cursor_i.h"
#include "wire.h"

static void
dec_addr(struct rcur *c, struct tsn_addr *a)
{
	uint8_t fam = rcur_u8(c), ip[16];
	uint16_t port;

	if (fam == TSN_ADDR_V4) {
		rcur_bytes(c, ip, 4);
		port = rcur_u16(c);
		tsn_addr_v4(a, ip, port);
	} else if (fam == TSN_ADDR_V6) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		rcur_bytes(c, ip, 16);
		port = rcur_u16(c);
		/* IPv4 travels as IPv4: one encoding per address */
		if (c->err == 0 && memcmp(ip, mapped, 12) == 0)
			c->err = -EBADMSG;
		tsn_addr_v6(a, ip, port);
	} else if (c->err == 0) {
		c->err = -EBADMSG;
	}
}

static void
enc_addr(struct wcur *w, const struct tsn_addr *a)
{
	if (a->family != TSN_ADDR_V4 && a->family != TSN_ADDR_V6) {
		w->err = -EINVAL;
		return;
	}
	wcur_u8(w, a->family);
	wcur_bytes(w, a->ip, a->family == TSN_ADDR_V4 ? 4 : 16);
	wcur_u16(w, a->port);
}

static int
dec_empty(struct rcur *c, struct tsn_msg *m)
{
	(void)c;
	(void)m;
	return 0;
}

static int
dec_pong(struct rcur *c, struct tsn_msg *m)
{
	dec_addr(c, &m->u.pong.observed);
	return c->err;
}

static int
dec_find_node(struct rcur *c, struct tsn_msg *m)
{
	rcur_bytes(c, m->u.find_node.target, TSN_ID_LEN);
	return c->err;
}

static int
dec_nodes(struct rcur *c, struct tsn_msg *m)
{
	uint8_t n = rcur_u8(c);

	if (c->err != 0 || n > TSN_WIRE_NODES_MAX)
		return -EBADMSG;
	for (uint8_t i = 0; i < n; i++) {
		dec_addr(c, &m->u.nodes.nodes[i].addr);
		rcur_bytes(c, m->u.nodes.nodes[i].id, TSN_ID_LEN);
		if (c->err != 0)
			return c->err;
	}
	m->u.nodes.n = n;
	return 0;
}

static int
dec_find_value(struct rcur *c, struct tsn_msg *m)
{
	rcur_bytes(c, m->u.find_value.key, TSN_ID_LEN);
	m->u.find_value.cursor = rcur_u16(c);
	return c->err;
}

static int
dec_values(struct rcur *c, struct tsn_msg *m)
{
	uint8_t n;

	m->u.values.next = rcur_u16(c);
	n = rcur_u8(c);
	m->u.values.n = 0;
	m->u.values.skipped = 0;
	if (c->err != 0 || n > TSN_WIRE_VALUES_MAX)
		return -EBADMSG;
	for (uint8_t i = 0; i < n; i++) {
		uint16_t len = rcur_u16(c);
		size_t used;
		int rc;

		if (rcur_need(c, len) != 0 || len > TSN_REC_MAX_LEN)
			return -EBADMSG;
		rc = tsn_record_decode(c->p, len, &m->u.values.recs[m->u.values.n], &used);
		if (rc == -EPROTONOSUPPORT) {
			m->u.values.skipped++; /* framed, so a newer record can be stepped over */
		} else if (rc != 0 || used != len) {
			return -EBADMSG;
		} else {
			m->u.values.n++;
		}
		c->p += len;
		c->left -= len;
	}
	return 0;
}

static int
dec_store(struct rcur *c, struct tsn_msg *m)
{
	size_t used;
	int rc = tsn_record_decode(c->p, c->left, &m->u.store.rec, &used);

	m->u.store.rc = 0;
	if (rc == -EPROTONOSUPPORT) {
		m->u.store.rc = rc; /* answered with TSN_STORE_UNSUPPORTED */
		used = c->left;
	} else if (rc != 0) {
		return -EBADMSG;
	}
	c->p += used;
	c->left -= used;
	return 0;
}

static int
dec_store_ack(struct rcur *c, struct tsn_msg *m)
{
	m->u.store_ack.status = rcur_u8(c);
	return c->err;
}

/* Indexed by type; a NULL decoder means unknown or reserved. */
static const struct {
	uint16_t min_body;
	int (*decode)(struct rcur *c, struct tsn_msg *m);
} msg_types[TSN_MSG_TYPE_END] = {
	[TSN_MSG_PING] = {0, dec_empty},
	[TSN_MSG_PONG] = {7, dec_pong},
	[TSN_MSG_FIND_NODE] = {TSN_ID_LEN, dec_find_node},
	[TSN_MSG_NODES] = {1, dec_nodes},
	[TSN_MSG_FIND_VALUE] = {TSN_ID_LEN + 2, dec_find_value},
	[TSN_MSG_VALUES] = {3, dec_values},
	[TSN_MSG_STORE] = {TSN_REC_FIXED_LEN, dec_store},
	[TSN_MSG_STORE_ACK] = {1, dec_store_ack},
	[TSN_MSG_FORWARD] = {0, NULL},
};

int
tsn_wire_decode(const uint8_t *buf, size_t len, struct tsn_msg *m)
{
	struct rcur c;
	uint8_t type;
	int rc;

	if (len > TSN_WIRE_MTU || len < 2)
		return -EBADMSG;
	if (buf[0] != TSN_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	type = buf[1];
	if (type >= TSN_MSG_TYPE_END || msg_types[type].decode == NULL)
		return -EOPNOTSUPP;
	if (len < TSN_WIRE_HDR_LEN + (size_t)msg_types[type].min_body)
		return -EBADMSG;
	rcur_init(&c, buf + 2, len - 2);
	m->h.type = type;
	m->h.txid = rcur_u64(&c);
	rcur_bytes(&c, m->h.sender, TSN_ID_LEN);
	rc = msg_types[type].decode(&c, m);
	if (rc != 0 || c.err != 0)
		return -EBADMSG;
	if (c.left != 0)
		return -EBADMSG; /* every body has an exact grammar */
	return 0;
}

static void
enc_hdr(struct wcur *w, const struct tsn_wire_hdr *h, uint8_t type)
{
	wcur_u8(w, TSN_WIRE_VERSION);
	wcur_u8(w, type);
	wcur_u64(w, h->txid);
	wcur_bytes(w, h->sender, TSN_ID_LEN);
}

static size_t
contact_len(const struct tsn_contact *c)
{
	return c->addr.family == TSN_ADDR_V4 ? TSN_WIRE_CONTACT_V4 : TSN_WIRE_CONTACT_V6;
}

int
tsn_wire_encode(const struct tsn_msg *m, uint8_t *buf, size_t cap)
{
	struct wcur w;
	int rc;

	if (cap > TSN_WIRE_MTU)
		cap = TSN_WIRE_MTU;
	wcur_init(&w, buf, cap);
	enc_hdr(&w, &m->h, m->h.type);
	switch (m->h.type) {
	case TSN_MSG_PING:
		break;
	case TSN_MSG_PONG:
		enc_addr(&w, &m->u.pong.observed);
		break;
	case TSN_MSG_FIND_NODE:
		wcur_bytes(&w, m->u.find_node.target, TSN_ID_LEN);
		break;
	case TSN_MSG_NODES: {
		uint8_t *count = wcur_take(&w, 1);
		uint8_t n = 0;
		if (count == NULL)
			break;
		for (size_t i = 0; i < m->u.nodes.n && i < TSN_WIRE_NODES_MAX; i++) {
			const struct tsn_contact *c = &m->u.nodes.nodes[i];
			if (w.left < contact_len(c))
				break; /* as many as fit */
			enc_addr(&w, &c->addr);
			wcur_bytes(&w, c->id, TSN_ID_LEN);
			n++;
		}
		*count = n;
		break;
	}
	case TSN_MSG_FIND_VALUE:
		wcur_bytes(&w, m->u.find_value.key, TSN_ID_LEN);
		wcur_u16(&w, m->u.find_value.cursor);
		break;
	case TSN_MSG_STORE:
		if (w.err != 0)
			break;
		rc = tsn_record_encode(&m->u.store.rec, w.p, w.left);
		if (rc < 0)
			return rc;
		(void)wcur_take(&w, (size_t)rc);
		break;
	case TSN_MSG_STORE_ACK:
		wcur_u8(&w, m->u.store_ack.status);
		break;
	default:
		return -EINVAL;
	}
	return w.err != 0 ? w.err : (int)w.len;
}

int
tsn_wire_encode_values(const struct tsn_wire_hdr *h, const struct tsn_blob *recs, size_t n,
                       size_t start, size_t total, uint8_t *buf, size_t cap, size_t *packed)
{
	struct wcur w;
	uint8_t *next, *count;
	size_t k = 0, nx;

	*packed = 0;
	if (cap > TSN_WIRE_MTU)
		cap = TSN_WIRE_MTU;
	wcur_init(&w, buf, cap);
	enc_hdr(&w, h, TSN_MSG_VALUES);
	next = wcur_take(&w, 2);
	count = wcur_take(&w, 1);
	if (w.err != 0)
		return w.err;
	for (; k < n && k < TSN_WIRE_VALUES_MAX; k++) {
		if (recs[k].len > TSN_REC_MAX_LEN)
			return -EINVAL;
		if (w.left < 2 + recs[k].len)
			break;
		wcur_u16(&w, (uint16_t)recs[k].len);
		wcur_bytes(&w, recs[k].p, recs[k].len);
	}
	nx = start + k < total ? start + k : 0;
	if (nx > UINT16_MAX)
		nx = 0; /* the cursor is 16 bits: later records are out of reach */
	next[0] = (uint8_t)(nx >> 8);
	next[1] = (uint8_t)nx;
	*count = (uint8_t)k;
	*packed = k;
	return (int)w.len;
}

int
tsn_wire_status_errno(uint8_t status)
{
	switch (status) {
	case TSN_STORE_OK: return 0;
	case TSN_STORE_STALE: return -ESTALE;
	case TSN_STORE_INVALID: return -EBADMSG;
	case TSN_STORE_FULL: return -ENOSPC;
	case TSN_STORE_EXPIRY: return -ERANGE;
	case TSN_STORE_UNSUPPORTED: return -EPROTONOSUPPORT;
	default: return -EIO;
	}
}

uint8_t
tsn_wire_errno_status(int rc)
{
	switch (rc) {
	case 0: return TSN_STORE_OK;
	case -ESTALE: return TSN_STORE_STALE;
	case -EBADMSG: return TSN_STORE_INVALID;
	case -ETIMEDOUT: case -ERANGE: return TSN_STORE_EXPIRY;
	case -EPROTONOSUPPORT: return TSN_STORE_UNSUPPORTED;
	default: return TSN_STORE_FULL; /* -ENOSPC, -ENOMEM */
	}
}

const char *
tsn_wire_type_name(uint8_t type)
{
	static const char *names[TSN_MSG_TYPE_END] = {
		[TSN_MSG_PING] = "PING", [TSN_MSG_PONG] = "PONG",
		[TSN_MSG_FIND_NODE] = "FIND_NODE", [TSN_MSG_NODES] = "NODES",
		[TSN_MSG_FIND_VALUE] = "FIND_VALUE", [TSN_MSG_VALUES] = "VALUES",
		[TSN_MSG_STORE] = "STORE", [TSN_MSG_STORE_ACK] = "STORE_ACK",
		[TSN_MSG_FORWARD] = "FORWARD",
	};

	return type < TSN_MSG_TYPE_END && names[type] != NULL ? names[type] : "?";
}
