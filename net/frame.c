/*
 * frame.c: the TCP frame codec (see frame.h). Pure: no I/O, no allocation.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cursor_i.h"
#include "frame.h"
#include "util.h"

/* Body grammar per type: exact sizes; a block is 1..TSN_BLOCK_MAX bytes. */
static const struct {
	const char *name;
	size_t min, max;   /* body sizes; max 0 = not a valid type to decode */
	bool status;       /* id then u8 status */
	bool age;          /* id then u32 age (before the block) */
	bool block;        /* id then the block */
} types[TSN_FRAME_TYPE_END] = {
	[TSN_FRAME_CHUNK_GET] = {"CHUNK_GET", TSN_ID_LEN, TSN_ID_LEN, false, false, false},
	[TSN_FRAME_CHUNK_DATA] = {"CHUNK_DATA", TSN_ID_LEN + 1, TSN_ID_LEN + TSN_BLOCK_MAX, false,
	                          false, true},
	[TSN_FRAME_CHUNK_NONE] = {"CHUNK_NONE", TSN_ID_LEN + 1, TSN_ID_LEN + 1, true, false, false},
	[TSN_FRAME_CHUNK_PUT] = {"CHUNK_PUT", TSN_ID_LEN + 1, TSN_ID_LEN + TSN_BLOCK_MAX, false,
	                         false, true},
	[TSN_FRAME_CHUNK_ACK] = {"CHUNK_ACK", TSN_ID_LEN + 1, TSN_ID_LEN + 1, true, false, false},
	[TSN_FRAME_FORWARD] = {"FORWARD", 0, 0, false, false, false},
	[TSN_FRAME_CHUNK_HAS] = {"CHUNK_HAS", TSN_ID_LEN + 1, TSN_ID_LEN + 1, true, false, false},
	[TSN_FRAME_CHUNK_COPY] = {"CHUNK_COPY", TSN_ID_LEN + 5, TSN_ID_LEN + 4 + TSN_BLOCK_MAX, false,
	                          true, true},
};

int
tsn_frame_need(const uint8_t *buf, size_t len, size_t *frame_len)
{
	uint32_t l;

	if (len < TSN_FRAME_LEN_SIZE)
		return -EAGAIN;
	l = tsn_get_be32(buf);
	if (l < TSN_FRAME_HDR_LEN - TSN_FRAME_LEN_SIZE || l > TSN_FRAME_MAX - TSN_FRAME_LEN_SIZE)
		return -EBADMSG;
	*frame_len = (size_t)l + TSN_FRAME_LEN_SIZE;
	return 0;
}

int
tsn_frame_decode(const uint8_t *buf, size_t len, struct tsn_frame *f)
{
	struct rcur c;
	size_t flen, body;
	uint8_t version;

	if (tsn_frame_need(buf, len, &flen) != 0 || flen != len)
		return -EBADMSG;
	rcur_init(&c, buf + TSN_FRAME_LEN_SIZE, len - TSN_FRAME_LEN_SIZE);
	version = rcur_u8(&c);
	f->type = rcur_u8(&c);
	f->reqid = rcur_u64(&c);
	if (c.err != 0)
		return -EBADMSG; /* not reached: need() checked the header length */
	if (version != TSN_FRAME_VERSION)
		return -EPROTONOSUPPORT;
	if (f->type >= TSN_FRAME_TYPE_END || types[f->type].max == 0)
		return -EOPNOTSUPP;
	body = c.left;
	if (body < types[f->type].min || body > types[f->type].max)
		return -EBADMSG;
	rcur_bytes(&c, f->id, TSN_ID_LEN);
	f->status = 0;
	f->age_s = 0;
	f->block = NULL;
	f->block_len = 0;
	if (types[f->type].status)
		f->status = rcur_u8(&c);
	if (types[f->type].age)
		f->age_s = rcur_u32(&c);
	if (types[f->type].block) {
		f->block = c.p;
		f->block_len = c.left;
		c.p += c.left;
		c.left = 0;
	}
	if (c.err != 0 || c.left != 0)
		return -EBADMSG; /* not reached: the size table is exact */
	return 0;
}

int
tsn_frame_encode_head(const struct tsn_frame *f, uint8_t *buf, size_t cap)
{
	struct wcur c;
	size_t body;

	if (f->type >= TSN_FRAME_TYPE_END || types[f->type].max == 0)
		return -EINVAL;
	body = TSN_ID_LEN;
	if (types[f->type].status)
		body += 1;
	if (types[f->type].age)
		body += 4;
	if (types[f->type].block) {
		if (f->block_len == 0 || f->block_len > TSN_BLOCK_MAX || f->block == NULL)
			return -EINVAL;
		body += f->block_len;
	}
	wcur_init(&c, buf, cap);
	{
		uint8_t *at = wcur_take(&c, TSN_FRAME_LEN_SIZE);
		if (at != NULL)
			tsn_put_be32(at, (uint32_t)(TSN_FRAME_HDR_LEN - TSN_FRAME_LEN_SIZE + body));
	}
	wcur_u8(&c, TSN_FRAME_VERSION);
	wcur_u8(&c, f->type);
	wcur_u64(&c, f->reqid);
	wcur_bytes(&c, f->id, TSN_ID_LEN);
	if (types[f->type].status)
		wcur_u8(&c, f->status);
	if (types[f->type].age)
		wcur_u32(&c, f->age_s);
	if (c.err != 0)
		return c.err;
	return (int)c.len;
}

int
tsn_frame_encode(const struct tsn_frame *f, uint8_t *buf, size_t cap)
{
	int head = tsn_frame_encode_head(f, buf, cap);

	if (head < 0)
		return head;
	if (f->type < TSN_FRAME_TYPE_END && types[f->type].block) {
		if (cap - (size_t)head < f->block_len)
			return -ENOSPC;
		memcpy(buf + head, f->block, f->block_len);
		return head + (int)f->block_len;
	}
	return head;
}

int
tsn_frame_status_errno(uint8_t status)
{
	switch (status) {
	case TSN_FRAME_ST_OK: return 0;
	case TSN_FRAME_ST_NOTFOUND: return -ENOENT;
	case TSN_FRAME_ST_FULL: return -ENOSPC;
	case TSN_FRAME_ST_INVALID: return -EBADMSG;
	case TSN_FRAME_ST_BUSY: return -EBUSY;
	default: return -EIO;
	}
}

uint8_t
tsn_frame_errno_status(int rc)
{
	switch (rc) {
	case 0: return TSN_FRAME_ST_OK;
	case -ENOENT: return TSN_FRAME_ST_NOTFOUND;
	case -ENOSPC: return TSN_FRAME_ST_FULL;
	case -EBADMSG: return TSN_FRAME_ST_INVALID;
	case -EBUSY: return TSN_FRAME_ST_BUSY;
	default: return TSN_FRAME_ST_ERROR;
	}
}

const char *
tsn_frame_type_name(uint8_t type)
{
	if (type >= TSN_FRAME_TYPE_END || types[type].name == NULL)
		return "?";
	return types[type].name;
}
