/*
 * publish.h: keyword publishing of your shared files (docs/formats.md,
 * "Keyword entry"). When a file is shared under a name, each of its words
 * (the name's, tsn_keywords_from_name, plus extra ones) gets one keyword
 * record (net/record.h) in the DHT, in the file's own slot; the publisher
 * republishes them periodically while the file is shared, and publishes a
 * WITHDRAWN tombstone (higher seq, same slot) when it stops.
 *
 * The list of what is shared ((uri, name) -> words) lives in the store's kv
 * table TSN_KV_PUBLISHED, key root id (32) | name, value u8 version (1) |
 * root key (32) | u64 size | u8 n | n * (u8 len, word): republishing goes
 * on after a restart. The publisher secret is BLAKE2b-256 keyed with the
 * data dir's private secret (tsn_store_private_secret) over "tsn/kwpub":
 * slot keys (tsn_kw_signing_key) cannot be linked to one publisher without
 * it.
 *
 * Threads: every call is thread-safe. The publisher owns one thread that
 * republishes everything 5 s after start, then every republish_ms. Records
 * go out through tsn_node_put_record (asynchronous, best effort: a full
 * request queue is retried for at most 2 s per record, then skipped until
 * the next round).
 */
#ifndef TSN_NET_PUBLISH_H
#define TSN_NET_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "uri.h"

struct tsn_node;
struct tsn_publisher;

#define TSN_PUBLISH_EVERY_DEFAULT_MS (UINT64_C(6) * 3600 * 1000)
#define TSN_PUBLISH_TTL_DEFAULT_MS (UINT64_C(24) * 3600 * 1000)

struct tsn_publisher_opts {
	struct tsn_store *store; /* required, borrowed for the publisher's life */
	struct tsn_node *node;   /* borrowed; NULL: the list is kept, nothing is sent */
	uint64_t republish_ms;   /* 0 = TSN_PUBLISH_EVERY_DEFAULT_MS (tsnd --republish-interval,
	                          * mount republish_interval=: the owner's period for
	                          * chunks and records alike) */
	uint64_t ttl_ms;         /* record lifetime; 0 = TSN_PUBLISH_TTL_DEFAULT_MS */
};

/* Start the publisher. Returns 0 or -errno (*out NULL). */
int tsn_publisher_new(struct tsn_publisher **out, const struct tsn_publisher_opts *o);
/* Stop its thread and free it (records already queued still go). NULL: no-op. */
void tsn_publisher_free(struct tsn_publisher *p);

/*
 * Share uri under name: save (uri, name, words) and publish one record per
 * word now. extra (len bytes, may be NULL) adds words, split like a name.
 * Returns the number of words published (queued), or -EINVAL (bad name,
 * no word), -EIO (store).
 */
int tsn_publisher_share(struct tsn_publisher *p, const struct tsn_uri *uri, const char *name,
                        const char *extra, size_t len);
/*
 * Stop sharing uri under name (NULL: under every name): forget it and
 * publish a WITHDRAWN tombstone per word. Returns the number of names
 * withdrawn (0: none was shared), or -EIO.
 */
int tsn_publisher_withdraw(struct tsn_publisher *p, const struct tsn_uri *uri, const char *name);
/* Republish everything now (also what the thread does). Returns records queued. */
long tsn_publisher_republish(struct tsn_publisher *p);

#endif
