/* test_util.c: hex and size parsing. */
#include <errno.h>

#include "check.h"
#include "util.h"

int
main(void)
{
	uint8_t b[3] = {0x00, 0xab, 0xff}, back[3];
	char hex[7];
	uint64_t v;

	tsn_hex(b, 3, hex);
	CHECK_STR(hex, "00abff");
	CHECK_INT(tsn_unhex("00ABff", 6, back, 3), ==, 0);
	CHECK_MEM(back, b, 3);
	CHECK_INT(tsn_unhex("00abf", 5, back, 3), ==, -EINVAL);
	CHECK_INT(tsn_unhex("00abfg", 6, back, 3), ==, -EINVAL);

	CHECK_INT(tsn_parse_size("0", &v), ==, 0); CHECK_U64(v, ==, 0);
	CHECK_INT(tsn_parse_size("1234", &v), ==, 0); CHECK_U64(v, ==, 1234);
	CHECK_INT(tsn_parse_size("10K", &v), ==, 0); CHECK_U64(v, ==, 10240);
	CHECK_INT(tsn_parse_size("3MiB", &v), ==, 0); CHECK_U64(v, ==, 3u << 20);
	CHECK_INT(tsn_parse_size("2g", &v), ==, 0); CHECK_U64(v, ==, UINT64_C(2) << 30);
	CHECK_INT(tsn_parse_size("1TB", &v), ==, 0); CHECK_U64(v, ==, UINT64_C(1) << 40);
	CHECK_INT(tsn_parse_size("", &v), ==, -EINVAL);
	CHECK_INT(tsn_parse_size("-1", &v), ==, -EINVAL);
	CHECK_INT(tsn_parse_size("1X", &v), ==, -EINVAL);
	CHECK_INT(tsn_parse_size("1KK", &v), ==, -EINVAL);
	CHECK_INT(tsn_parse_size("99999999999999999999", &v), ==, -EINVAL);
	CHECK_INT(tsn_parse_size("17179869184G", &v), ==, -EINVAL);
	return 0;
}
