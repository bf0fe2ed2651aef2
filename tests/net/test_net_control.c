/*
 * test_net_control.c: the control protocol's payload codecs (control.h,
 * net/control_codec.c) where versions meet: STATUS and the LEAVE answer in
 * the layouts of versions 1 and 2, decoded by this version's client; longer
 * answers (a later version's) decode, shorter or in-between ones do not.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "control.h"
#include "util.h"

static void
fill_status(struct tsn_ctl_status *s)
{
	static const uint8_t ip[4] = {127, 0, 0, 1};
	uint64_t *first = &s->peers;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < TSN_ID_LEN; i++)
		s->id[i] = (uint8_t)(i * 7 + 1);
	tsn_addr_v4(&s->addr, ip, 4000);
	s->replicas = 5;
	/* distinct values, so a field read from another's place shows */
	for (int i = 0; i < TSN_CTL_STATUS_U64; i++)
		first[i] = UINT64_C(0x0101010101) * (uint64_t)(i + 1);
	s->store.st.quota = 10ull << 30;
	s->store.st.files = 3;
	for (int i = 0; i < 4; i++) {
		s->store.st.chunks[i] = (uint64_t)(100 + i);
		s->store.st.bytes[i] = (uint64_t)(1000000 + i);
	}
	s->store.st.evicted = 9;
	s->store.disk_free = UINT64_MAX;
	s->repair_passes = 11;
	s->repair_checked = 12;
	s->repair_under = 13;
	s->repair_under_now = 14;
	s->repair_copies = 15;
	s->repair_handed = 16;
	s->repair_expired = 17;
	s->repair_failed = 18;
	s->repair_bytes = UINT64_C(0x123456789abcdef0);
	s->records_restored = 20;
	s->records_restore_failed = 21;
}

static void
check_base(const struct tsn_ctl_status *a, const struct tsn_ctl_status *b)
{
	const uint64_t *x = &a->peers, *y = &b->peers;

	CHECK_MEM(a->id, b->id, TSN_ID_LEN);
	CHECK(tsn_addr_eq(&a->addr, &b->addr));
	CHECK_U64(a->replicas, ==, b->replicas);
	for (int i = 0; i < TSN_CTL_STATUS_U64; i++)
		CHECK_U64(x[i], ==, y[i]);
	CHECK_U64(a->store.st.quota, ==, b->store.st.quota);
	CHECK_U64(a->store.st.files, ==, b->store.st.files);
	for (int i = 0; i < 4; i++) {
		CHECK_U64(a->store.st.chunks[i], ==, b->store.st.chunks[i]);
		CHECK_U64(a->store.st.bytes[i], ==, b->store.st.bytes[i]);
	}
	CHECK_U64(a->store.st.evicted, ==, b->store.st.evicted);
	CHECK_U64(a->store.disk_free, ==, b->store.disk_free);
}

static void
check_repair(const struct tsn_ctl_status *a, const struct tsn_ctl_status *b)
{
	CHECK_U64(a->repair_passes, ==, b->repair_passes);
	CHECK_U64(a->repair_checked, ==, b->repair_checked);
	CHECK_U64(a->repair_under, ==, b->repair_under);
	CHECK_U64(a->repair_under_now, ==, b->repair_under_now);
	CHECK_U64(a->repair_copies, ==, b->repair_copies);
	CHECK_U64(a->repair_handed, ==, b->repair_handed);
	CHECK_U64(a->repair_expired, ==, b->repair_expired);
	CHECK_U64(a->repair_failed, ==, b->repair_failed);
	CHECK_U64(a->repair_bytes, ==, b->repair_bytes);
	CHECK_U64(a->records_restored, ==, b->records_restored);
	CHECK_U64(a->records_restore_failed, ==, b->records_restore_failed);
}

