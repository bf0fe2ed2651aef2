/* fuzz_uri.c: the URI parser; what it accepts formats back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsn_uri u;
	char s[TSN_URI_STRLEN + 1];
	const char *why = NULL;
	char *copy;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (tsn_uri_parse(copy, size, &u, &why) != 0) {
		if (why == NULL)
			abort();
		free(copy);
		return 0;
	}
	if (u.size > TSN_FILE_MAX)
		abort();
	tsn_uri_format(&u, s);
	if (size != TSN_URI_STRLEN || memcmp(s, copy, size) != 0)
		abort();
	free(copy);
	return 0;
}
