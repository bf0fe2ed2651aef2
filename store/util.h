/*
 * util.h: small helpers every layer uses: hex, sizes, logging.
 */
#ifndef TSN_UTIL_H
#define TSN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void tsn_hex(const uint8_t *p, size_t n, char *out);
/* Parse exactly 2n hex digits (either case) of s into p. Returns 0 or -EINVAL. */
int tsn_unhex(const char *s, size_t slen, uint8_t *p, size_t n);
/*
 * Parse a size: digits with an optional suffix K, M, G, T (powers of 1024,
 * an optional "iB" or "B" after it). Returns 0 or -EINVAL (bad form, overflow).
 */
int tsn_parse_size(const char *s, uint64_t *out);
/* Parse a whole decimal integer in lo..hi. Returns 0 or -EINVAL. */
int tsn_parse_long(const char *s, long lo, long hi, long *out);
/* "1.5 GiB"-style text of n bytes into out (len bytes). */
void tsn_fmt_size(uint64_t n, char *out, size_t len);

/*
 * The default data dir: $XDG_DATA_HOME/tsn when XDG_DATA_HOME is absolute,
 * else $HOME/.local/share/tsn. Returns 0, -ENOENT (neither is set) or
 * -ENAMETOOLONG (len too small).
 */
int tsn_default_datadir(char *out, size_t len);
/* mkdir (mode 0700) every missing parent of path, not path itself. Returns 0 or -errno. */
int tsn_mkdir_parents(const char *path);

/* Milliseconds of CLOCK_MONOTONIC (intervals, deadlines) and of the wall
 * clock (Unix time: expiries, lifetimes kept across restarts). */
uint64_t tsn_mono_ms(void);
uint64_t tsn_wall_ms(void);

/* Big-endian integers: every on-disk and on-wire format here is big endian. */
static inline void
tsn_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
tsn_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
tsn_put_be64(uint8_t *p, uint64_t v)
{
	tsn_put_be32(p, (uint32_t)(v >> 32));
	tsn_put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t
tsn_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
tsn_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
tsn_get_be64(const uint8_t *p)
{
	return (uint64_t)tsn_get_be32(p) << 32 | tsn_get_be32(p + 4);
}

/* Log levels: quiet by default (warnings and errors only). */
enum tsn_log_level { TSN_LOG_ERROR = 0, TSN_LOG_WARN = 1, TSN_LOG_INFO = 2, TSN_LOG_DEBUG = 3 };
/*
 * The process-wide log threshold. Set it once at start, before threads; it
 * is the one piece of process-wide state (a log sink has no owner).
 */
void tsn_log_set_level(int level);
int tsn_log_level(void);
/* One line to stderr: "tsn: LEVEL: message". */
void tsn_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
