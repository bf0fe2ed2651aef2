/* id.c: the XOR metric on 256-bit ids. */
#include <string.h>

#include "id.h"

unsigned
tsn_id_cpl(const uint8_t a[TSN_ID_LEN], const uint8_t b[TSN_ID_LEN])
{
	for (unsigned i = 0; i < TSN_ID_LEN; i++) {
		uint8_t x = a[i] ^ b[i];
		if (x != 0) {
			unsigned n = 0;
			while ((x & 0x80) == 0) {
				x = (uint8_t)(x << 1);
				n++;
			}
			return i * 8 + n;
		}
	}
	return TSN_ID_BITS;
}

int
tsn_id_dist_cmp(const uint8_t target[TSN_ID_LEN], const uint8_t a[TSN_ID_LEN],
                const uint8_t b[TSN_ID_LEN])
{
	for (unsigned i = 0; i < TSN_ID_LEN; i++) {
		uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

void
tsn_id_xor(uint8_t out[TSN_ID_LEN], const uint8_t a[TSN_ID_LEN], const uint8_t b[TSN_ID_LEN])
{
	for (unsigned i = 0; i < TSN_ID_LEN; i++)
		out[i] = a[i] ^ b[i];
}

void
tsn_id_in_bucket(uint8_t out[TSN_ID_LEN], const uint8_t own[TSN_ID_LEN], unsigned cpl,
                 const uint8_t rnd[TSN_ID_LEN])
{
	unsigned byte = cpl / 8, bit = cpl % 8;
	uint8_t keep = (uint8_t)(0xff00 >> bit); /* own's bits before `bit` */
	uint8_t flip = (uint8_t)(0x80 >> bit);

	if (cpl >= TSN_ID_BITS) {
		memcpy(out, own, TSN_ID_LEN);
		return;
	}
	memcpy(out, own, byte);
	out[byte] = (uint8_t)((own[byte] & keep) | ((own[byte] ^ flip) & flip) |
	                      (rnd[byte] & (uint8_t)~(keep | flip)));
	memcpy(out + byte + 1, rnd + byte + 1, TSN_ID_LEN - byte - 1);
}
