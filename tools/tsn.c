/*
 * tsn.c: the `tsn` command line: global options, help, dispatch, and the
 * choice between the running node (control socket) and the data dir itself.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "tsn_cli.h"
#include "util.h"

static const char usage_text[] =
"usage: tsn [--datadir DIR] [--quota SIZE] [-v] COMMAND [ARGS]\n"
"\n"
"Puts files into a TSN data dir as encrypted, content-addressed chunks and\n"
"reads them back by URI. When a node (tsnd) runs on the data dir, every\n"
"command goes through its control socket (DIR/control.sock): put also\n"
"pushes the chunks into the network, get fetches what is not local.\n"
"Otherwise the commands work on the data dir directly (offline).\n"
"\n"
"Commands:\n"
"  put [--private] FILE...   store files; prints one URI per line on stdout\n"
"  get URI [-o OUT]          write the file a URI names to OUT (default stdout)\n"
"  cat URI                   write the file a URI names to stdout\n"
"  ls                        list your files: URI, size in bytes, name (tab-separated)\n"
"  rm URI...                 forget (unpin) your files; their chunks become cache\n"
"  gc                        drop chunks nothing references\n"
"  stat                      store figures: files, chunks and bytes by role, quota\n"
"  status                    the running node: id, address, peers, records, chunks,\n"
"                            bytes in and out, repair (chunks under r copies,\n"
"                            copies placed); needs a node (tsnd or mount.tsn)\n"
"  peers                     the running node's contacts: id and address\n"
"  leave                     hand what the running node holds to other nodes, then\n"
"                            stop it (tsnd exits, a mount unmounts)\n"
"  search [--timeout S] WORDS  files the network has under all these words:\n"
"                            name, size, URI (tab-separated; needs a node)\n"
"\n"
"Options:\n"
"  --datadir DIR   data dir (default $XDG_DATA_HOME/tsn, i.e. ~/.local/share/tsn)\n"
"  --quota SIZE    cap on stored chunk bytes, e.g. 500M, 20G (default 10G);\n"
"                  cached chunks are evicted least recently used first\n"
"                  (offline only: a running node has its own --quota)\n"
"  -v, --verbose   log lines of the store on stderr too (-vv: debug)\n"
"  -h, --help      this text; `tsn COMMAND --help` for one command\n"
"  --version       print the version\n"
"\n"
"Exit status: 0 on success, 1 on an error (one line on stderr says what and\n"
"why), 2 on bad usage.\n";

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
} commands[] = {
	{"put", cmd_put}, {"get", cmd_get}, {"cat", cmd_cat}, {"ls", cmd_ls},
	{"rm", cmd_rm},   {"gc", cmd_gc},   {"stat", cmd_stat}, {"status", cmd_status},
	{"peers", cmd_peers}, {"search", cmd_search}, {"leave", cmd_leave},
};

void
cli_err(const char *cmd, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tsn: %s: %s\n", cmd, line);
}

int
cli_parse_uri(const char *cmd, const char *arg, struct tsn_uri *out)
{
	const char *why = NULL;

	if (tsn_uri_parse(arg, strlen(arg), out, &why) != 0) {
		cli_err(cmd, "malformed URI '%.160s': %s", arg, why ? why : "invalid");
		return -EINVAL;
	}
	return 0;
}

int
cli_open_store(struct cli *c)
{
	struct tsn_store_opts opts = {.quota = c->quota};
	char err[512] = "";
	int rc;

	if ((rc = tsn_mkdir_parents(c->datadir)) != 0) {
		fprintf(stderr, "tsn: cannot create the parents of data dir %s: %s\n",
		        c->datadir, strerror(-rc));
		return rc;
	}
	rc = tsn_store_open(&c->store, c->datadir, &opts, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "tsn: %s\n", err[0] ? err : strerror(-rc));
		return rc;
	}
	return 0;
}

/* How long the client waits for the node to take or answer the hello. */
#define HELLO_TIMEOUT_MS 10000

int
cli_reconnect(struct cli *c, const char *cmd)
{
	char err[512];
	int fd;

	if (c->ctl >= 0)
		close(c->ctl);
	c->ctl = -1;
	if ((fd = tsn_ctl_connect(c->datadir, HELLO_TIMEOUT_MS, err, sizeof(err))) < 0) {
		cli_err(cmd, "cannot talk to the node on %s: %s", c->datadir, err);
		return fd;
	}
	c->ctl = fd;
	return 0;
}

int
cli_attach(struct cli *c, const char *cmd, int need_node)
{
	char err[512];
	int fd;

	fd = tsn_ctl_connect(c->datadir, HELLO_TIMEOUT_MS, err, sizeof(err));
	if (fd >= 0) {
		c->ctl = fd;
		return 0;
	}
	/* No socket, or a stale one: no node runs there. */
	if (fd == -ENOENT || fd == -ECONNREFUSED || fd == -ENOTDIR) {
		if (need_node) {
			cli_err(cmd, "no node runs on %s (start tsnd)", c->datadir);
			return -ENOTCONN;
		}
		return cli_open_store(c);
	}
	cli_err(cmd, "cannot talk to the node on %s: %s", c->datadir, err);
	return fd;
}

static int
resolve_datadir(struct cli *c)
{
	int rc;

	if (c->datadir != NULL)
		return 0;
	if ((rc = tsn_default_datadir(c->datadir_buf, sizeof(c->datadir_buf))) != 0) {
		fprintf(stderr, "tsn: %s\n", rc == -ENOENT
		        ? "neither XDG_DATA_HOME nor HOME is set: give --datadir DIR"
		        : "data dir path too long");
		return rc;
	}
	c->datadir = c->datadir_buf;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"datadir", required_argument, NULL, 'D'},
		{"quota", required_argument, NULL, 'Q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct cli c;
	int opt, verbose = 0, rc;

	memset(&c, 0, sizeof(c));
	c.ctl = -1;
	while ((opt = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'D':
			if (optarg[0] == '\0') {
				fprintf(stderr, "tsn: --datadir needs a path\n");
				return 2;
			}
			c.datadir = optarg;
			break;
		case 'Q':
			if (tsn_parse_size(optarg, &c.quota) != 0 || c.quota == 0) {
				fprintf(stderr, "tsn: --quota: '%s' is not a size (e.g. 500M, 20G)\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("tsn 0.1.0\n");
			return 0;
		default:
			fputs("Try 'tsn --help'.\n", stderr);
			return 2;
		}
	}
	/* The command's own error line says what failed; the library's log
	 * lines (the details) show with -v. */
	tsn_log_set_level(verbose == 0 ? -1 : TSN_LOG_WARN + verbose);
	c.verbose = verbose;
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		if (resolve_datadir(&c) != 0)
			return 1;
		/* Commands parse their own options with getopt from their name on. */
		optind++;
		rc = commands[i].fn(&c, argc - optind + 1, argv + optind - 1);
		tsn_store_close(c.store);
		if (c.ctl >= 0)
			close(c.ctl);
		return rc;
	}
	fprintf(stderr, "tsn: unknown command '%s'. Try 'tsn --help'.\n", argv[optind]);
	return 2;
}
