/*
 * control_codec.c: the frame table and the payload codecs of the control
 * protocol (control.h, docs/control.md). Pure functions, no I/O.
 *
 * Every decoder checks the exact (or capped) length before it reads a byte,
 * reads big-endian integers explicitly, and assumes no NUL termination.
 */
#include <errno.h>
#include <string.h>

#include "control.h"
#include "util.h"

/* Payload bounds and senders of each type, indexed by type. */
static const struct {
	uint32_t min, max;
	int from;
} frame_table[TSN_CTL_TYPE_END] = {
	[TSN_CTL_HELLO] = {TSN_CTL_HELLO_LEN, 64, TSN_CTL_FROM_CLIENT | TSN_CTL_FROM_SERVER},
	[TSN_CTL_PUT] = {2, 2 + TSN_CTL_NAME_MAX + TSN_CTL_KEYWORDS_MAX, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_GET] = {TSN_URI_STRLEN, TSN_URI_STRLEN, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_LS] = {0, 0, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_RM] = {TSN_URI_STRLEN, TSN_URI_STRLEN, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_GC] = {0, 0, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_LEAVE] = {0, 0, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_STAT] = {0, 0, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_STATUS] = {0, 0, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_PEERS] = {0, 0, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_DATA] = {1, TSN_CTL_DATA_MAX, TSN_CTL_FROM_CLIENT | TSN_CTL_FROM_SERVER},
	[TSN_CTL_END] = {0, 0, TSN_CTL_FROM_CLIENT | TSN_CTL_FROM_SERVER},
	[TSN_CTL_OK] = {0, TSN_CTL_SMALL_MAX, TSN_CTL_FROM_SERVER},
	[TSN_CTL_ERR] = {4, 4 + TSN_CTL_TEXT_MAX, TSN_CTL_FROM_SERVER},
	[TSN_CTL_FILE] = {TSN_CTL_FILE_MIN, TSN_CTL_FILE_MIN + TSN_CTL_NAME_MAX,
	                  TSN_CTL_FROM_SERVER},
	[TSN_CTL_PEER] = {TSN_CTL_PEER_LEN, TSN_CTL_PEER_LEN, TSN_CTL_FROM_SERVER},
	[TSN_CTL_SEARCH] = {5, 4 + TSN_CTL_QUERY_MAX, TSN_CTL_FROM_CLIENT},
	[TSN_CTL_RESULT] = {TSN_URI_STRLEN + 1, TSN_URI_STRLEN + TSN_CTL_NAME_MAX, TSN_CTL_FROM_SERVER},
};

int
tsn_ctl_frame_check(uint8_t type, uint32_t plen, int from, const char **why)
{
	const char *w = NULL;

	if (type == 0 || type >= TSN_CTL_TYPE_END)
		w = "unknown frame type";
	else if (!(frame_table[type].from & from))
		w = "frame type not allowed in this direction";
	else if (plen < frame_table[type].min)
		w = "frame shorter than its type allows";
	else if (plen > frame_table[type].max)
		w = "frame longer than its type allows";
	if (w == NULL)
		return 0;
	if (why != NULL)
		*why = w;
	return -EBADMSG;
}

void
tsn_ctl_hello_encode(uint8_t out[TSN_CTL_HELLO_LEN], uint16_t version)
{
	memcpy(out, TSN_CTL_MAGIC, 4);
	tsn_put_be16(out + 4, version);
}

int
tsn_ctl_hello_decode(const uint8_t *p, size_t len)
{
	if (len < TSN_CTL_HELLO_LEN || memcmp(p, TSN_CTL_MAGIC, 4) != 0)
		return -EBADMSG;
	return tsn_get_be16(p + 4);
}

size_t
tsn_ctl_err_encode(uint8_t *out, size_t cap, int err, const char *text)
{
	size_t n = strlen(text);

	if (cap < 4)
		return 0;
	if (n > TSN_CTL_TEXT_MAX)
		n = TSN_CTL_TEXT_MAX;
	if (n > cap - 4)
		n = cap - 4;
	tsn_put_be32(out, (uint32_t)(err < 0 ? -err : err));
	memcpy(out + 4, text, n);
	return 4 + n;
}

