/*
 * fuzz_frame.c: libFuzzer target for the TCP frame decoder, fed the input
 * as a stream the way a connection is: split at the length prefixes, each
 * frame decoded; a decoded frame must re-encode to the same bytes (the
 * encoding is canonical), and the head encoder plus the block must agree.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[TSN_FRAME_MAX], head[TSN_FRAME_HEAD_MAX];
	size_t off = 0, flen;
	struct tsn_frame f;
	int len, hl, rc;

	while (off < size) {
		rc = tsn_frame_need(data + off, size - off, &flen);
		if (rc == -EAGAIN || rc == -EBADMSG)
			return 0; /* partial: wait for more; bad prefix: the connection closes */
		if (rc != 0 || flen < TSN_FRAME_HDR_LEN || flen > TSN_FRAME_MAX)
			abort();
		if (size - off < flen) {
			/* an incomplete frame must not decode */
			if (tsn_frame_decode(data + off, size - off, &f) != -EBADMSG)
				abort();
			return 0;
		}
		rc = tsn_frame_decode(data + off, flen, &f);
		if (rc == 0) {
			if (f.block != NULL && (f.block < data + off || f.block + f.block_len > data + off + flen))
				abort();
			len = tsn_frame_encode(&f, out, sizeof(out));
			if (len < 0 || (size_t)len != flen || memcmp(out, data + off, flen) != 0)
				abort();
			hl = tsn_frame_encode_head(&f, head, sizeof(head));
			if (hl < 0 || (size_t)hl + f.block_len != flen || memcmp(head, out, (size_t)hl) != 0)
				abort();
		} else if (rc == -EBADMSG) {
			return 0; /* malformed: the connection closes */
		} else if (rc != -EPROTONOSUPPORT && rc != -EOPNOTSUPP) {
			abort();
		}
		off += flen; /* decoded, or unknown and skipped */
	}
	return 0;
}
