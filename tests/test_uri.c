/* test_uri.c: URI format and strict parse. Vectors made with Python's hashlib/base64. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "uri.h"

/* size 123456789, id 00..1f, key 20..3f */
static const char vec1[] =
	"tsn:aeaaaaaaa5n42fiaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qccirdeqssmjzifevcwlbnfyxtamjsgm2dknrxha4tuoz4hu7d7n4clnea";
/* size 0, id and key zero */
static const char vec0[] =
	"tsn:aeaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabeffflhq";
/* good checksums, bad contents */
static const char ver2[] =
	"tsn:aiaaaaaaaaaaabiaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qccirdeqssmjzifevcwlbnfyxtamjsgm2dknrxha4tuoz4hu7d7h3vg4ha";
static const char ver0[] =
	"tsn:aaaaaaaaaaaaabiaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qccirdeqssmjzifevcwlbnfyxtamjsgm2dknrxha4tuoz4hu7d76vx2ebq";
static const char too_big[] = /* 2^50 + 1 */
	"tsn:aeaaiaaaaaaaaaiaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qccirdeqssmjzifevcwlbnfyxtamjsgm2dknrxha4tuoz4hu7d7cquqhpq";
static const char max_size[] = /* 2^50 */
	"tsn:aeaaiaaaaaaaaaaaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qccirdeqssmjzifevcwlbnfyxtamjsgm2dknrxha4tuoz4hu7d64zua22a";
static const char huge[] = /* 2^64 - 1 */
	"tsn:ah777777777777yaaebagbafaydqqcikbmga2dqpcaireeyuculbogazdinryhi6d4qccirdeqssmjzifevcwlbnfyxtamjsgm2dknrxha4tuoz4hu7d7qcx3dsa";

static void
refuse(const char *s, size_t len, const char *what)
{
	struct tsn_uri u;
	const char *why = NULL;

	memset(&u, 0xee, sizeof(u));
	if (tsn_uri_parse(s, len, &u, &why) != -EINVAL) {
		fprintf(stderr, "accepted a URI with %s\n", what);
		exit(1);
	}
	CHECK(why != NULL && why[0] != '\0');
	/* Untouched on failure. */
	for (size_t i = 0; i < sizeof(u); i++)
		CHECK_INT(((uint8_t *)&u)[i], ==, 0xee);
}

int
main(void)
{
	struct tsn_uri u, v;
	char s[TSN_URI_STRLEN + 1], t[TSN_URI_STRLEN + 8];
	const char *why;

	CHECK_U64(strlen(vec1), ==, TSN_URI_STRLEN);

	/* Format matches an independent implementation. */
	u.size = 123456789;
	for (int i = 0; i < 32; i++) {
		u.id[i] = (uint8_t)i;
		u.key[i] = (uint8_t)(32 + i);
	}
	tsn_uri_format(&u, s);
	CHECK_STR(s, vec1);
	memset(&v, 0, sizeof(v));
	tsn_uri_format(&v, s);
	CHECK_STR(s, vec0);

	/* Round trips. */
	CHECK_INT(tsn_uri_parse(vec1, strlen(vec1), &v, NULL), ==, 0);
	CHECK_MEM(&u, &v, sizeof(u));
	for (int k = 0; k < 200; k++) {
		u.size = (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(k + 1)) >> 14;
		if (k == 0)
			u.size = TSN_FILE_MAX;
		for (int i = 0; i < 32; i++) {
			u.id[i] = (uint8_t)(k * 7 + i * 13);
			u.key[i] = (uint8_t)(k * 11 + i * 3);
		}
		tsn_uri_format(&u, s);
		CHECK_U64(strlen(s), ==, TSN_URI_STRLEN);
		CHECK_INT(tsn_uri_parse(s, strlen(s), &v, NULL), ==, 0);
		CHECK_MEM(&u, &v, sizeof(u));
	}
	CHECK_INT(tsn_uri_parse(max_size, strlen(max_size), &v, NULL), ==, 0);
	CHECK_U64(v.size, ==, TSN_FILE_MAX);

	/* Refusals. */
	refuse("", 0, "no text");
	refuse(vec1, 4, "only the prefix");
	refuse(vec1, strlen(vec1) - 1, "one character missing");
	memcpy(t, vec1, sizeof(vec1));
	t[TSN_URI_STRLEN] = 'a';
	refuse(t, TSN_URI_STRLEN + 1, "one character more");
	t[TSN_URI_STRLEN] = '\n';
	refuse(t, TSN_URI_STRLEN + 1, "a trailing newline");
	memcpy(t, vec1, sizeof(vec1));
	t[0] = 'T';
	refuse(t, TSN_URI_STRLEN, "an upper-case prefix");
	memcpy(t, vec1, sizeof(vec1));
	t[3] = '/';
	refuse(t, TSN_URI_STRLEN, "a wrong prefix");
	memcpy(t, "TSN:", 4);
	refuse(t, TSN_URI_STRLEN, "TSN:");
	memcpy(t, "tsm:", 4);
	refuse(t, TSN_URI_STRLEN, "tsm:");
	memcpy(t, vec1, sizeof(vec1));
	t[10] = (char)(t[10] - 'a' + 'A');
	refuse(t, TSN_URI_STRLEN, "an upper-case letter");
	{
		static const char bad[] = {'0', '1', '8', '9', '=', ' ', '-', '_', '\0', '\xff', 'A'};
		for (size_t i = 0; i < sizeof(bad); i++) {
			for (size_t pos = 4; pos < TSN_URI_STRLEN; pos += 41) {
				memcpy(t, vec1, sizeof(vec1));
				t[pos] = bad[i];
				refuse(t, TSN_URI_STRLEN, "a character outside the alphabet");
			}
		}
	}
	/* Embedded NUL: the length is given, the NUL is just a bad character. */
	memcpy(t, vec1, sizeof(vec1));
	t[TSN_URI_STRLEN - 1] = '\0';
	refuse(t, TSN_URI_STRLEN, "an embedded NUL");
	/* The last character carries one data bit and 4 padding bits. */
	memcpy(t, vec1, sizeof(vec1));
	CHECK_INT(t[TSN_URI_STRLEN - 1], ==, 'a');
	for (const char *p = "bcdefghijklmnop"; *p != '\0'; p++) {
		t[TSN_URI_STRLEN - 1] = *p;
		refuse(t, TSN_URI_STRLEN, "nonzero padding bits");
	}
	t[TSN_URI_STRLEN - 1] = 'q'; /* the data bit flipped, padding zero */
	why = NULL;
	CHECK_INT(tsn_uri_parse(t, TSN_URI_STRLEN, &v, &why), ==, -EINVAL);
	CHECK(strstr(why, "checksum") != NULL);
	/* Every single-character change is caught. */
	for (size_t pos = 4; pos < TSN_URI_STRLEN - 1; pos++) {
		memcpy(t, vec1, sizeof(vec1));
		t[pos] = t[pos] == 'a' ? 'b' : 'a';
		refuse(t, TSN_URI_STRLEN, "a changed character");
	}
	why = NULL;
	CHECK_INT(tsn_uri_parse(ver2, strlen(ver2), &v, &why), ==, -EINVAL);
	CHECK(strstr(why, "version") != NULL);
	refuse(ver0, strlen(ver0), "version 0");
	why = NULL;
	CHECK_INT(tsn_uri_parse(too_big, strlen(too_big), &v, &why), ==, -EINVAL);
	CHECK(strstr(why, "size") != NULL);
	refuse(huge, strlen(huge), "size 2^64 - 1");
	return 0;
}
