/*
 * tsnd.c: a TSN node in the foreground: opens the data dir's store, starts
 * the node (net/node.h) and the control socket (net/control.h), prints one
 * line saying where it listens, and runs until SIGINT or SIGTERM, which it
 * takes with sigwait in the main thread (blocked in every other thread),
 * then stops the control socket, the node and the store, in that order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control.h"
#include "publish.h"
#include "node.h"
#include "util.h"

static const char usage_text[] =
"usage: tsnd --port N [--datadir DIR] [--host ADDR] [--bootstrap HOST:PORT[,HOST:PORT...]]\n"
"            [--replicas R] [--quota SIZE] [--timeout SECONDS] [-v] [-q]\n"
"            [--repair-interval S] [--republish-interval S] [--held-ttl S]\n"
"            [--records-interval S] [--leave-on-exit]\n"
"\n"
"Runs a TSN node in the foreground: the DHT and chunk transfers on UDP and\n"
"TCP port N of ADDR, and the control socket DIR/control.sock through which\n"
"`tsn --datadir DIR COMMAND` works while the node runs. Prints\n"
"\"tsnd: listening on HOST:PORT, node id HEX\" on stdout once ready; logs go to\n"
"stderr. SIGINT or SIGTERM stops it cleanly (exit 0).\n"
"\n"
"  --datadir DIR       data dir (default $XDG_DATA_HOME/tsn, i.e. ~/.local/share/tsn)\n"
"  --port N            UDP and TCP port; 0 picks a free one (printed)\n"
"  --host ADDR         numeric address to bind (default 0.0.0.0); a loopback\n"
"                      address (127.0.0.1, ::1) also accepts loopback peers\n"
"  --bootstrap LIST    join through these peers (numeric HOST:PORT, comma-\n"
"                      separated, at most 16); without it the node joins\n"
"                      through the peers it saved last time, or stays alone\n"
"  --replicas R        nodes each chunk is placed at (default 5, 1..20)\n"
"  --quota SIZE        cap on stored chunk bytes, e.g. 500M, 20G (default 10G)\n"
"  --timeout SECONDS   deadline of one network request (default 30)\n"
"  --repair-interval S scan of the chunks held for the network (default 600)\n"
"  --republish-interval S  check of your own (pinned) chunks at their holders and\n"
"                      republish of your keyword records (default 21600)\n"
"  --held-ttl S        held chunks nobody republished go after this (default 7 days)\n"
"  --records-interval S  store the DHT records held here again at the nodes\n"
"                      closest to their keys (default 3600)\n"
"  --leave-on-exit     on SIGINT/SIGTERM, hand the chunks and records held here\n"
"                      to the next closest nodes before stopping (as `tsn leave`)\n"
"  -v, --verbose       log more (-v: info, -vv: debug); default: warnings\n"
"  -q, --quiet         log errors only\n"
"  -h, --help          this text\n";

struct opts {
	const char *datadir;
	char datadir_buf[4096];
	const char *host;
	long port;
	struct tsn_addr boot[TSN_NODE_BOOTSTRAP_MAX];
	size_t nboot;
	unsigned replicas;
	uint64_t quota;
	uint32_t timeout_ms;
	uint32_t repair_ms, republish_ms, records_ms;
	uint64_t held_ttl_ms;
	int leave_on_exit;
	int level;
};

static int
usage_error(const char *fmt, const char *arg)
{
	fputs("tsnd: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see tsnd --help)\n", stderr);
	return 2;
}

static int
parse_bootstrap(struct opts *o, const char *arg)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (o->nboot == TSN_NODE_BOOTSTRAP_MAX)
			return usage_error("--bootstrap: more than 16 peers in '%s'", arg);
		if (len == 0 || tsn_addr_parse(p, len, &o->boot[o->nboot]) != 0 ||
		    o->boot[o->nboot].port == 0)
			return usage_error("--bootstrap: '%s' is not a list of numeric HOST:PORT "
			                   "(e.g. 192.0.2.7:4000,[2001:db8::1]:4000)", arg);
		o->nboot++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

static int
default_datadir(struct opts *o)
{
	int rc = tsn_default_datadir(o->datadir_buf, sizeof(o->datadir_buf));

	if (rc == -ENOENT)
		return usage_error("%sneither XDG_DATA_HOME nor HOME is set: give --datadir DIR", "");
	if (rc != 0)
		return usage_error("%sdata dir path too long", "");
	o->datadir = o->datadir_buf;
	return 0;
}

/* Returns -1 to go on, or the exit status. */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"datadir", required_argument, NULL, 'D'},
		{"port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, 'H'},
		{"bootstrap", required_argument, NULL, 'b'},
		{"replicas", required_argument, NULL, 'r'},
		{"quota", required_argument, NULL, 'Q'},
		{"timeout", required_argument, NULL, 't'},
		{"repair-interval", required_argument, NULL, 'R'},
		{"republish-interval", required_argument, NULL, 'P'},
		{"held-ttl", required_argument, NULL, 'T'},
		{"records-interval", required_argument, NULL, 'E'},
		{"leave-on-exit", no_argument, NULL, 'L'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned char ip[16];
	long v;
	int opt, rc;

	o->port = -1;
	o->level = TSN_LOG_WARN;
	opterr = 0; /* one line of our own instead of getopt's two */
	while ((opt = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'D':
			if (optarg[0] == '\0')
				return usage_error("--datadir needs a path%s", "");
			o->datadir = optarg;
			break;
		case 'p':
			if (tsn_parse_long(optarg, 0, 65535, &o->port) != 0)
				return usage_error("--port: '%s' is not a port (0..65535)", optarg);
			break;
		case 'H':
			if (inet_pton(AF_INET, optarg, ip) != 1 && inet_pton(AF_INET6, optarg, ip) != 1)
				return usage_error("--host: '%s' is not a numeric IPv4 or IPv6 address",
				                   optarg);
			o->host = optarg;
			break;
		case 'b':
			if ((rc = parse_bootstrap(o, optarg)) != 0)
				return rc;
			break;
		case 'r':
			if (tsn_parse_long(optarg, 1, 20, &v) != 0)
				return usage_error("--replicas: '%s' is not a number from 1 to 20", optarg);
			o->replicas = (unsigned)v;
			break;
		case 'Q':
			if (tsn_parse_size(optarg, &o->quota) != 0 || o->quota == 0)
				return usage_error("--quota: '%s' is not a size (e.g. 500M, 20G)", optarg);
			break;
		case 't':
			if (tsn_parse_long(optarg, 1, 3600, &v) != 0)
				return usage_error("--timeout: '%s' is not a number of seconds (1..3600)",
				                   optarg);
			o->timeout_ms = (uint32_t)v * 1000;
			break;
		case 'R':
		case 'P':
		case 'E':
			if (tsn_parse_long(optarg, 1, 30 * 86400, &v) != 0)
				return usage_error("--repair-interval, --republish-interval, "
				                   "--records-interval: '%s' is not a number of seconds "
				                   "(1..2592000)", optarg);
			*(opt == 'R' ? &o->repair_ms : opt == 'P' ? &o->republish_ms : &o->records_ms) =
				(uint32_t)v * 1000;
			break;
		case 'T':
			if (tsn_parse_long(optarg, 1, 3650L * 86400, &v) != 0)
				return usage_error("--held-ttl: '%s' is not a number of seconds", optarg);
			o->held_ttl_ms = (uint64_t)v * 1000;
			break;
		case 'L':
			o->leave_on_exit = 1;
			break;
		case 'v':
			o->level = o->level < TSN_LOG_WARN ? TSN_LOG_WARN : o->level + 1;
			break;
		case 'q':
			o->level = TSN_LOG_ERROR;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("unknown option or missing argument: '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->port < 0)
		return usage_error("%s--port N is required (0 picks a free port)", "");
	if (o->datadir == NULL && (rc = default_datadir(o)) != 0)
		return rc;
	return -1;
}

/* control on_leave: `tsn leave` handed everything on; stop as on SIGTERM. */
static void
left(void *ud)
{
	atomic_store((atomic_int *)ud, 1);
	kill(getpid(), SIGTERM);
}

static int
run(const struct opts *o, const sigset_t *sigs)
{
	atomic_int has_left = 0; /* `tsn leave` did it: no second leave on exit */
	struct tsn_store_opts so = {.quota = o->quota};
	struct tsn_node_opts no;
	struct tsn_control_opts co;
	struct tsn_store *store = NULL;
	struct tsn_node *node = NULL;
	struct tsn_control *ctl = NULL;
	struct tsn_publisher *pub = NULL;
	struct tsn_publisher_opts po = {0};
	const char *host = o->host ? o->host : "0.0.0.0";
	char err[512] = "", hex[2 * TSN_ID_LEN + 1];
	int rc, sig = 0;

	if ((rc = tsn_mkdir_parents(o->datadir)) != 0) {
		fprintf(stderr, "tsnd: cannot create the parents of data dir %s: %s\n", o->datadir,
		        strerror(-rc));
		goto fail0;
	}
	if ((rc = tsn_store_open(&store, o->datadir, &so, err, sizeof(err))) != 0) {
		fprintf(stderr, "tsnd: %s\n", err[0] ? err : strerror(-rc));
		goto fail0;
	}
	memset(&no, 0, sizeof(no));
	no.store = store;
	no.datadir = o->datadir;
	no.host = host;
	no.port = (uint16_t)o->port;
	memcpy(no.bootstrap, o->boot, sizeof(o->boot));
	no.nbootstrap = o->nboot;
	no.replicas = o->replicas;
	no.timeout_ms = o->timeout_ms;
	no.repair_interval_ms = o->repair_ms;
	no.republish_interval_ms = o->republish_ms;
	no.records_interval_ms = o->records_ms;
	no.held_ttl_ms = o->held_ttl_ms;
	if ((rc = tsn_node_start(&node, &no, err, sizeof(err))) != 0) {
		fprintf(stderr, "tsnd: %s\n", err[0] ? err : strerror(-rc));
		goto fail1;
	}
	po.store = store;
	po.node = node;
	po.republish_ms = o->republish_ms;
	if ((rc = tsn_publisher_new(&pub, &po)) != 0) {
		fprintf(stderr, "tsnd: cannot start keyword publishing: %s\n", strerror(-rc));
		goto fail2;
	}
	memset(&co, 0, sizeof(co));
	co.store = store;
	co.node = node;
	co.publisher = pub;
	co.on_leave = left;
	co.leave_ud = &has_left;
	if ((rc = tsn_control_start(&ctl, &co, err, sizeof(err))) != 0) {
		fprintf(stderr, "tsnd: %s\n", err);
		goto fail3;
	}
	tsn_hex(tsn_node_id(node), TSN_ID_LEN, hex);
	printf(strchr(host, ':') ? "tsnd: listening on [%s]:%u, node id %s\n"
	                         : "tsnd: listening on %s:%u, node id %s\n",
	       host, (unsigned)tsn_node_port(node), hex);
	fflush(stdout);
	while (sigwait(sigs, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
		;
	tsn_log(TSN_LOG_INFO, "tsnd: signal %d: stopping", sig);
	tsn_control_stop(ctl);
	if (o->leave_on_exit && !atomic_load(&has_left))
		(void)tsn_node_leave_report(node, "tsnd");
	tsn_publisher_free(pub);
	tsn_node_stop(node);
	tsn_store_close(store);
	return 0;

fail3:
	tsn_publisher_free(pub);
fail2:
	tsn_node_stop(node);
fail1:
	tsn_store_close(store);
fail0:
	return 1;
}

int
main(int argc, char **argv)
{
	struct opts o;
	sigset_t sigs;
	int rc;

	memset(&o, 0, sizeof(o));
	if ((rc = parse_args(argc, argv, &o)) >= 0)
		return rc;
	tsn_log_set_level(o.level);
	/* Blocked here, so every thread started later inherits the mask and
	 * only sigwait sees them. A client gone mid-write is an EPIPE. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	if ((rc = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0) {
		fprintf(stderr, "tsnd: cannot block signals: %s\n", strerror(rc));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return run(&o, &sigs);
}
