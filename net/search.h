/*
 * search.h: keyword search over the DHT (docs/formats.md "Keyword entry").
 *
 * A query is split into words like a file name (tsn_keywords_add); each
 * word's records are collected from the DHT (tsn_node_get_records, all
 * words at once), each record's sealed entry is opened with the word
 * (records that do not open, or whose entry is WITHDRAWN, are skipped: a
 * tombstone hides its slot's earlier entries, since a get keeps the highest
 * seq per slot). A result is an entry whose (root id, name) every word
 * found; each (root id, name) is reported once.
 */
#ifndef TSN_NET_SEARCH_H
#define TSN_NET_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "keyword.h"

struct tsn_node;

#define TSN_SEARCH_TIMEOUT_DEFAULT_MS 5000
#define TSN_SEARCH_HITS_MAX 256 /* entries kept per word */

/* A result; e borrowed for the call. Return 0 to go on, non-zero to stop.
 * Also called with e NULL at least every 100 ms while waiting, so the
 * caller can stop the search (return non-zero) without waiting for it. */
typedef int (*tsn_search_fn)(void *ud, const struct tsn_kw_entry *e);

/*
 * Run the query (len bytes of UTF-8) on node n, calling cb on the calling
 * thread for each result as soon as every word's records are in, and
 * return when every word is done, cb asked to stop, or timeout_ms passed
 * (0 = TSN_SEARCH_TIMEOUT_DEFAULT_MS), whichever is first; gets still
 * running then finish on the node's thread and are dropped.
 * Not on the node's loop thread (blocks). Returns the number of results
 * reported, -EINVAL (no word of 2 characters or more), -ENOMEM, or the
 * error of a get that could not start (-EAGAIN, -ECANCELED).
 */
long tsn_search_run(struct tsn_node *n, const char *query, size_t len, uint32_t timeout_ms,
                    tsn_search_fn cb, void *ud);

#endif
