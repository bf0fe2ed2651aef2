/*
 * test_net_frame.c: the TCP frame codec: every type round-trips (and the
 * head encoder plus the block gives the same bytes as the whole encoder);
 * truncated, oversized, short, padded, unknown-version and unknown-type
 * input is refused with the documented errors; encoding refuses bad input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "frame.h"

static uint8_t buf[TSN_FRAME_MAX + 64], head[TSN_FRAME_HEAD_MAX], blk[TSN_BLOCK_MAX];

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
round_trip_aged(uint8_t type, uint64_t reqid, uint8_t status, uint32_t age, size_t block_len)
{
	struct tsn_frame f, g;
	size_t flen;
	int len, hl;

	memset(&f, 0, sizeof(f));
	f.type = type;
	f.reqid = reqid;
	for (int i = 0; i < TSN_ID_LEN; i++)
		f.id[i] = (uint8_t)(i * 7 + type);
	f.status = status;
	f.age_s = age;
	if (block_len > 0) {
		f.block = blk;
		f.block_len = block_len;
	}
	len = tsn_frame_encode(&f, buf, sizeof(buf));
	CHECK_INT(len, >, 0);
	CHECK_INT(tsn_frame_need(buf, (size_t)len, &flen), ==, 0);
	CHECK_U64(flen, ==, (size_t)len);
	CHECK_INT(tsn_frame_decode(buf, (size_t)len, &g), ==, 0);
	CHECK_INT(g.type, ==, type);
	CHECK_U64(g.reqid, ==, reqid);
	CHECK_MEM(g.id, f.id, TSN_ID_LEN);
	CHECK_INT(g.status, ==, status);
	CHECK_U64(g.age_s, ==, age);
	CHECK_U64(g.block_len, ==, block_len);
	if (block_len > 0) {
		CHECK(g.block == buf + len - block_len); /* a view, not a copy */
		CHECK_MEM(g.block, blk, block_len);
	}
	/* head + block = the whole frame */
	hl = tsn_frame_encode_head(&f, head, sizeof(head));
	CHECK_INT(hl, ==, len - (int)block_len);
	CHECK_MEM(head, buf, (size_t)hl);
	/* every proper prefix is incomplete or refused, never accepted */
	for (size_t cut = 0; cut < (size_t)len; cut += (cut < 64 ? 1 : 4099)) {
		int rc = tsn_frame_need(buf, cut, &flen);
		if (cut < TSN_FRAME_LEN_SIZE)
			CHECK_INT(rc, ==, -EAGAIN);
		else
			CHECK(rc == 0 && flen > cut);
		CHECK_INT(tsn_frame_decode(buf, cut, &g), ==, -EBADMSG);
	}
	/* one byte more is not this frame */
	CHECK_INT(tsn_frame_decode(buf, (size_t)len + 1, &g), ==, -EBADMSG);
}

static void
round_trip(uint8_t type, uint64_t reqid, uint8_t status, size_t block_len)
{
	round_trip_aged(type, reqid, status, 0, block_len);
}

