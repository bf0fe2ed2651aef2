/*
 * tsn_admin.c: `tsn ls`, `tsn rm`, `tsn gc`, `tsn stat` (offline forms and
 * the output both forms share), `tsn status`, `tsn peers` (node only).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "tsn_cli.h"
#include "util.h"

static const char ls_help[] =
"usage: tsn ls\n"
"\n"
"List your files (those you put, pinned in the store), one per line:\n"
"URI, size in bytes and name, separated by tabs; private files end with a\n"
"fourth field 'private'.\n";
static const char rm_help[] =
"usage: tsn rm URI...\n"
"\n"
"Forget your files: their chunks are unpinned (a chunk another file of yours\n"
"uses stays pinned) and become cache, evicted when space is needed or by gc.\n";
static const char gc_help[] =
"usage: tsn gc\n"
"\n"
"Drop every chunk nothing references: cache, and chunks left by an\n"
"interrupted put. Prints how many chunks and bytes were dropped.\n";
static const char stat_help[] =
"usage: tsn stat\n"
"\n"
"Print the store's figures: files, chunks and bytes by role (pinned: your\n"
"files; held: kept for the network; cached; pending: written by a put that\n"
"has not finished), quota and free disk space.\n";
static const char status_help[] =
"usage: tsn status\n"
"\n"
"Print the figures of the node running on the data dir (tsnd): its id,\n"
"address, peers in its routing table, records held for the network, chunks\n"
"and bytes by role (pinned: yours; held: for the network; cached), replicas,\n"
"bytes in and out (UDP, TCP), chunk transfers, and repair: the chunks found\n"
"with fewer than r copies, the copies and bytes repair placed, the records\n"
"stored again. Needs a running node.\n";
static const char peers_help[] =
"usage: tsn peers\n"
"\n"
"List the contacts in the running node's routing table, one per line: node\n"
"id (hex) and address, tab-separated. Needs a running node.\n";

/* 1 if argv is exactly CMD --help (printed), 2 if it has other arguments
 * (usage printed), 0 if it has none. */
static int
no_args(int argc, char **argv, const char *help)
{
	if (argc == 1)
		return 0;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(help, stdout);
		return 1;
	}
	fputs(help, stderr);
	return 2;
}

void
cli_print_file(const struct tsn_file_info *f)
{
	char uri[TSN_URI_STRLEN + 1];

	tsn_uri_format(&f->uri, uri);
	printf("%s\t%llu\t%s%s\n", uri, (unsigned long long)f->uri.size, f->name,
	       f->private_ ? "\tprivate" : "");
}

static int
print_file(void *ud, const struct tsn_file_info *f)
{
	(void)ud;
	cli_print_file(f);
	return 0;
}

int
cmd_ls(struct cli *c, int argc, char **argv)
{
	int rc = no_args(argc, argv, ls_help);

	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (cli_attach(c, "ls", 0) != 0)
		return 1;
	if (c->ctl >= 0)
		return remote_ls(c);
	if ((rc = tsn_store_file_list(c->store, print_file, NULL)) != 0) {
		cli_err("ls", "cannot list the files of %s: %s", c->datadir, strerror(-rc));
		return 1;
	}
	return 0;
}

int
cmd_rm(struct cli *c, int argc, char **argv)
{
	int failed = 0, rc;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(rm_help, stdout);
		return 0;
	}
	if (argc < 2) {
		fputs(rm_help, stderr);
		return 2;
	}
	if (cli_attach(c, "rm", 0) != 0)
		return 1;
	if (c->ctl >= 0)
		return remote_rm(c, argv + 1, argc - 1);
	for (int i = 1; i < argc; i++) {
		struct tsn_uri uri;
		if (cli_parse_uri("rm", argv[i], &uri) != 0) {
			failed = 1;
			continue;
		}
		rc = tsn_store_file_remove(c->store, &uri);
		if (rc == -ENOENT) {
			cli_err("rm", "%.40s...: not one of your files (see `tsn ls`)", argv[i]);
			failed = 1;
		} else if (rc != 0) {
			cli_err("rm", "%.40s...: %s", argv[i], strerror(-rc));
			failed = 1;
		}
	}
	return failed;
}

int
cmd_gc(struct cli *c, int argc, char **argv)
{
	int rc = no_args(argc, argv, gc_help);
	uint64_t bytes = 0;
	char sz[32];
	long n;

	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (cli_attach(c, "gc", 0) != 0)
		return 1;
	if (c->ctl >= 0)
		return remote_gc(c);
	if ((n = tsn_store_gc(c->store, &bytes)) < 0) {
		cli_err("gc", "%s", strerror((int)-n));
		return 1;
	}
	tsn_fmt_size(bytes, sz, sizeof(sz));
	printf("dropped %ld chunks (%s)\n", n, sz);
	return 0;
}

void
cli_print_stat(const char *datadir, const struct tsn_store_stat *st, uint64_t disk_free)
{
	static const char *roles[] = {"pinned", "held", "cached", "pending"};
	uint64_t used = 0;
	char a[32], b[32];

	printf("datadir  %s\n", datadir);
	printf("files    %llu\n", (unsigned long long)st->files);
	for (int i = 0; i < 4; i++) {
		tsn_fmt_size(st->bytes[i], a, sizeof(a));
		printf("%-8s %llu chunks, %s\n", roles[i], (unsigned long long)st->chunks[i], a);
		used += st->bytes[i];
	}
	tsn_fmt_size(used, a, sizeof(a));
	tsn_fmt_size(st->quota, b, sizeof(b));
	printf("used     %s of quota %s\n", a, b);
	if (disk_free != UINT64_MAX) {
		tsn_fmt_size(disk_free, a, sizeof(a));
		printf("disk     %s free\n", a);
	}
}

int
cmd_stat(struct cli *c, int argc, char **argv)
{
	int rc = no_args(argc, argv, stat_help);
	struct tsn_store_stat st;
	struct statvfs vfs;

	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (cli_attach(c, "stat", 0) != 0)
		return 1;
	if (c->ctl >= 0)
		return remote_stat(c);
	tsn_store_stat(c->store, &st);
	cli_print_stat(c->datadir, &st,
	               statvfs(c->datadir, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize
	                                              : UINT64_MAX);
	return 0;
}

int
cmd_status(struct cli *c, int argc, char **argv)
{
	int rc = no_args(argc, argv, status_help);

	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (cli_attach(c, "status", 1) != 0)
		return 1;
	return remote_status(c);
}

static const char leave_help[] =
"usage: tsn leave\n"
"\n"
"Leave the network gracefully: the node running on the data dir hands every\n"
"chunk it holds for the network, and your own, to the nodes closest to them\n"
"(so each keeps r copies without this node), stores the DHT records it holds\n"
"(keyword entries and others) again at the nodes closest to their keys, then\n"
"stops (tsnd exits, a mount unmounts). Prints what was handed on; exit status\n"
"1 if some chunk could not be placed anywhere. Needs a running node.\n";

int
cmd_leave(struct cli *c, int argc, char **argv)
{
	int rc = no_args(argc, argv, leave_help);

	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (cli_attach(c, "leave", 1) != 0)
		return 1;
	return remote_leave(c);
}

int
cmd_peers(struct cli *c, int argc, char **argv)
{
	int rc = no_args(argc, argv, peers_help);

	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (cli_attach(c, "peers", 1) != 0)
		return 1;
	return remote_peers(c);
}
