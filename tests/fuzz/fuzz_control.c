/*
 * fuzz_control.c: libFuzzer target for the control protocol's frame check
 * and payload decoders (net/control_codec.c). The input is read as a stream
 * of frames (u32 length, u8 type, payload) as either side would receive
 * them; every payload goes through the decoder of its type, and what
 * decodes must re-encode to the same bytes where the encoding is canonical.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
payload(uint8_t type, const uint8_t *p, size_t n)
{
	static uint8_t out[TSN_CTL_SMALL_MAX + 16];
	char name[TSN_CTL_NAME_MAX + 1], kw[TSN_CTL_KEYWORDS_MAX + 1], query[TSN_CTL_QUERY_MAX + 1];
	char text[64];
	uint32_t ms;
	struct tsn_ctl_put_result pr;
	struct tsn_ctl_status st;
	struct tsn_ctl_leave_result lr;
	struct tsn_ctl_stat ss;
	struct tsn_file_info f;
	struct tsn_contact c;
	struct tsn_uri uri;
	unsigned flags;
	size_t m;
	int err;

	switch (type) {
	case TSN_CTL_HELLO:
		(void)tsn_ctl_hello_decode(p, n);
		break;
	case TSN_CTL_PUT:
		if (tsn_ctl_put_decode(p, n, &flags, name, kw) == 0) {
			m = tsn_ctl_put_encode(out, sizeof(out), flags, name, kw);
			if (m != n || memcmp(out, p, n) != 0)
				abort();
		}
		break;
	case TSN_CTL_SEARCH:
		if (tsn_ctl_search_decode(p, n, &ms, query) == 0) {
			m = tsn_ctl_search_encode(out, sizeof(out), ms, query);
			if (m != n || memcmp(out, p, n) != 0)
				abort();
		}
		break;
	case TSN_CTL_RESULT:
		if (tsn_ctl_result_decode(p, n, &uri, name) == 0 &&
		    (strlen(name) == 0 || strchr(name, '/') != NULL))
			abort();
		break;
	case TSN_CTL_GET:
	case TSN_CTL_RM:
		(void)tsn_ctl_uri_decode(p, n, &uri, NULL);
		break;
	case TSN_CTL_ERR:
		if (tsn_ctl_err_decode(p, n, &err, text, sizeof(text)) == 0 &&
		    (err >= 0 || strlen(text) >= sizeof(text)))
			abort();
		break;
	case TSN_CTL_OK:
		if (tsn_ctl_put_ok_decode(p, n, &pr) == 0) {
			tsn_ctl_put_ok_encode(out, &pr);
			if (memcmp(out, p, n) != 0)
				abort();
		}
		if (tsn_ctl_stat_decode(p, n, &ss) == 0) {
			tsn_ctl_stat_encode(out, &ss);
			if (memcmp(out, p, n) != 0)
				abort();
		}
		if (tsn_ctl_status_decode(p, n, &st) == 0) {
			struct tsn_ctl_status again;
			m = tsn_ctl_status_encode(out, &st, st.version);
			if (tsn_ctl_status_decode(out, m, &again) != 0 || again.version != st.version ||
			    again.repair_bytes != st.repair_bytes || again.peers != st.peers)
				abort();
		}
		if (tsn_ctl_leave_ok_decode(p, n, &lr) == 0) {
			m = tsn_ctl_leave_ok_encode(out, &lr, lr.version);
			if (m > n || memcmp(out, p, m) != 0)
				abort();
		}
		break;
	case TSN_CTL_FILE:
		if (tsn_ctl_file_decode(p, n, &f) == 0) {
			m = tsn_ctl_file_encode(out, sizeof(out), &f);
			if (m != n || memcmp(out, p, n) != 0)
				abort();
		}
		break;
	case TSN_CTL_PEER:
		(void)tsn_ctl_peer_decode(p, n, &c);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (size - off >= TSN_CTL_HDR) {
		uint32_t len = tsn_get_be32(data + off);
		uint8_t type = data[off + 4];
		int ok_c, ok_s;
		if (len == 0)
			return 0;
		ok_c = tsn_ctl_frame_check(type, len - 1, TSN_CTL_FROM_CLIENT, NULL) == 0;
		ok_s = tsn_ctl_frame_check(type, len - 1, TSN_CTL_FROM_SERVER, NULL) == 0;
		if (!ok_c && !ok_s)
			return 0; /* a receiver closes here */
		if (len - 1 > size - off - TSN_CTL_HDR)
			return 0; /* truncated */
		payload(type, data + off + TSN_CTL_HDR, len - 1);
		off += TSN_CTL_HDR + len - 1;
	}
	return 0;
}