int
main(void)
{
	struct tsn_frame f, g;
	size_t flen;
	int len;

	for (size_t i = 0; i < sizeof(blk); i++)
		blk[i] = (uint8_t)(i * 31 + 5);

	round_trip(TSN_FRAME_CHUNK_GET, 1, 0, 0);
	round_trip(TSN_FRAME_CHUNK_GET, UINT64_MAX, 0, 0);
	round_trip(TSN_FRAME_CHUNK_DATA, 2, 0, 1);
	round_trip(TSN_FRAME_CHUNK_DATA, 3, 0, 1000);
	round_trip(TSN_FRAME_CHUNK_DATA, 4, 0, TSN_BLOCK_MAX);
	round_trip(TSN_FRAME_CHUNK_NONE, 5, TSN_FRAME_ST_NOTFOUND, 0);
	round_trip(TSN_FRAME_CHUNK_NONE, 6, 200, 0); /* unknown status travels; it maps to -EIO */
	round_trip(TSN_FRAME_CHUNK_PUT, 7, 0, TSN_BLOCK_MAX);
	round_trip(TSN_FRAME_CHUNK_PUT, 8, 0, 77);
	round_trip(TSN_FRAME_CHUNK_ACK, 9, TSN_FRAME_ST_FULL, 0);
	round_trip_aged(TSN_FRAME_CHUNK_COPY, 10, 0, 0, 1);
	round_trip_aged(TSN_FRAME_CHUNK_COPY, 11, 0, 86400, TSN_BLOCK_MAX);
	round_trip_aged(TSN_FRAME_CHUNK_COPY, 12, 0, UINT32_MAX, 300);
	CHECK_INT(TSN_FRAME_MAX, ==, 14 + 32 + 4 + TSN_BLOCK_MAX);
	/* a COPY with an age and no block, or with only part of its age */
	memset(&f, 0, sizeof(f));
	f.type = TSN_FRAME_CHUNK_COPY;
	f.block = blk;
	f.block_len = 1;
	len = tsn_frame_encode(&f, buf, sizeof(buf));
	CHECK_INT(len, ==, 14 + 32 + 4 + 1);
	put_u32(buf, 10 + 32 + 4);
	CHECK_INT(tsn_frame_decode(buf, 14 + 32 + 4, &g), ==, -EBADMSG);
	put_u32(buf, 10 + 32 + 2);
	CHECK_INT(tsn_frame_decode(buf, 14 + 32 + 2, &g), ==, -EBADMSG);
	/* a PUT of a whole block with an age's room is one block too long */
	f.type = TSN_FRAME_CHUNK_PUT;
	f.block_len = TSN_BLOCK_MAX;
	len = tsn_frame_encode(&f, buf, sizeof(buf));
	put_u32(buf, (uint32_t)(len - 4 + 4));
	CHECK_INT(tsn_frame_decode(buf, (size_t)len + 4, &g), ==, -EBADMSG);

	/* status mapping */
	CHECK_INT(tsn_frame_status_errno(TSN_FRAME_ST_OK), ==, 0);
	CHECK_INT(tsn_frame_status_errno(TSN_FRAME_ST_NOTFOUND), ==, -ENOENT);
	CHECK_INT(tsn_frame_status_errno(TSN_FRAME_ST_FULL), ==, -ENOSPC);
	CHECK_INT(tsn_frame_status_errno(TSN_FRAME_ST_INVALID), ==, -EBADMSG);
	CHECK_INT(tsn_frame_status_errno(TSN_FRAME_ST_BUSY), ==, -EBUSY);
	CHECK_INT(tsn_frame_status_errno(200), ==, -EIO);
	for (int e = 0; e <= 5; e++)
		CHECK_INT(tsn_frame_errno_status(tsn_frame_status_errno((uint8_t)e)), ==, e);
	CHECK_INT(tsn_frame_errno_status(-EPERM), ==, TSN_FRAME_ST_ERROR);
	CHECK_STR(tsn_frame_type_name(TSN_FRAME_CHUNK_GET), "CHUNK_GET");
	CHECK_STR(tsn_frame_type_name(0), "?");
	CHECK_STR(tsn_frame_type_name(255), "?");

	/* a base frame to damage */
	memset(&f, 0, sizeof(f));
	f.type = TSN_FRAME_CHUNK_GET;
	f.reqid = 42;
	len = tsn_frame_encode(&f, buf, sizeof(buf));
	CHECK_INT(len, ==, 46);

	/* length prefix below the header, or above one block */
	put_u32(buf, 9);
	CHECK_INT(tsn_frame_need(buf, 46, &flen), ==, -EBADMSG);
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EBADMSG);
	put_u32(buf, TSN_FRAME_MAX - 4 + 1);
	CHECK_INT(tsn_frame_need(buf, 4, &flen), ==, -EBADMSG);
	put_u32(buf, UINT32_MAX);
	CHECK_INT(tsn_frame_need(buf, 4, &flen), ==, -EBADMSG);
	put_u32(buf, TSN_FRAME_MAX - 4);
	CHECK_INT(tsn_frame_need(buf, 4, &flen), ==, 0);
	CHECK_U64(flen, ==, TSN_FRAME_MAX);

	/* GET with a body one byte short or long */
	put_u32(buf, 10 + 31);
	CHECK_INT(tsn_frame_decode(buf, 45, &g), ==, -EBADMSG);
	put_u32(buf, 10 + 33);
	buf[46] = 0;
	CHECK_INT(tsn_frame_decode(buf, 47, &g), ==, -EBADMSG);
	put_u32(buf, 10 + 32);
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, 0);

	/* unknown version: skippable, type and reqid known */
	buf[4] = 2;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EPROTONOSUPPORT);
	CHECK_U64(g.reqid, ==, 42);
	buf[4] = TSN_FRAME_VERSION;
	/* unknown and reserved types */
	buf[5] = 0;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EOPNOTSUPP);
	buf[5] = TSN_FRAME_FORWARD;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EOPNOTSUPP);
	CHECK_INT(g.type, ==, TSN_FRAME_FORWARD);
	buf[5] = TSN_FRAME_TYPE_END;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EOPNOTSUPP);
	buf[5] = 255;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EOPNOTSUPP);

	/* NONE and ACK are exactly id + status */
	buf[5] = TSN_FRAME_CHUNK_NONE;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EBADMSG);
	put_u32(buf, 10 + 34);
	buf[46] = 1;
	buf[47] = 1;
	CHECK_INT(tsn_frame_decode(buf, 48, &g), ==, -EBADMSG);
	/* DATA and PUT need at least one block byte */
	put_u32(buf, 10 + 32);
	buf[5] = TSN_FRAME_CHUNK_DATA;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EBADMSG);
	buf[5] = TSN_FRAME_CHUNK_PUT;
	CHECK_INT(tsn_frame_decode(buf, 46, &g), ==, -EBADMSG);
	/* and at most one block (plus a COPY's age): the largest prefix is
	 * refused before any body */
	put_u32(buf, 10 + 32 + 4 + TSN_BLOCK_MAX + 1);
	CHECK_INT(tsn_frame_need(buf, 46, &flen), ==, -EBADMSG);

	/* encoding refuses what cannot be decoded */
	memset(&f, 0, sizeof(f));
	f.type = TSN_FRAME_FORWARD;
	CHECK_INT(tsn_frame_encode(&f, buf, sizeof(buf)), ==, -EINVAL);
	f.type = 0;
	CHECK_INT(tsn_frame_encode(&f, buf, sizeof(buf)), ==, -EINVAL);
	f.type = TSN_FRAME_CHUNK_DATA;
	CHECK_INT(tsn_frame_encode(&f, buf, sizeof(buf)), ==, -EINVAL); /* no block */
	f.block = blk;
	f.block_len = TSN_BLOCK_MAX + 1;
	CHECK_INT(tsn_frame_encode(&f, buf, sizeof(buf)), ==, -EINVAL);
	f.block_len = 100;
	CHECK_INT(tsn_frame_encode(&f, buf, 100), ==, -ENOSPC);
	CHECK_INT(tsn_frame_encode_head(&f, buf, 20), ==, -ENOSPC);
	CHECK_INT(tsn_frame_encode(&f, buf, 46 + 100), ==, 146);

	/* a stream of frames splits at the prefixes */
	{
		size_t off = 0, nframes = 0;
		int l1, l2, l3;
		memset(&f, 0, sizeof(f));
		f.type = TSN_FRAME_CHUNK_GET;
		l1 = tsn_frame_encode(&f, buf, sizeof(buf));
		f.type = TSN_FRAME_CHUNK_DATA;
		f.block = blk;
		f.block_len = 5000;
		l2 = tsn_frame_encode(&f, buf + l1, sizeof(buf) - (size_t)l1);
		f.type = TSN_FRAME_CHUNK_ACK;
		l3 = tsn_frame_encode(&f, buf + l1 + l2, sizeof(buf) - (size_t)(l1 + l2));
		while (tsn_frame_need(buf + off, (size_t)(l1 + l2 + l3) - off, &flen) == 0) {
			CHECK_INT(tsn_frame_decode(buf + off, flen, &g), ==, 0);
			off += flen;
			nframes++;
		}
		CHECK_U64(off, ==, (size_t)(l1 + l2 + l3));
		CHECK_U64(nframes, ==, 3);
	}
	printf("frame ok\n");
	return 0;
}
