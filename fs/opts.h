/*
 * opts.h: the command line of mount.tsn, in both forms:
 *
 *   mount.tsn [-f] [-d] [-o OPTIONS] MOUNTPOINT
 *   mount.tsn SOURCE MOUNTPOINT [-o OPTIONS] [-n] [-s] [-v]   (mount(8))
 *
 * OPTIONS is a comma-separated list, -o may be repeated. TSN's own options
 * (datadir=, port=, host=, bootstrap= (repeatable), quota=, replicas=,
 * timeout=, readahead=, repair_interval=, republish_interval=,
 * records_interval=, held_ttl=, leave_on_exit) are checked here; the FUSE and mount options libfuse knows
 * (allow_other, default_permissions, ro, nosuid, ...) are collected to be
 * passed on; fstab-only words (defaults, noauto, user, nofail, _netdev,
 * x-*, comment=) are dropped. Anything else is an error.
 */
#ifndef TSN_FS_OPTS_H
#define TSN_FS_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"

#define TSN_MOUNT_PATH_MAX 4096

struct tsn_mount_opts {
	const char *source;           /* borrowed from argv; "tsn" when absent */
	const char *mountpoint;       /* borrowed from argv */
	char datadir[TSN_MOUNT_PATH_MAX]; /* "" = the default */
	char host[64];                /* "" = 0.0.0.0 */
	long port;                    /* 0 = any free port */
	struct tsn_addr boot[TSN_NODE_BOOTSTRAP_MAX];
	size_t nboot;
	unsigned replicas;            /* 0 = the node's default */
	uint64_t quota;               /* 0 = the store's default */
	uint32_t timeout_ms;          /* network wait bound */
	int foreground, debug, help;
	char fuse_opts[TSN_MOUNT_PATH_MAX]; /* comma-separated, passed to libfuse */
	unsigned readahead_kb;        /* readahead=, when readahead_set (0: the kernel's) */
	int readahead_set;
	/* repair (0 = the node's defaults; docs/protocol.md "Replication and repair") */
	uint32_t repair_ms, republish_ms, records_ms;
	uint64_t held_ttl_ms;
	int leave_on_exit;            /* hand on chunks and records at unmount */
};

/*
 * Parse argv. Returns 0 (o filled; o->help set for --help), or -EINVAL with
 * err (errlen bytes) one line saying what is wrong.
 */
int tsn_mount_opts_parse(int argc, char **argv, struct tsn_mount_opts *o, char *err,
                         size_t errlen);
/* The --help text. */
const char *tsn_mount_usage(void);

#endif
