/*
 * sim_prompt.c: the interactive prompt of the `files` scenario, in the
 * spirit of the original TreeShareNet demo. Reads one command per line
 * (a terminal, or a pipe with --interactive); the network keeps its state
 * and its virtual clock between commands, so the same input after the same
 * seed prints the same output.
 *
 *   g N        fetch file N from a random live node: hops, virtual time;
 *              after a search with results, result N of that search
 *   l [N]      list 10 files from number N (default 1); g N means file N again
 *   s WORDS    search by title words from a random live node: results
 *              numbered, virtual latency, hops
 *   h          help
 *   q          quit (also end of input)
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

static const char help_text[] =
"commands:\n"
"  g N       fetch file N (from a random live node); prints hops and virtual time;\n"
"            after a search with results: result N of that search\n"
"  l [N]     list 10 files starting at number N (default 1); g N: file N again\n"
"  s WORDS   search by title words (all of them) from a random live node\n"
"  h         this help\n"
"  q         quit\n";

/* Parse a file number 1..count; 0 when absent or bad. */
static uint32_t
file_number(const char *arg, uint32_t count)
{
	char *end;
	unsigned long v;

	while (isspace((unsigned char)*arg))
		arg++;
	if (*arg == '\0')
		return 0;
	v = strtoul(arg, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0' || v == 0 || v > count)
		return 0;
	return (uint32_t)v;
}

static void
list(struct sim_files *f, const char *arg, FILE *out)
{
	uint32_t n = sim_files_count(f), from = file_number(arg, n);
	char line[160];

	if (from == 0)
		from = 1;
	for (uint32_t i = from - 1; i < n && i < from - 1 + 10; i++) {
		sim_files_describe(f, i, line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
}

int
sim_prompt(struct sim_files *f, FILE *in, FILE *out, bool tty)
{
	struct sim *s = sim_files_world(f);
	char line[512];
	int rc = 0;
	bool results = false;   /* g N: result N of the last search */

	fprintf(out, "files: %u; type h for help\n", sim_files_count(f));
	for (;;) {
		char *cmd, *arg;
		size_t len;

		if (tty) {
			fputs("tsn-sim> ", out);
			fflush(out);
		}
		if (fgets(line, sizeof(line), in) == NULL) {
			if (tty)
				fputs("\n", out);
			break;
		}
		len = strlen(line);
		if (len > 0 && line[len - 1] != '\n' && !feof(in)) {
			int ch;
			while ((ch = fgetc(in)) != EOF && ch != '\n')
				; /* drop the rest of an overlong line */
			fprintf(out, "line too long (max %zu characters)\n", sizeof(line) - 2);
			continue;
		}
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			line[--len] = '\0';
		cmd = line;
		while (isspace((unsigned char)*cmd))
			cmd++;
		if (*cmd == '\0')
			continue;
		arg = cmd + 1;
		if (*arg != '\0' && !isspace((unsigned char)*arg)) {
			fprintf(out, "unknown command '%s'; h for help\n", cmd);
			continue;
		}
		switch (*cmd) {
		case 'q':
			goto out;
		case 'h':
			fputs(help_text, out);
			break;
		case 'l':
			list(f, arg, out);
			results = false;
			break;
		case 's':
			if ((rc = sim_files_search(f, arg, out)) == -ENOMEM)
				goto out;
			rc = 0;
			results = sim_files_nresults(f) > 0;
			break;
		case 'g': {
			uint32_t count = results ? sim_files_nresults(f) : sim_files_count(f);
			uint32_t n = file_number(arg, count), from;
			if (n == 0) {
				fprintf(out, "g N: N is a %s number from 1 to %u\n",
				        results ? "search result" : "file", count);
				break;
			}
			if (results) {
				uint32_t file = sim_files_result(f, n - 1);
				fprintf(out, "result %u is file %u\n", n, file + 1);
				n = file + 1;
			}
			if ((from = sim_random_up(s, &s->rng_work)) == UINT32_MAX) {
				fprintf(out, "no live node left to fetch from\n");
				break;
			}
			if ((rc = sim_files_fetch_one(f, n - 1, from, out)) != 0)
				goto out;
			break;
		}
		default:
			fprintf(out, "unknown command '%s'; h for help\n", cmd);
			break;
		}
		fflush(out);
	}
out:
	return rc;
}
