/*
 * cursor_i.h (internal to net/): bounded cursors for reading untrusted bytes
 * and writing into caller buffers. Big-endian integers. The first read past
 * the end sets err to -EBADMSG (a write: -ENOSPC) and every later call is a
 * no-op returning zero, so a decoder checks err once per field group and
 * never touches memory outside the buffer.
 */
#ifndef TSN_NET_CURSOR_I_H
#define TSN_NET_CURSOR_I_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

struct rcur {
	const uint8_t *p;
	size_t left;
	int err;
};

struct wcur {
	uint8_t *p;
	size_t left;
	size_t len;  /* bytes written so far */
	int err;
};

static inline void
rcur_init(struct rcur *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->left = len;
	c->err = 0;
}

static inline int
rcur_need(struct rcur *c, size_t n)
{
	if (c->err != 0)
		return -1;
	if (c->left < n) {
		c->err = -EBADMSG;
		return -1;
	}
	return 0;
}

/* The next n bytes, consumed; NULL (and the error set) when fewer are left. */
static inline const uint8_t *
rcur_take(struct rcur *c, size_t n)
{
	const uint8_t *at = c->p;

	if (rcur_need(c, n) != 0)
		return NULL;
	c->p += n;
	c->left -= n;
	return at;
}

static inline uint8_t
rcur_u8(struct rcur *c)
{
	const uint8_t *at = rcur_take(c, 1);

	return at != NULL ? at[0] : 0;
}

static inline uint16_t
rcur_u16(struct rcur *c)
{
	const uint8_t *at = rcur_take(c, 2);

	return at != NULL ? tsn_get_be16(at) : 0;
}

static inline uint32_t
rcur_u32(struct rcur *c)
{
	const uint8_t *at = rcur_take(c, 4);

	return at != NULL ? tsn_get_be32(at) : 0;
}

static inline uint64_t
rcur_u64(struct rcur *c)
{
	const uint8_t *at = rcur_take(c, 8);

	return at != NULL ? tsn_get_be64(at) : 0;
}

/* Copy n bytes into out (which has room for n). */
static inline void
rcur_bytes(struct rcur *c, void *out, size_t n)
{
	const uint8_t *at = rcur_take(c, n);

	if (at != NULL)
		memcpy(out, at, n);
	else
		memset(out, 0, n);
}

static inline void
wcur_init(struct wcur *c, uint8_t *p, size_t cap)
{
	c->p = p;
	c->left = cap;
	c->len = 0;
	c->err = 0;
}

static inline uint8_t *
wcur_take(struct wcur *c, size_t n)
{
	uint8_t *at;

	if (c->err != 0)
		return NULL;
	if (c->left < n) {
		c->err = -ENOSPC;
		return NULL;
	}
	at = c->p;
	c->p += n;
	c->left -= n;
	c->len += n;
	return at;
}

static inline void
wcur_u8(struct wcur *c, uint8_t v)
{
	uint8_t *at = wcur_take(c, 1);

	if (at != NULL)
		at[0] = v;
}

static inline void
wcur_u16(struct wcur *c, uint16_t v)
{
	uint8_t *at = wcur_take(c, 2);

	if (at != NULL)
		tsn_put_be16(at, v);
}

static inline void
wcur_u32(struct wcur *c, uint32_t v)
{
	uint8_t *at = wcur_take(c, 4);

	if (at != NULL)
		tsn_put_be32(at, v);
}

static inline void
wcur_u64(struct wcur *c, uint64_t v)
{
	uint8_t *at = wcur_take(c, 8);

	if (at != NULL)
		tsn_put_be64(at, v);
}

static inline void
wcur_bytes(struct wcur *c, const void *src, size_t n)
{
	uint8_t *at = wcur_take(c, n);

	if (at != NULL && n > 0)
		memcpy(at, src, n);
}

#endif
