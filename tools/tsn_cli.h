/*
 * tsn_cli.h: what the files of the `tsn` command share. Internal to tools/.
 */
#ifndef TSN_CLI_H
#define TSN_CLI_H

#include <stdint.h>

#include "store.h"

struct cli {
	const char *datadir;     /* resolved data dir (borrowed from argv or datadir_buf) */
	char datadir_buf[4096];
	uint64_t quota;          /* 0 = the store's default */
	struct tsn_store *store; /* opened by cli_open_store */
};

/* Open the store of c->datadir (creating parents). Prints the reason and returns -errno on failure. */
int cli_open_store(struct cli *c);
/* One line "tsn: CMD: message" on stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a URI argument; prints the reason on failure. Returns 0 or -EINVAL. */
int cli_parse_uri(const char *cmd, const char *arg, struct tsn_uri *out);

int cmd_put(struct cli *c, int argc, char **argv);
int cmd_get(struct cli *c, int argc, char **argv);
int cmd_cat(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_rm(struct cli *c, int argc, char **argv);
int cmd_gc(struct cli *c, int argc, char **argv);
int cmd_stat(struct cli *c, int argc, char **argv);

#endif
