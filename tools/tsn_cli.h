/*
 * tsn_cli.h: what the files of the `tsn` command share. Internal to tools/.
 *
 * Each command parses its arguments, then calls cli_attach: when a node
 * runs on the data dir (its control socket answers), c->ctl is connected
 * and the command goes through tsn_remote.c; otherwise the command opens
 * the store itself and works offline.
 */
#ifndef TSN_CLI_H
#define TSN_CLI_H

#include <stdint.h>

#include "store.h"

struct cli {
	const char *datadir;     /* resolved data dir (borrowed from argv or datadir_buf) */
	char datadir_buf[4096];
	uint64_t quota;          /* 0 = the store's default (offline only) */
	int verbose;             /* -v count */
	struct tsn_store *store; /* opened by cli_open_store (offline) */
	int ctl;                 /* control socket of the node (online), else -1 */
};

/* Open the store of c->datadir (creating parents). Prints the reason and returns -errno on failure. */
int cli_open_store(struct cli *c);
/*
 * Connect to the node on c->datadir, or when none runs open the store
 * (need_node: fail with "CMD: no node runs on DIR (start tsnd)" instead).
 * Returns 0 (then c->ctl >= 0 or c->store set) or -errno after printing why.
 */
int cli_attach(struct cli *c, const char *cmd, int need_node);
/* Connect (again) to the node's control socket. Returns 0 or -errno after printing. */
int cli_reconnect(struct cli *c, const char *cmd);
/* One line "tsn: CMD: message" on stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a URI argument; prints the reason on failure. Returns 0 or -EINVAL. */
int cli_parse_uri(const char *cmd, const char *arg, struct tsn_uri *out);

/* Shared by the offline and online forms (tsn_get.c, tsn_admin.c, tsn_put.c). */
int cli_write_all(int fd, const uint8_t *p, size_t n);
/* A temp file next to out (tmp: its name, len bytes). Returns the fd or -errno. */
int cli_open_temp(const char *out, char *tmp, size_t len);
/* fsync and close fd (always closed), then rename tmp to out. Prints the
 * reason and returns -errno on failure (tmp is left for the caller to unlink). */
int cli_finish_temp(const char *cmd, int fd, const char *tmp, const char *out);
/* The line `tsn ls` prints for a file. */
void cli_print_file(const struct tsn_file_info *f);
/* What `tsn stat` prints; disk_free UINT64_MAX = unknown. */
void cli_print_stat(const char *datadir, const struct tsn_store_stat *st, uint64_t disk_free);
/* The name a put records for path ("stdin" for "-"). */
const char *cli_put_name(const char *path);

int cmd_put(struct cli *c, int argc, char **argv);
int cmd_get(struct cli *c, int argc, char **argv);
int cmd_cat(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_rm(struct cli *c, int argc, char **argv);
int cmd_gc(struct cli *c, int argc, char **argv);
int cmd_stat(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_leave(struct cli *c, int argc, char **argv);
int cmd_peers(struct cli *c, int argc, char **argv);
int cmd_search(struct cli *c, int argc, char **argv);

/* The online forms (tsn_remote.c), on c->ctl. Return the exit status. */
/* kw: extra keywords (NULL: none). */
int remote_put(struct cli *c, int private_, const char *kw, char **paths, int n);
int remote_get(struct cli *c, const char *cmd, const struct tsn_uri *uri, const char *out);
int remote_ls(struct cli *c);
int remote_rm(struct cli *c, char **uris, int n);
int remote_gc(struct cli *c);
int remote_stat(struct cli *c);
int remote_status(struct cli *c);
int remote_leave(struct cli *c);
int remote_peers(struct cli *c);

#endif
