/*
 * id.h: 256-bit node ids and keys (the same space as chunk ids), the XOR
 * metric, and a peer contact (id + address).
 *
 * Threads: pure functions, any thread. Cost: O(32 bytes).
 */
#ifndef TSN_NET_ID_H
#define TSN_NET_ID_H

#include <stdint.h>

#include "addr.h"

#define TSN_ID_LEN 32
#define TSN_ID_BITS 256

struct tsn_contact {
	uint8_t id[TSN_ID_LEN];
	struct tsn_addr addr;
};

/* Number of leading bits a and b share: 0..256 (256 when equal). */
unsigned tsn_id_cpl(const uint8_t a[TSN_ID_LEN], const uint8_t b[TSN_ID_LEN]);
/*
 * Compare the XOR distances of a and b to target: <0 when a is closer,
 * 0 when equal (a == b), >0 when b is closer.
 */
int tsn_id_dist_cmp(const uint8_t target[TSN_ID_LEN], const uint8_t a[TSN_ID_LEN],
                    const uint8_t b[TSN_ID_LEN]);
/* out = a XOR b. */
void tsn_id_xor(uint8_t out[TSN_ID_LEN], const uint8_t a[TSN_ID_LEN], const uint8_t b[TSN_ID_LEN]);
/*
 * An id sharing exactly `cpl` leading bits with own (cpl < 256): own's first
 * cpl bits, bit cpl flipped, the rest from rnd (32 random bytes). Used to
 * pick refresh targets inside one bucket.
 */
void tsn_id_in_bucket(uint8_t out[TSN_ID_LEN], const uint8_t own[TSN_ID_LEN], unsigned cpl,
                      const uint8_t rnd[TSN_ID_LEN]);

#endif
