/*
 * tsn_search.c: `tsn search [--timeout SECONDS] WORDS...` through the
 * running node (SEARCH request, docs/control.md): one line per result,
 * "name<TAB>size<TAB>URI", printed as the results arrive.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "tsn_cli.h"
#include "util.h"

static const char search_help[] =
"usage: tsn search [--timeout SECONDS] WORD...\n"
"\n"
"Ask the network for the files shared under all the WORDs (a file's words\n"
"are those of its name, its extension, and any given at `tsn put\n"
"--keywords`). Prints one line per file as results arrive:\n"
"name<TAB>size in bytes<TAB>URI. Waits at most SECONDS (default 5), then\n"
"exits 0, also when nothing was found. Needs a node running on the data\n"
"dir (tsnd or mount.tsn).\n";

/* Replace control characters of an untrusted name before printing. */
static void
print_result(const struct tsn_uri *uri, const char *name)
{
	char text[TSN_URI_STRLEN + 1], clean[TSN_CTL_NAME_MAX + 1];
	size_t i;

	for (i = 0; name[i] != '\0' && i < TSN_CTL_NAME_MAX; i++)
		clean[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	clean[i] = '\0';
	tsn_uri_format(uri, text);
	printf("%s\t%llu\t%s\n", clean, (unsigned long long)uri->size, text);
	fflush(stdout);
}

static int
remote_search(struct cli *c, const char *query, uint32_t timeout_ms)
{
	uint8_t req[4 + TSN_CTL_QUERY_MAX], buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX], type = 0;
	char name[TSN_CTL_NAME_MAX + 1], text[TSN_CTL_TEXT_MAX + 1];
	struct tsn_uri uri;
	const char *why = NULL;
	size_t len = tsn_ctl_search_encode(req, sizeof(req), timeout_ms, query);
	int rc, err;
	long n;

	if (len == 0) {
		cli_err("search", "the query is empty or longer than %d bytes", TSN_CTL_QUERY_MAX);
		return 2;
	}
	if ((rc = tsn_ctl_send(c->ctl, TSN_CTL_SEARCH, req, len, 10000)) != 0) {
		cli_err("search", "cannot send to the node: %s", strerror(-rc));
		return 1;
	}
	for (;;) {
		/* The node answers END by the deadline; allow it some slack. */
		n = tsn_ctl_recv(c->ctl, TSN_CTL_FROM_SERVER, &type, buf, sizeof(buf),
		                 (int)timeout_ms + 10000, -1, &why);
		if (n < 0) {
			cli_err("search", "reading from the node: %s",
			        n == -EBADMSG ? (why ? why : "malformed") : strerror((int)-n));
			return 1;
		}
		if (type == TSN_CTL_END)
			return 0;
		if (type == TSN_CTL_ERR) {
			if (tsn_ctl_err_decode(buf, (size_t)n, &err, text, sizeof(text)) == 0)
				cli_err("search", "%s", text);
			return 1;
		}
		if (type != TSN_CTL_RESULT || tsn_ctl_result_decode(buf, (size_t)n, &uri, name) != 0) {
			cli_err("search", "unexpected answer from the node (frame type %u)", type);
			return 1;
		}
		print_result(&uri, name);
	}
}

int
cmd_search(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char query[TSN_CTL_QUERY_MAX + 1] = "";
	size_t qlen = 0;
	double secs = 5;
	char *end;
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			secs = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(secs > 0 && secs <= 120)) {
				cli_err("search", "--timeout: seconds between 0 and 120, not '%s'", optarg);
				return 2;
			}
			break;
		case 'h': fputs(search_help, stdout); return 0;
		default: fputs(search_help, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(search_help, stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		size_t l = strlen(argv[i]);
		if (qlen + l + 1 > TSN_CTL_QUERY_MAX) {
			cli_err("search", "the query is longer than %d bytes", TSN_CTL_QUERY_MAX);
			return 2;
		}
		if (qlen > 0)
			query[qlen++] = ' ';
		memcpy(query + qlen, argv[i], l);
		qlen += l;
		query[qlen] = '\0';
	}
	if (cli_attach(c, "search", 1) != 0)
		return 1;
	return remote_search(c, query, (uint32_t)(secs * 1000));
}
