/*
 * fs_ns_i.h: the namespace record codec, shared by ns.c (writes) and
 * ns_load.c (the load and its repairs). Internal to fs/.
 */
#ifndef TSN_FS_NS_I_H
#define TSN_FS_NS_I_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fs_i.h"

#define FS_NS_VERSION 1
#define FS_NS_DIR 1
#define FS_NS_FILE 2
#define FS_NS_HAS_URI 0x01
#define FS_NS_HDR 142
#define FS_NS_IKEY_LEN 9
#define FS_NS_QUEUE_LEN (1 + 8 + TSN_KEY_LEN)
#define FS_NS_PIN_LEN (2 + 8 + TSN_KEY_LEN)

/* A parsed node record; keywords point into the parsed buffer. */
struct fs_ns_rec {
	uint8_t type, has_uri;
	uint64_t parent, seq;
	uint32_t mode, uid, gid;
	struct timespec atime, mtime, ctime;
	struct tsn_uri uri;
	char name[FS_NAME_MAX + 1];
	const uint8_t *keywords;
	uint32_t klen;
};

void fs_ns_key(uint8_t k[FS_NS_IKEY_LEN], uint64_t id);
/* Encode n's record with `parent` into v (FS_NS_HDR + 255 + 4096 bytes). */
size_t fs_ns_encode(const struct fs_node *n, uint64_t parent, uint8_t *v);
/* Parse exactly len bytes. Returns 0 or -EBADMSG. */
int fs_ns_parse(const uint8_t *v, size_t len, struct fs_ns_rec *r);
int fs_ns_pin_put(struct tsn_fs *fs, const struct tsn_uri *uri, int external);
int fs_ns_pin_delete(struct tsn_fs *fs, const uint8_t id[TSN_ID_LEN]);
int fs_ns_pin_parse(const uint8_t id[TSN_ID_LEN], const uint8_t *v, size_t len,
                    struct tsn_uri *uri, int *external);
int fs_ns_queue_parse(const uint8_t id[TSN_ID_LEN], const uint8_t *v, size_t len,
                      struct tsn_uri *uri);

#endif
