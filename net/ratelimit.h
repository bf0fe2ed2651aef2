/*
 * ratelimit.h: token buckets for unsolicited requests, one per source
 * address in a bounded table plus one global bucket (after jech/dht's
 * token_bucket, made per source).
 *
 * A source is an IP address (any port), except loopback, where it is the
 * (address, port) pair: local test networks put every node on 127.0.0.1.
 * When the table is full the least recently used source is forgotten; the
 * global bucket bounds what a sender cycling through many addresses gets.
 *
 * Threads: one owner. Cost: O(table size) per call (a small linear scan).
 */
#ifndef TSN_NET_RATELIMIT_H
#define TSN_NET_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

struct tsn_ratelimit;

struct tsn_ratelimit_opts {
	unsigned sources;       /* per-source buckets kept; default 256 */
	uint32_t rate;          /* tokens per second per source; default 500 */
	uint32_t burst;         /* bucket size per source; default 1000 */
	uint32_t global_rate;   /* tokens per second, all sources; default 10000 */
	uint32_t global_burst;  /* default 20000 */
};

void tsn_ratelimit_opts_default(struct tsn_ratelimit_opts *o);
/* Zero fields take defaults. Returns 0 or -ENOMEM (*out NULL). */
int tsn_ratelimit_new(struct tsn_ratelimit **out, const struct tsn_ratelimit_opts *o);
/* NULL is a no-op. */
void tsn_ratelimit_free(struct tsn_ratelimit *rl);
/* Take one token for a request from `from` at now_ms; false: drop it. */
bool tsn_ratelimit_allow(struct tsn_ratelimit *rl, uint64_t now_ms, const struct tsn_addr *from);

#endif
