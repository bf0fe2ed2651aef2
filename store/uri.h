/*
 * uri.h: the printable name of a file: "tsn:" and 124 base32 characters
 * (RFC 4648 alphabet, lower case, no padding) encoding
 *   u8 version (1) | u64 size (big endian) | root id (32) | root key (32)
 *   | checksum (4: BLAKE2b-32 of the 73 bytes before it)
 * Parsing is strict: exact length, lower-case alphabet only, zero padding
 * bits, known version, size <= TSN_FILE_MAX, matching checksum.
 */
#ifndef TSN_URI_H
#define TSN_URI_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"

#define TSN_URI_VERSION 1
#define TSN_URI_STRLEN (4 + 124)       /* without the NUL */
#define TSN_FILE_MAX (UINT64_C(1) << 50) /* 1 PiB */

struct tsn_uri {
	uint64_t size;
	uint8_t id[TSN_ID_LEN];   /* root block id */
	uint8_t key[TSN_KEY_LEN]; /* root block key */
};

/* Write the URI and a NUL into out (TSN_URI_STRLEN + 1 bytes). */
void tsn_uri_format(const struct tsn_uri *u, char out[TSN_URI_STRLEN + 1]);

/*
 * Parse len bytes of s (no NUL needed). Returns 0, or -EINVAL with *why (if
 * not NULL) pointing at a static reason; *out is untouched on failure.
 */
int tsn_uri_parse(const char *s, size_t len, struct tsn_uri *out, const char **why);

#endif