int
tsn_ctl_err_decode(const uint8_t *p, size_t len, int *err, char *text, size_t textcap)
{
	uint32_t e;
	size_t n, i;

	if (len < 4 || len > 4 + TSN_CTL_TEXT_MAX || textcap == 0)
		return -EBADMSG;
	e = tsn_get_be32(p);
	if (e == 0 || e > 4095)
		return -EBADMSG;
	*err = -(int)e;
	n = len - 4;
	if (n > textcap - 1)
		n = textcap - 1;
	/* The text goes to a terminal: no control characters get through. */
	for (i = 0; i < n; i++)
		text[i] = p[4 + i] < 0x20 || p[4 + i] == 0x7f ? '?' : (char)p[4 + i];
	text[n] = '\0';
	return 0;
}

size_t
tsn_ctl_put_encode(uint8_t *out, size_t cap, unsigned flags, const char *name, const char *kw)
{
	size_t n = strlen(name), k = kw != NULL ? strlen(kw) : 0;

	if (n > TSN_CTL_NAME_MAX || k > TSN_CTL_KEYWORDS_MAX || cap < 2 + n + k)
		return 0;
	flags &= ~TSN_CTL_PUT_KEYWORDS;
	out[0] = (uint8_t)(flags | (k > 0 ? TSN_CTL_PUT_KEYWORDS : 0));
	out[1] = (uint8_t)n;
	memcpy(out + 2, name, n);
	if (k > 0)
		memcpy(out + 2 + n, kw, k);
	return 2 + n + k;
}

size_t
tsn_ctl_search_encode(uint8_t *out, size_t cap, uint32_t timeout_ms, const char *query)
{
	size_t n = strlen(query);

	if (n == 0 || n > TSN_CTL_QUERY_MAX || cap < 4 + n)
		return 0;
	tsn_put_be32(out, timeout_ms);
	memcpy(out + 4, query, n);
	return 4 + n;
}

int
tsn_ctl_search_decode(const uint8_t *p, size_t len, uint32_t *timeout_ms,
                      char query[TSN_CTL_QUERY_MAX + 1])
{
	if (len < 5 || len > 4 + TSN_CTL_QUERY_MAX || memchr(p + 4, '\0', len - 4) != NULL)
		return -EBADMSG;
	*timeout_ms = tsn_get_be32(p);
	memcpy(query, p + 4, len - 4);
	query[len - 4] = '\0';
	return 0;
}

size_t
tsn_ctl_result_encode(uint8_t *out, size_t cap, const struct tsn_uri *uri, const char *name)
{
	char text[TSN_URI_STRLEN + 1];
	size_t n = strlen(name);

	if (n == 0 || n > TSN_CTL_NAME_MAX || cap < TSN_URI_STRLEN + n)
		return 0;
	tsn_uri_format(uri, text);
	memcpy(out, text, TSN_URI_STRLEN);
	memcpy(out + TSN_URI_STRLEN, name, n);
	return TSN_URI_STRLEN + n;
}

int
tsn_ctl_result_decode(const uint8_t *p, size_t len, struct tsn_uri *uri,
                      char name[TSN_CTL_NAME_MAX + 1])
{
	size_t n;

	if (len <= TSN_URI_STRLEN || len > TSN_URI_STRLEN + TSN_CTL_NAME_MAX ||
	    tsn_ctl_uri_decode(p, TSN_URI_STRLEN, uri, NULL) != 0)
		return -EBADMSG;
	n = len - TSN_URI_STRLEN;
	if (memchr(p + TSN_URI_STRLEN, '\0', n) != NULL || memchr(p + TSN_URI_STRLEN, '/', n) != NULL)
		return -EBADMSG;
	memcpy(name, p + TSN_URI_STRLEN, n);
	name[n] = '\0';
	return 0;
}

