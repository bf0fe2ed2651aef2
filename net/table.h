/*
 * table.h: the Kademlia routing table of one node.
 *
 * 256 fixed k-buckets indexed by the common prefix length of a contact's id
 * with the own id (bucket i holds ids at XOR distance [2^(255-i), 2^(256-i))).
 * This is the table the Kademlia bucket-splitting tree reaches once fully
 * split, without the split bookkeeping; a bucket's storage is allocated on
 * first use, so memory follows the ~log2(N) buckets that are populated.
 * Each bucket keeps up to k contacts in least-recently-seen order and a
 * small cache of replacement candidates.
 *
 * Rules (Kademlia paper, section 2.2 and 4.1):
 *   - a contact already present moves to the most-recently-seen end;
 *   - a new contact goes in if its bucket has room;
 *   - if the bucket is full, the newcomer waits in the replacement cache and
 *     the caller is asked to ping the least-recently-seen contact (once at a
 *     time per bucket), unless that contact was heard from within
 *     ping_fresh_ms with no failed query since (BEP 5's "good" node: a ping
 *     would prove nothing new, and the pinged node, often not knowing us,
 *     pinged its own LRS in turn, docs/sim.md); if it answers it stays
 *     (moves to the tail), if the ping fails it is evicted and the most
 *     recent candidate takes its place;
 *   - a contact is also evicted after max_fails consecutive failed queries;
 *   - at most subnet_limit contacts per bucket share an IPv4 /24 or an IPv6
 *     /48. Loopback addresses are grouped by exact (address, port) instead,
 *     since a test network of 20 nodes on 127.0.0.1 shares one /24;
 *   - martian addresses (unless allow_loopback for loopback), the own id and
 *     the own addresses are refused.
 *
 * Threads: one owner, no locking. Ownership: contacts are copied in and out.
 */
#ifndef TSN_NET_TABLE_H
#define TSN_NET_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "id.h"

#define TSN_TABLE_K_MAX 32
#define TSN_TABLE_REPL_MAX 32
#define TSN_TABLE_OWN_ADDR_MAX 8

struct tsn_table;

struct tsn_table_opts {
	uint8_t own_id[TSN_ID_LEN];
	unsigned k;              /* contacts per bucket; default 20, max TSN_TABLE_K_MAX */
	unsigned replacements;   /* replacement candidates per bucket; default 8 */
	unsigned subnet_limit;   /* per /24 or /48 per bucket; default 2; UINT_MAX = no limit */
	unsigned max_fails;      /* consecutive failures before eviction; default 2 */
	bool allow_loopback;     /* accept 127.0.0.0/8 and ::1 */
	uint64_t refresh_ms;     /* refresh a bucket idle this long; default 15 min */
	uint64_t ping_stale_ms;  /* a ping of the LRS contact older than this is forgotten; default 30 s */
	uint64_t ping_fresh_ms;  /* an LRS contact heard from this recently (and not failed
	                            since) is not pinged; default 60 s; 1: always pinged */
	struct tsn_addr own_addrs[TSN_TABLE_OWN_ADDR_MAX];
	unsigned n_own_addrs;
};

/* Defaults for everything but own_id (left zero). */
void tsn_table_opts_default(struct tsn_table_opts *o);

/* Create an empty table; zero fields of *o take defaults. Returns 0, -EINVAL, -ENOMEM. */
int tsn_table_new(struct tsn_table **out, const struct tsn_table_opts *o, uint64_t now_ms);
/* NULL is a no-op. */
void tsn_table_free(struct tsn_table *t);
/* Refuse contacts at addr from now on. Returns 0 or -ENOSPC (list full). */
int tsn_table_add_own_addr(struct tsn_table *t, const struct tsn_addr *addr);

enum tsn_table_result {
	TSN_TABLE_UPDATED = 0,  /* known contact, now most recently seen */
	TSN_TABLE_ADDED = 1,    /* new contact in its bucket */
	TSN_TABLE_CACHED = 2,   /* bucket full: kept as a replacement candidate */
	TSN_TABLE_PING = 3,     /* as CACHED, and *ping is the LRS contact to ping now;
	                           report the answer with tsn_table_seen, a timeout
	                           with tsn_table_failed */
};

/*
 * We heard from c at now_ms; replied says it answered one of our queries
 * (proof it is reachable at that address) rather than sent us a request.
 * Returns an enum tsn_table_result, or -EADDRNOTAVAIL (martian address),
 * -ELOOP (own id or own address), -EDQUOT (subnet limit of its bucket),
 * -EEXIST (known id at another address: ignored until the old one fails).
 * Cost: O(k + replacements).
 */
int tsn_table_seen(struct tsn_table *t, uint64_t now_ms, const struct tsn_contact *c, bool replied,
                   struct tsn_contact *ping);
/*
 * A query to id timed out. Evicts the contact after max_fails in a row, or at
 * once when it was the pinged LRS contact and a candidate waits; the most
 * recent fitting candidate then takes the place. Returns 1 (evicted),
 * 0 (kept) or -ENOENT.
 */
int tsn_table_failed(struct tsn_table *t, const uint8_t id[TSN_ID_LEN]);
/* Remove id (contact or candidate). Returns 0 or -ENOENT. */
int tsn_table_remove(struct tsn_table *t, const uint8_t id[TSN_ID_LEN]);

/*
 * Up to n contacts closest to target by XOR, closest first, skipping
 * `exclude` (may be NULL) and, when good_only, contacts whose last query
 * failed (what we tell other nodes: a dead contact in a reply hides a live
 * one from the asker). Returns how many. Cost: O(contacts * n).
 */
size_t tsn_table_closest(const struct tsn_table *t, const uint8_t target[TSN_ID_LEN],
                         const uint8_t *exclude, bool good_only, struct tsn_contact *out,
                         size_t n);
/* True and *c filled if id is a contact (not a candidate). c may be NULL. */
bool tsn_table_find(const struct tsn_table *t, const uint8_t id[TSN_ID_LEN], struct tsn_contact *c);
/* Contacts in the table (candidates not counted). */
size_t tsn_table_count(const struct tsn_table *t);
/* Contacts and candidates of bucket b (0..255). */
size_t tsn_table_bucket_count(const struct tsn_table *t, unsigned b);
size_t tsn_table_bucket_candidates(const struct tsn_table *t, unsigned b);
/* Copy up to max contacts (most recently seen first per bucket) into out. */
size_t tsn_table_contacts(const struct tsn_table *t, struct tsn_contact *out, size_t max);

/*
 * Bucket refresh. Buckets 0..deepest populated one are refreshable; one is
 * due when nothing in it answered and no refresh touched it for refresh_ms.
 * Returns a due bucket index, or -1; *next gets the earliest future
 * deadline (UINT64_MAX if none). Cost: O(256).
 */
int tsn_table_due_bucket(const struct tsn_table *t, uint64_t now_ms, uint64_t *next);
/* Mark bucket b refreshed (a lookup in its range started) at now_ms. */
void tsn_table_touch(struct tsn_table *t, unsigned b, uint64_t now_ms);
/* Make every refreshable bucket due now (after joining). */
void tsn_table_touch_all_due(struct tsn_table *t);
/* Bucket index of id (its common prefix length with own id; 256 = own id). */
unsigned tsn_table_bucket_of(const struct tsn_table *t, const uint8_t id[TSN_ID_LEN]);

#endif