static void
test_status(void)
{
	uint8_t buf[TSN_CTL_STATUS_LEN + 64], again[TSN_CTL_STATUS_LEN];
	struct tsn_ctl_status s, d;
	size_t n;

	/* the layouts' sizes are part of the protocol (docs/control.md) */
	CHECK_INT(TSN_CTL_STATUS_V1_LEN, ==, 311);
	CHECK_INT(TSN_CTL_STATUS_LEN, ==, 399);
	CHECK_INT(tsn_ctl_frame_check(TSN_CTL_OK, TSN_CTL_STATUS_LEN, TSN_CTL_FROM_SERVER, NULL),
	          ==, 0);
	fill_status(&s);

	/* version 2: everything round-trips, byte for byte */
	n = tsn_ctl_status_encode(buf, &s, 2);
	CHECK_U64(n, ==, TSN_CTL_STATUS_LEN);
	CHECK_INT(tsn_ctl_status_decode(buf, n, &d), ==, 0);
	CHECK_INT(d.version, ==, 2);
	check_base(&s, &d);
	check_repair(&s, &d);
	CHECK_U64(tsn_ctl_status_encode(again, &d, 2), ==, n);
	CHECK_MEM(again, buf, n);
	/* the repair figures at their documented offsets, after the store's */
	CHECK_U64(tsn_get_be64(buf + TSN_CTL_STATUS_V1_LEN), ==, 11);
	CHECK_U64(tsn_get_be64(buf + TSN_CTL_STATUS_V1_LEN + 8 * 8), ==, s.repair_bytes);
	CHECK_U64(tsn_get_be64(buf + TSN_CTL_STATUS_LEN - 8), ==, 21);

	/* version 1 (an old node, or the answer to an old client): the first
	 * 311 bytes, the same; no repair figures */
	n = tsn_ctl_status_encode(again, &s, 1);
	CHECK_U64(n, ==, TSN_CTL_STATUS_V1_LEN);
	CHECK_MEM(again, buf, n);
	CHECK_INT(tsn_ctl_status_decode(again, n, &d), ==, 0);
	CHECK_INT(d.version, ==, 1);
	check_base(&s, &d);
	CHECK_U64(d.repair_bytes, ==, 0);
	CHECK_U64(d.repair_under_now, ==, 0);

	/* a later version appends: what is known decodes, the rest is ignored */
	n = tsn_ctl_status_encode(buf, &s, 2);
	memset(buf + n, 0xab, 64);
	CHECK_INT(tsn_ctl_status_decode(buf, n + 64, &d), ==, 0);
	CHECK_INT(d.version, ==, 2);
	check_base(&s, &d);
	check_repair(&s, &d);
	CHECK_INT(tsn_ctl_status_decode(buf, n + 1, &d), ==, 0);

	/* too short, or between the layouts: refused */
	CHECK_INT(tsn_ctl_status_decode(buf, 0, &d), ==, -EBADMSG);
	CHECK_INT(tsn_ctl_status_decode(buf, TSN_CTL_STATUS_V1_LEN - 1, &d), ==, -EBADMSG);
	CHECK_INT(tsn_ctl_status_decode(buf, TSN_CTL_STATUS_V1_LEN + 1, &d), ==, -EBADMSG);
	CHECK_INT(tsn_ctl_status_decode(buf, TSN_CTL_STATUS_LEN - 1, &d), ==, -EBADMSG);
	/* a bad address family is malformed in any version */
	buf[TSN_ID_LEN] = 9;
	CHECK_INT(tsn_ctl_status_decode(buf, TSN_CTL_STATUS_LEN, &d), ==, -EBADMSG);
}

static void
test_leave(void)
{
	struct tsn_ctl_leave_result r = {.handed = 7, .short_ = 2, .failed = 1,
	                                 .records_handed = 40, .records_failed = 3};
	struct tsn_ctl_leave_result d;
	uint8_t buf[TSN_CTL_LEAVE_OK_LEN + 16];
	size_t n;

	n = tsn_ctl_leave_ok_encode(buf, &r, 2);
	CHECK_U64(n, ==, 40);
	CHECK_INT(tsn_ctl_leave_ok_decode(buf, n, &d), ==, 0);
	CHECK_INT(d.version, ==, 2);
	CHECK_U64(d.handed, ==, 7);
	CHECK_U64(d.short_, ==, 2);
	CHECK_U64(d.failed, ==, 1);
	CHECK_U64(d.records_handed, ==, 40);
	CHECK_U64(d.records_failed, ==, 3);
	memset(buf + n, 0, 16);
	CHECK_INT(tsn_ctl_leave_ok_decode(buf, n + 16, &d), ==, 0);
	CHECK_U64(d.records_handed, ==, 40);

	n = tsn_ctl_leave_ok_encode(buf, &r, 1);
	CHECK_U64(n, ==, 24);
	CHECK_INT(tsn_ctl_leave_ok_decode(buf, n, &d), ==, 0);
	CHECK_INT(d.version, ==, 1);
	CHECK_U64(d.handed, ==, 7);
	CHECK_U64(d.failed, ==, 1);
	CHECK_U64(d.records_handed, ==, 0);

	CHECK_INT(tsn_ctl_leave_ok_decode(buf, 23, &d), ==, -EBADMSG);
	CHECK_INT(tsn_ctl_leave_ok_decode(buf, 25, &d), ==, -EBADMSG);
	CHECK_INT(tsn_ctl_leave_ok_decode(buf, 39, &d), ==, -EBADMSG);
}

static void
test_hello(void)
{
	uint8_t buf[TSN_CTL_HELLO_LEN + 4];

	CHECK_INT(TSN_CTL_VERSION, ==, 2);
	tsn_ctl_hello_encode(buf, TSN_CTL_VERSION);
	CHECK_INT(tsn_ctl_hello_decode(buf, TSN_CTL_HELLO_LEN), ==, TSN_CTL_VERSION);
	tsn_ctl_hello_encode(buf, 1);
	memset(buf + TSN_CTL_HELLO_LEN, 0, 4); /* later versions may append */
	CHECK_INT(tsn_ctl_hello_decode(buf, sizeof(buf)), ==, 1);
	CHECK_INT(tsn_ctl_hello_decode(buf, TSN_CTL_HELLO_LEN - 1), ==, -EBADMSG);
}

int
main(void)
{
	test_hello();
	test_status();
	test_leave();
	printf("ok: control codecs, versions 1 and 2\n");
	return 0;
}