int
tsn_ctl_put_decode(const uint8_t *p, size_t len, unsigned *flags,
                   char name[TSN_CTL_NAME_MAX + 1], char kw[TSN_CTL_KEYWORDS_MAX + 1])
{
	size_t n, k;

	if (len < 2)
		return -EBADMSG;
	n = p[1];
	if (len < 2 + n || (p[0] & ~(TSN_CTL_PUT_PRIVATE | TSN_CTL_PUT_KEYWORDS)) != 0)
		return -EBADMSG;
	k = len - 2 - n;
	if ((p[0] & TSN_CTL_PUT_KEYWORDS) ? (k == 0 || k > TSN_CTL_KEYWORDS_MAX) : k != 0)
		return -EBADMSG;
	if (memchr(p + 2, '\0', n) != NULL || memchr(p + 2, '/', n) != NULL ||
	    memchr(p + 2 + n, '\0', k) != NULL)
		return -EBADMSG;
	*flags = p[0];
	memcpy(name, p + 2, n);
	name[n] = '\0';
	memcpy(kw, p + 2 + n, k);
	kw[k] = '\0';
	return 0;
}

void
tsn_ctl_put_ok_encode(uint8_t out[TSN_CTL_PUT_OK_LEN], const struct tsn_ctl_put_result *r)
{
	char uri[TSN_URI_STRLEN + 1];

	tsn_uri_format(&r->uri, uri);
	memcpy(out, uri, TSN_URI_STRLEN);
	tsn_put_be32(out + TSN_URI_STRLEN, r->chunks);
	tsn_put_be32(out + TSN_URI_STRLEN + 4, r->short_);
	tsn_put_be16(out + TSN_URI_STRLEN + 8, r->min_replicas);
	tsn_put_be16(out + TSN_URI_STRLEN + 10, r->max_replicas);
	tsn_put_be16(out + TSN_URI_STRLEN + 12, r->wanted);
}

int
tsn_ctl_put_ok_decode(const uint8_t *p, size_t len, struct tsn_ctl_put_result *r)
{
	if (len != TSN_CTL_PUT_OK_LEN)
		return -EBADMSG;
	if (tsn_uri_parse((const char *)p, TSN_URI_STRLEN, &r->uri, NULL) != 0)
		return -EBADMSG;
	r->chunks = tsn_get_be32(p + TSN_URI_STRLEN);
	r->short_ = tsn_get_be32(p + TSN_URI_STRLEN + 4);
	r->min_replicas = tsn_get_be16(p + TSN_URI_STRLEN + 8);
	r->max_replicas = tsn_get_be16(p + TSN_URI_STRLEN + 10);
	r->wanted = tsn_get_be16(p + TSN_URI_STRLEN + 12);
	return 0;
}

int
tsn_ctl_uri_decode(const uint8_t *p, size_t len, struct tsn_uri *uri, const char **why)
{
	return tsn_uri_parse((const char *)p, len, uri, why);
}

void
tsn_ctl_stat_encode(uint8_t out[TSN_CTL_STAT_LEN], const struct tsn_ctl_stat *s)
{
	uint8_t *p = out;

	tsn_put_be64(p, s->st.quota), p += 8;
	tsn_put_be64(p, s->st.files), p += 8;
	for (int i = 0; i < 4; i++)
		tsn_put_be64(p, s->st.chunks[i]), p += 8;
	for (int i = 0; i < 4; i++)
		tsn_put_be64(p, s->st.bytes[i]), p += 8;
	tsn_put_be64(p, s->st.evicted), p += 8;
	tsn_put_be64(p, s->disk_free);
}

int
tsn_ctl_stat_decode(const uint8_t *p, size_t len, struct tsn_ctl_stat *s)
{
	if (len != TSN_CTL_STAT_LEN)
		return -EBADMSG;
	memset(s, 0, sizeof(*s));
	s->st.quota = tsn_get_be64(p), p += 8;
	s->st.files = tsn_get_be64(p), p += 8;
	for (int i = 0; i < 4; i++)
		s->st.chunks[i] = tsn_get_be64(p), p += 8;
	for (int i = 0; i < 4; i++)
		s->st.bytes[i] = tsn_get_be64(p), p += 8;
	s->st.evicted = tsn_get_be64(p), p += 8;
	s->disk_free = tsn_get_be64(p);
	return 0;
}

static void
addr_encode(uint8_t out[TSN_CTL_ADDR_LEN], const struct tsn_addr *a)
{
	out[0] = a->family;
	memcpy(out + 1, a->ip, 16);
	tsn_put_be16(out + 17, a->port);
}

