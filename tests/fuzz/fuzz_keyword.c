/*
 * fuzz_keyword.c: keyword splitting and normalisation of arbitrary bytes
 * (names and search words come from users and peers), and opening of
 * arbitrary sealed entries. Checks that every word is within its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyword.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsn_keywords kw;
	struct tsn_kw_entry e;
	char w[TSN_KW_MAX_LEN + 1];

	tsn_keywords_from_name(&kw, (const char *)data, size);
	if (kw.n > TSN_KW_MAX)
		abort();
	for (size_t i = 0; i < kw.n; i++) {
		size_t n = strlen(kw.w[i]);
		if (n < TSN_KW_MIN || n > TSN_KW_MAX_LEN)
			abort();
		/* A word is its own normal form. */
		if (tsn_keyword_normalize(kw.w[i], n, w) != 0 || strcmp(w, kw.w[i]) != 0)
			abort();
	}
	if (tsn_keyword_normalize((const char *)data, size, w) == 0 && strlen(w) > TSN_KW_MAX_LEN)
		abort();
	if (tsn_kw_entry_open("terra", data, size, &e) == 0 &&
	    (e.name[0] == '\0' || strchr(e.name, '/') != NULL))
		abort();
	return 0;
}
