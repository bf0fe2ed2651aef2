/*
 * opts.c: mount.tsn's command line (opts.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "util.h"

static const char usage[] =
"usage: mount.tsn [-f] [-d] [-o OPTIONS] MOUNTPOINT\n"
"       mount.tsn SOURCE MOUNTPOINT [-o OPTIONS]      (as mount -t tsn calls it)\n"
"\n"
"Mounts TSN at MOUNTPOINT and runs a TSN node in the same process: your files\n"
"at the root (shared and published when closed), uri/<tsn-uri> to read any\n"
"file of the network, .tsn/status, .tsn/peers, .tsn/stats. Returns once the\n"
"mount is ready, then serves it in the background (unless -f). Unmount with\n"
"`fusermount3 -u MOUNTPOINT` or `umount MOUNTPOINT`; SIGTERM unmounts too.\n"
"\n"
"  -f                  stay in the foreground (logs on stderr)\n"
"  -d                  debug: log every FUSE request (implies -f)\n"
"  -h, --help          this text\n"
"  -o OPTIONS          comma-separated, -o may be repeated:\n"
"     datadir=DIR      data dir (default $XDG_DATA_HOME/tsn, i.e. ~/.local/share/tsn)\n"
"     port=N           UDP and TCP port of the node (default 0: any free port)\n"
"     host=ADDR        numeric address to bind (default 0.0.0.0); a loopback\n"
"                      address (127.0.0.1, ::1) also accepts loopback peers\n"
"     bootstrap=HOST:PORT  join through this peer (repeatable, at most 16);\n"
"                      without it the node joins the peers saved last time\n"
"     quota=SIZE       cap on stored chunk bytes, e.g. 500M, 20G (default 10G)\n"
"     replicas=R       nodes each chunk is placed at (1..20, default 5)\n"
"     timeout=SECONDS  bound of one network wait: a chunk nobody returns in\n"
"                      time fails the read with EIO (1..3600, default 30)\n"
"     readahead=KB     the mount's kernel read-ahead, set in sysfs at the first\n"
"                      open (needs root; 0..65536, default 1024; 0 keeps the\n"
"                      kernel's 128): larger reads, fewer requests\n"
"     repair_interval=SECONDS     scan of the chunks held for the network:\n"
"                      copies put back where missing (default 600)\n"
"     republish_interval=SECONDS  check of your own chunks at their holders\n"
"                      and republish of your keyword records,\n"
"                      restarting their lifetime (default 21600)\n"
"     records_interval=SECONDS    the DHT records held here stored again at\n"
"                      the nodes closest to them (default 3600)\n"
"     held_ttl=SECONDS chunks held for others that nobody republishes go after\n"
"                      this (default 604800: 7 days)\n"
"     leave_on_exit    at unmount, hand the chunks and records held here to the\n"
"                      next closest nodes first (as `tsn leave`)\n"
"     FUSE and mount options, passed on: allow_other, allow_root,\n"
"                      default_permissions (always on), auto_unmount, ro, rw,\n"
"                      nosuid, suid, nodev, dev, noexec, exec, noatime, atime,\n"
"                      relatime, sync, async, dirsync, fsname=, subtype=, max_read=\n"
"     ignored (fstab): defaults, auto, noauto, user, nouser, users, nofail,\n"
"                      _netdev, x-*, comment=\n"
"  -n, -s, -v          accepted and ignored (mount(8) passes them)\n"
"\n"
"Examples:\n"
"  mount.tsn /mnt/tsn\n"
"  mount.tsn -o datadir=/var/lib/tsn,port=4000,bootstrap=192.0.2.7:4000 /mnt/tsn\n"
"  mount -t tsn tsn /mnt/tsn -o datadir=/var/lib/tsn,allow_other\n"
"  /etc/fstab:  tsn /mnt/tsn tsn datadir=/var/lib/tsn,allow_other 0 0\n";

const char *
tsn_mount_usage(void)
{
	return usage;
}

static const char *const fuse_flags[] = {
	"allow_other", "allow_root", "default_permissions", "auto_unmount", "ro", "rw",
	"nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime", "atime", "relatime",
	"norelatime", "strictatime", "nostrictatime", "nodiratime", "diratime", "sync",
	"async", "dirsync", NULL,
};
static const char *const fuse_values[] = {"fsname=", "subtype=", "max_read=", NULL};
static const char *const ignored[] = {
	"defaults", "auto", "noauto", "user", "nouser", "users", "nofail", "_netdev", NULL,
};

static int
in(const char *const *list, const char *s, int prefix)
{
	for (; *list != NULL; list++)
		if (prefix ? strncmp(s, *list, strlen(*list)) == 0 : strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
fuse_add(struct tsn_mount_opts *o, const char *opt, char *err, size_t errlen)
{
	size_t have = strlen(o->fuse_opts), need = strlen(opt) + (have ? 1 : 0);

	if (have + need >= sizeof(o->fuse_opts)) {
		snprintf(err, errlen, "too many options");
		return -EINVAL;
	}
	if (have)
		o->fuse_opts[have++] = ',';
	memcpy(o->fuse_opts + have, opt, strlen(opt) + 1);
	return 0;
}

/* One option of a -o list (NUL-terminated). */
static int
one(struct tsn_mount_opts *o, const char *opt, char *err, size_t errlen)
{
	const char *eq = strchr(opt, '=');
	const char *v = eq ? eq + 1 : NULL;
	unsigned char ip[16];
	long n;

	if (opt[0] == '\0')
		return 0;
#define IS(name) (eq != NULL && (size_t)(eq - opt) == strlen(name) && strncmp(opt, name, strlen(name)) == 0)
	if (IS("datadir")) {
		if (v[0] == '\0' || strlen(v) >= sizeof(o->datadir))
			goto bad;
		snprintf(o->datadir, sizeof(o->datadir), "%s", v);
	} else if (IS("port")) {
		if (tsn_parse_long(v, 0, 65535, &o->port) != 0)
			goto bad;
	} else if (IS("host")) {
		if (strlen(v) >= sizeof(o->host) ||
		    (inet_pton(AF_INET, v, ip) != 1 && inet_pton(AF_INET6, v, ip) != 1))
			goto bad;
		snprintf(o->host, sizeof(o->host), "%s", v);
	} else if (IS("bootstrap")) {
		if (o->nboot == TSN_NODE_BOOTSTRAP_MAX) {
			snprintf(err, errlen, "bootstrap: more than %d peers", TSN_NODE_BOOTSTRAP_MAX);
			return -EINVAL;
		}
		if (tsn_addr_parse(v, strlen(v), &o->boot[o->nboot]) != 0 ||
		    o->boot[o->nboot].port == 0)
			goto bad;
		o->nboot++;
	} else if (IS("quota")) {
		if (tsn_parse_size(v, &o->quota) != 0 || o->quota == 0)
			goto bad;
	} else if (IS("replicas")) {
		if (tsn_parse_long(v, 1, 20, &n) != 0)
			goto bad;
		o->replicas = (unsigned)n;
	} else if (IS("timeout")) {
		if (tsn_parse_long(v, 1, 3600, &n) != 0)
			goto bad;
		o->timeout_ms = (uint32_t)n * 1000;
	} else if (IS("readahead")) {
		if (tsn_parse_long(v, 0, 65536, &n) != 0)
			goto bad;
		o->readahead_kb = (unsigned)n;
		o->readahead_set = 1;
	} else if (IS("repair_interval") || IS("republish_interval") || IS("records_interval")) {
		if (tsn_parse_long(v, 1, 30 * 86400, &n) != 0)
			goto bad;
		*(IS("repair_interval") ? &o->repair_ms : IS("republish_interval") ?
		  &o->republish_ms : &o->records_ms) = (uint32_t)n * 1000;
	} else if (IS("held_ttl")) {
		if (tsn_parse_long(v, 1, 3650L * 86400, &n) != 0)
			goto bad;
		o->held_ttl_ms = (uint64_t)n * 1000;
	} else if (strcmp(opt, "leave_on_exit") == 0) {
		o->leave_on_exit = 1;
	} else if (strcmp(opt, "debug") == 0) {
		o->debug = o->foreground = 1;
	} else if (in(ignored, opt, 0) || strncmp(opt, "x-", 2) == 0 ||
	           strncmp(opt, "comment=", 8) == 0) {
		return 0;
	} else if (in(fuse_flags, opt, 0) || (eq != NULL && in(fuse_values, opt, 1) && v[0])) {
		if (strncmp(opt, "max_read=", 9) == 0 && tsn_parse_long(v, 4096, 1 << 20, &n) != 0)
			goto bad;
		if ((strncmp(opt, "fsname=", 7) == 0 || strncmp(opt, "subtype=", 8) == 0) &&
		    strpbrk(v, ", \t\n") != NULL)
			goto bad;
		return fuse_add(o, opt, err, errlen);
	} else {
		snprintf(err, errlen, "unknown option '%s'", opt);
		return -EINVAL;
	}
#undef IS
	return 0;
bad:
	if (eq == NULL)
		snprintf(err, errlen, "option '%s' needs a value", opt);
	else
		snprintf(err, errlen, "%.*s: bad value '%s'", (int)(eq - opt), opt, v);
	return -EINVAL;
}