static int
addr_decode(const uint8_t in[TSN_CTL_ADDR_LEN], struct tsn_addr *a)
{
	static const uint8_t zero[12];

	memset(a, 0, sizeof(*a));
	if (in[0] == TSN_ADDR_V4) {
		if (memcmp(in + 5, zero, 12) != 0)
			return -EBADMSG;
		tsn_addr_v4(a, in + 1, tsn_get_be16(in + 17));
	} else if (in[0] == TSN_ADDR_V6) {
		tsn_addr_v6(a, in + 1, tsn_get_be16(in + 17));
	} else if (in[0] != 0) {
		return -EBADMSG; /* 0: no address (not bound) */
	}
	return 0;
}

/* The u64 fields of STATUS after the replicas, in order (version 1). */
static void
status_u64s(struct tsn_ctl_status *s, uint64_t *v[TSN_CTL_STATUS_U64])
{
	v[0] = &s->peers, v[1] = &s->records, v[2] = &s->udp_in, v[3] = &s->udp_out;
	v[4] = &s->tcp_in, v[5] = &s->tcp_out, v[6] = &s->chunks_served;
	v[7] = &s->chunks_accepted, v[8] = &s->chunks_fetched, v[9] = &s->chunks_pushed;
	v[10] = &s->requests_pending, v[11] = &s->connections, v[12] = &s->dgram_in;
	v[13] = &s->dgram_out, v[14] = &s->malformed, v[15] = &s->bad_version;
	v[16] = &s->bad_type, v[17] = &s->rate_limited, v[18] = &s->unsolicited;
	v[19] = &s->timeouts;
}

/* ... and the repair figures version 2 appends after the store's. */
static void
status_repair_u64s(struct tsn_ctl_status *s, uint64_t *v[TSN_CTL_STATUS_REPAIR_U64])
{
	v[0] = &s->repair_passes, v[1] = &s->repair_checked, v[2] = &s->repair_under;
	v[3] = &s->repair_under_now, v[4] = &s->repair_copies, v[5] = &s->repair_handed;
	v[6] = &s->repair_expired, v[7] = &s->repair_failed, v[8] = &s->repair_bytes;
	v[9] = &s->records_restored, v[10] = &s->records_restore_failed;
}

size_t
tsn_ctl_status_encode(uint8_t out[TSN_CTL_STATUS_LEN], const struct tsn_ctl_status *s,
                      int version)
{
	struct tsn_ctl_status c = *s; /* the field tables point into a writable copy */
	uint64_t *v[TSN_CTL_STATUS_U64], *rv[TSN_CTL_STATUS_REPAIR_U64];
	uint8_t *p = out;

	status_u64s(&c, v);
	status_repair_u64s(&c, rv);
	memcpy(p, c.id, TSN_ID_LEN), p += TSN_ID_LEN;
	addr_encode(p, &c.addr), p += TSN_CTL_ADDR_LEN;
	tsn_put_be32(p, c.replicas), p += 4;
	for (int i = 0; i < TSN_CTL_STATUS_U64; i++)
		tsn_put_be64(p, *v[i]), p += 8;
	tsn_ctl_stat_encode(p, &c.store), p += TSN_CTL_STAT_LEN;
	if (version < 2)
		return TSN_CTL_STATUS_V1_LEN;
	for (int i = 0; i < TSN_CTL_STATUS_REPAIR_U64; i++)
		tsn_put_be64(p, *rv[i]), p += 8;
	return TSN_CTL_STATUS_LEN;
}

int
tsn_ctl_status_decode(const uint8_t *p, size_t len, struct tsn_ctl_status *s)
{
	uint64_t *v[TSN_CTL_STATUS_U64], *rv[TSN_CTL_STATUS_REPAIR_U64];

	if (len != TSN_CTL_STATUS_V1_LEN && len < TSN_CTL_STATUS_LEN)
		return -EBADMSG;
	memset(s, 0, sizeof(*s));
	status_u64s(s, v);
	status_repair_u64s(s, rv);
	s->version = len == TSN_CTL_STATUS_V1_LEN ? 1 : 2;
	memcpy(s->id, p, TSN_ID_LEN), p += TSN_ID_LEN;
	if (addr_decode(p, &s->addr) != 0)
		return -EBADMSG;
	p += TSN_CTL_ADDR_LEN;
	s->replicas = tsn_get_be32(p), p += 4;
	for (int i = 0; i < TSN_CTL_STATUS_U64; i++)
		*v[i] = tsn_get_be64(p), p += 8;
	if (tsn_ctl_stat_decode(p, TSN_CTL_STAT_LEN, &s->store) != 0)
		return -EBADMSG;
	p += TSN_CTL_STAT_LEN;
	if (s->version >= 2)
		for (int i = 0; i < TSN_CTL_STATUS_REPAIR_U64; i++)
			*rv[i] = tsn_get_be64(p), p += 8;
	return 0;
}

