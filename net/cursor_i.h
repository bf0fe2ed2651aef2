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

static inline uint8_t
rcur_u8(struct rcur *c)
{
	uint8_t v;

	if (rcur_need(c, 1) != 0)
		return 0;
	v = c->p[0];
	c->p++;
	c->left--;
	return v;
}

static inline uint16_t
rcur_u16(struct rcur *c)
{
	uint16_t v;

	if (rcur_need(c, 2) != 0)
		return 0;
	v = (uint16_t)((unsigned)c->p[0] << 8 | c->p[1]);
	c->p += 2;
	c->left -= 2;
	return v;
}

static inline uint32_t
rcur_u32(struct rcur *c)
{
	uint32_t v;

	if (rcur_need(c, 4) != 0)
		return 0;
	v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return v;
}

static inline uint64_t
rcur_u64(struct rcur *c)
{
	uint64_t v = 0;

	if (rcur_need(c, 8) != 0)
		return 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | c->p[i];
	c->p += 8;
	c->left -= 8;
	return v;
}

/* Copy n bytes into out (which has room for n). */
static inline void
rcur_bytes(struct rcur *c, void *out, size_t n)
{
	if (rcur_need(c, n) != 0) {
		memset(out, 0, n);
		return;
	}
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
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

	if (at != NULL) {
		at[0] = (uint8_t)(v >> 8);
		at[1] = (uint8_t)v;
	}
}

static inline void
wcur_u32(struct wcur *c, uint32_t v)
{
	uint8_t *at = wcur_take(c, 4);

	if (at != NULL)
		for (int i = 3; i >= 0; i--, v >>= 8)
			at[i] = (uint8_t)v;
}

static inline void
wcur_u64(struct wcur *c, uint64_t v)
{
	uint8_t *at = wcur_take(c, 8);

	if (at != NULL)
		for (int i = 7; i >= 0; i--, v >>= 8)
			at[i] = (uint8_t)v;
}

static inline void
wcur_bytes(struct wcur *c, const void *src, size_t n)
{
	uint8_t *at = wcur_take(c, n);

	if (at != NULL && n > 0)
		memcpy(at, src, n);
}

#endif