static int
list(struct tsn_mount_opts *o, const char *arg, char *err, size_t errlen)
{
	char buf[TSN_MOUNT_PATH_MAX], *p, *save = NULL;
	int rc;

	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "option list too long");
		return -EINVAL;
	}
	memcpy(buf, arg, strlen(arg) + 1);
	for (p = strtok_r(buf, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
		if ((rc = one(o, p, err, errlen)) < 0)
			return rc;
	return 0;
}

int
tsn_mount_opts_parse(int argc, char **argv, struct tsn_mount_opts *o, char *err, size_t errlen)
{
	const char *pos[2];
	int npos = 0, rc;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = 30000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = 1;
			return 0;
		} else if (strcmp(a, "-o") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "-o needs a list of options");
				return -EINVAL;
			}
			if ((rc = list(o, argv[++i], err, errlen)) < 0)
				return rc;
		} else if (strncmp(a, "-o", 2) == 0) {
			if ((rc = list(o, a + 2, err, errlen)) < 0)
				return rc;
		} else if (strcmp(a, "-f") == 0) {
			o->foreground = 1;
		} else if (strcmp(a, "-d") == 0) {
			o->debug = o->foreground = 1;
		} else if (strcmp(a, "-n") == 0 || strcmp(a, "-s") == 0 || strcmp(a, "-v") == 0) {
			continue;
		} else if (a[0] == '-' && a[1] != '\0') {
			snprintf(err, errlen, "unknown flag '%s'", a);
			return -EINVAL;
		} else if (npos == 2) {
			snprintf(err, errlen, "unexpected argument '%s'", a);
			return -EINVAL;
		} else
			pos[npos++] = a;
	}
	if (npos == 0) {
		snprintf(err, errlen, "no mount point given");
		return -EINVAL;
	}
	o->source = npos == 2 ? pos[0] : "tsn";
	o->mountpoint = pos[npos - 1];
	if (strpbrk(o->source, ", \t\n") != NULL) {
		snprintf(err, errlen, "bad source '%s'", o->source);
		return -EINVAL;
	}
	return 0;
}