size_t
tsn_ctl_leave_ok_encode(uint8_t out[TSN_CTL_LEAVE_OK_LEN], const struct tsn_ctl_leave_result *r,
                        int version)
{
	tsn_put_be64(out, r->handed);
	tsn_put_be64(out + 8, r->short_);
	tsn_put_be64(out + 16, r->failed);
	if (version < 2)
		return TSN_CTL_LEAVE_OK_V1_LEN;
	tsn_put_be64(out + 24, r->records_handed);
	tsn_put_be64(out + 32, r->records_failed);
	return TSN_CTL_LEAVE_OK_LEN;
}

int
tsn_ctl_leave_ok_decode(const uint8_t *p, size_t len, struct tsn_ctl_leave_result *r)
{
	if (len != TSN_CTL_LEAVE_OK_V1_LEN && len < TSN_CTL_LEAVE_OK_LEN)
		return -EBADMSG;
	memset(r, 0, sizeof(*r));
	r->version = len == TSN_CTL_LEAVE_OK_V1_LEN ? 1 : 2;
	r->handed = tsn_get_be64(p);
	r->short_ = tsn_get_be64(p + 8);
	r->failed = tsn_get_be64(p + 16);
	if (r->version >= 2) {
		r->records_handed = tsn_get_be64(p + 24);
		r->records_failed = tsn_get_be64(p + 32);
	}
	return 0;
}

void
tsn_ctl_peer_encode(uint8_t out[TSN_CTL_PEER_LEN], const struct tsn_contact *c)
{
	memcpy(out, c->id, TSN_ID_LEN);
	addr_encode(out + TSN_ID_LEN, &c->addr);
}

int
tsn_ctl_peer_decode(const uint8_t *p, size_t len, struct tsn_contact *c)
{
	if (len != TSN_CTL_PEER_LEN)
		return -EBADMSG;
	memcpy(c->id, p, TSN_ID_LEN);
	return addr_decode(p + TSN_ID_LEN, &c->addr);
}

size_t
tsn_ctl_file_encode(uint8_t *out, size_t cap, const struct tsn_file_info *f)
{
	char uri[TSN_URI_STRLEN + 1];
	size_t n = strnlen(f->name, sizeof(f->name));

	if (n > TSN_CTL_NAME_MAX)
		n = TSN_CTL_NAME_MAX;
	if (cap < TSN_CTL_FILE_MIN + n)
		return 0;
	tsn_uri_format(&f->uri, uri);
	memcpy(out, uri, TSN_URI_STRLEN);
	tsn_put_be64(out + TSN_URI_STRLEN, f->mtime);
	out[TSN_URI_STRLEN + 8] = f->private_ ? 1 : 0;
	memcpy(out + TSN_CTL_FILE_MIN, f->name, n);
	return TSN_CTL_FILE_MIN + n;
}

int
tsn_ctl_file_decode(const uint8_t *p, size_t len, struct tsn_file_info *f)
{
	size_t n;

	if (len < TSN_CTL_FILE_MIN || len > TSN_CTL_FILE_MIN + TSN_CTL_NAME_MAX)
		return -EBADMSG;
	memset(f, 0, sizeof(*f));
	if (tsn_uri_parse((const char *)p, TSN_URI_STRLEN, &f->uri, NULL) != 0)
		return -EBADMSG;
	f->mtime = tsn_get_be64(p + TSN_URI_STRLEN);
	if (p[TSN_URI_STRLEN + 8] > 1)
		return -EBADMSG;
	f->private_ = p[TSN_URI_STRLEN + 8];
	n = len - TSN_CTL_FILE_MIN;
	if (memchr(p + TSN_CTL_FILE_MIN, '\0', n) != NULL)
		return -EBADMSG;
	memcpy(f->name, p + TSN_CTL_FILE_MIN, n);
	f->name[n] = '\0';
	return 0;
}
