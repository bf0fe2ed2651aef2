/*
 * fuzz_wire.c: libFuzzer target for the datagram decoder (and the record
 * decoder and verifier behind it). A decoded message must re-encode within
 * the MTU and decode again to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tsn_msg m, m2;
	static uint8_t out[TSN_WIRE_MTU], out2[TSN_WIRE_MTU];
	int len, len2;

	if (tsn_wire_decode(data, size, &m) != 0)
		return 0;
	switch (m.h.type) {
	case TSN_MSG_VALUES:
		for (unsigned i = 0; i < m.u.values.n; i++)
			(void)tsn_record_verify(&m.u.values.recs[i]);
		return 0;
	case TSN_MSG_STORE:
		if (m.u.store.rc != 0)
			return 0;
		(void)tsn_record_verify(&m.u.store.rec);
		break;
	default:
		break;
	}
	/* the encoding is canonical: re-encoding gives the input back */
	len = tsn_wire_encode(&m, out, sizeof(out));
	if (len < 0 || (size_t)len != size || memcmp(out, data, size) != 0)
		abort();
	if (tsn_wire_decode(out, (size_t)len, &m2) != 0)
		abort();
	len2 = tsn_wire_encode(&m2, out2, sizeof(out2));
	if (len2 != len || memcmp(out, out2, (size_t)len) != 0)
		abort();
	return 0;
}
