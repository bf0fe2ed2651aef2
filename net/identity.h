/*
 * identity.h: the node's Ed25519 key pair, kept in one file of the data dir.
 *
 * The file holds exactly the 64-byte libsodium secret key (seed followed by
 * public key), mode 0600, owned by the user. It is created by writing a
 * temporary file in the same directory, fsync, rename, fsync of the
 * directory, so a crash leaves either no file or a whole one. A file of the
 * wrong size, readable or writable by group or others, not a regular file,
 * or whose public half does not match its seed is refused with a log line
 * saying why. Node id = BLAKE2b-256(public key).
 *
 * This is the one file of net/ that does file I/O (it is not protocol code).
 * Threads: any thread; no shared state. Cost: a few syscalls.
 */
#ifndef TSN_NET_IDENTITY_H
#define TSN_NET_IDENTITY_H

#include <stdint.h>

#include "id.h"

#define TSN_IDENTITY_FILE_LEN 64

struct tsn_identity {
	uint8_t pk[32];
	uint8_t sk[64];   /* secret: wipe with tsn_identity_wipe */
	uint8_t id[TSN_ID_LEN];
};

/*
 * Load the key pair from path. Returns 0, -ENOENT (no file), -EPERM (mode
 * allows group or others), -EINVAL (not a regular file, wrong size),
 * -EBADMSG (public key does not match the seed) or another -errno of the
 * read. On failure *out is wiped.
 */
int tsn_identity_load(const char *path, struct tsn_identity *out);
/*
 * Create a new key pair at path (which must not exist: -EEXIST), mode 0600.
 * Returns 0 or -errno; on failure no file is left at path and *out is wiped.
 */
int tsn_identity_create(const char *path, struct tsn_identity *out);
/* Load path, or create it when it does not exist. Returns 0 or as above. */
int tsn_identity_load_or_create(const char *path, struct tsn_identity *out);
/* Node id of a public key: BLAKE2b-256(pk). */
void tsn_identity_node_id(uint8_t id[TSN_ID_LEN], const uint8_t pk[32]);
/* Wipe the secret (sodium_memzero of the whole struct). */
void tsn_identity_wipe(struct tsn_identity *ident);

#endif
