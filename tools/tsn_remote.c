/*
 * tsn_remote.c: the `tsn` commands when a node runs on the data dir: each
 * goes through its control socket (net/control.h, docs/control.md) and
 * prints what the offline form prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "tsn_cli.h"
#include "util.h"

#define SEND_TIMEOUT_MS 600000  /* the node reads frames as they come */
#define REPLY_TIMEOUT_MS 600000 /* one frame of a reply: a chunk fetch retries within it */
#define PUT_REPLY_TIMEOUT_MS -1 /* commit and pushes: each push has the node's deadline */

/* Receive a reply frame. A broken connection is printed here. */
static long
recv_frame(struct cli *c, const char *cmd, uint8_t *type, uint8_t *buf, size_t cap,
           int timeout_ms)
{
	const char *why = NULL;
	long n = tsn_ctl_recv(c->ctl, TSN_CTL_FROM_SERVER, type, buf, cap, timeout_ms, -1, &why);

	if (n == -EBADMSG)
		cli_err(cmd, "malformed answer from the node (%s)", why ? why : "?");
	else if (n == -ENOTCONN || n == -ECONNRESET)
		cli_err(cmd, "the node closed the connection (stopped, or see its log)");
	else if (n == -ETIMEDOUT)
		cli_err(cmd, "the node did not answer within %d s", timeout_ms / 1000);
	else if (n < 0)
		cli_err(cmd, "reading from the node: %s", strerror((int)-n));
	return n;
}

static int
send_frame(struct cli *c, const char *cmd, uint8_t type, const void *p, size_t len)
{
	int rc = tsn_ctl_send(c->ctl, type, p, len, SEND_TIMEOUT_MS);

	if (rc != 0)
		cli_err(cmd, "cannot send to the node: %s",
		        rc == -EPIPE || rc == -ECONNRESET ? "it closed the connection"
		                                          : strerror(-rc));
	return rc;
}

/* Print an ERR frame as "tsn: CMD: [prefix: ]text". Returns its -errno. */
static int
print_err(const char *cmd, const char *prefix, const uint8_t *p, size_t len)
{
	char text[TSN_CTL_TEXT_MAX + 1];
	int err;

	if (tsn_ctl_err_decode(p, len, &err, text, sizeof(text)) != 0) {
		cli_err(cmd, "malformed error from the node");
		return -EBADMSG;
	}
	if (prefix != NULL)
		cli_err(cmd, "%s: %s", prefix, text);
	else
		cli_err(cmd, "%s", text);
	return err;
}

static int
unexpected(const char *cmd, uint8_t type)
{
	cli_err(cmd, "unexpected answer from the node (frame type %u)", type);
	return -EBADMSG;
}

/* A request whose answer is one OK (payload into buf) or ERR. Returns the
 * payload length or -errno (printed); when the connection broke, c->ctl is
 * closed (-1). */
static long
request(struct cli *c, const char *cmd, uint8_t type, const void *p, size_t len, uint8_t *buf,
        size_t cap, const char *prefix)
{
	uint8_t rtype = 0;
	long n;

	if ((n = send_frame(c, cmd, type, p, len)) == 0 &&
	    (n = recv_frame(c, cmd, &rtype, buf, cap, REPLY_TIMEOUT_MS)) >= 0) {
		if (rtype == TSN_CTL_ERR)
			return print_err(cmd, prefix, buf, (size_t)n);
		if (rtype == TSN_CTL_OK)
			return n;
		n = unexpected(cmd, rtype);
	}
	close(c->ctl);
	c->ctl = -1;
	return n;
}

/* ---- put ---- */

static void
progress(const char *path, uint64_t done, uint64_t total, struct timespec *last, int end)
{
	struct timespec now;
	char a[32], b[32];

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!end && (now.tv_sec - last->tv_sec) * 1000 + (now.tv_nsec - last->tv_nsec) / 1000000 <
	    200)
		return;
	*last = now;
	tsn_fmt_size(done, a, sizeof(a));
	if (total > 0) {
		tsn_fmt_size(total, b, sizeof(b));
		fprintf(stderr, "\rput %s: %s of %s (%d%%)   ", path, a, b, (int)(done * 100 / total));
	} else
		fprintf(stderr, "\rput %s: %s   ", path, a);
	if (end)
		fputc('\n', stderr);
}

/* An answer came while uploading: it can only be an early ERR. */
static int
early_reply(struct cli *c, const char *path, uint8_t *buf)
{
	struct pollfd pf = {.fd = c->ctl, .events = POLLIN};
	uint8_t type = 0;
	long n;

	if (poll(&pf, 1, 0) <= 0)
		return 0;
	if ((n = recv_frame(c, "put", &type, buf, TSN_CTL_PAYLOAD_MAX, REPLY_TIMEOUT_MS)) < 0)
		return (int)n;
	if (type != TSN_CTL_ERR)
		return unexpected("put", type);
	n = print_err("put", path, buf, (size_t)n);
	/* The node drops DATA up to END and answers nothing more. */
	send_frame(c, "put", TSN_CTL_END, NULL, 0);
	return n < 0 ? (int)n : -EIO;
}

/* Wait until fd has input (0) or the node has sent something (1). */
static int
input_or_node(struct cli *c, int fd)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = c->ctl, .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents != 0)
			return 1;
		if (p[0].revents != 0)
			return 0;
	}
}

/* Stream one file. Returns 0, or -errno after printing why; c->ctl is
 * closed (-1) when the connection cannot go on. */
static int
put_one(struct cli *c, int private_, const char *kw, const char *path, uint8_t *buf)
{
	char name[TSN_CTL_NAME_MAX + 1], uri[TSN_URI_STRLEN + 1];
	uint8_t req[2 + TSN_CTL_NAME_MAX + TSN_CTL_KEYWORDS_MAX], type = 0;
	struct tsn_ctl_put_result res;
	struct timespec last = {0, 0};
	uint64_t total = 0, done = 0;
	struct stat st;
	int fd, rc, tty = isatty(STDERR_FILENO);
	size_t rlen;
	long n;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_err("put", "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		cli_err("put", "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		cli_err("put", "%s: is a directory (put takes files)", path);
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		total = (uint64_t)st.st_size;
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	snprintf(name, sizeof(name), "%s", cli_put_name(path));
	for (char *s = name; *s != '\0'; s++)
		if (*s == '/')
			*s = '_';
	rlen = tsn_ctl_put_encode(req, sizeof(req), private_ ? TSN_CTL_PUT_PRIVATE : 0, name, kw);
	if ((rc = send_frame(c, "put", TSN_CTL_PUT, req, rlen)) != 0)
		goto broken;
	for (;;) {
		ssize_t r;
		/* Waiting on the input (a pipe may be slow), watch the node too:
		 * it may fail the put early or stop. */
		if ((rc = input_or_node(c, fd)) < 0) {
			cli_err("put", "%s: %s", path, strerror(-rc));
			goto broken;
		}
		if (rc == 1 && (rc = early_reply(c, path, buf)) != 0) {
			if (rc == -EBADMSG || rc == -ENOTCONN || rc == -ECONNRESET)
				goto broken;
			goto out;
		}
		r = read(fd, buf, TSN_CTL_DATA_MAX);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			cli_err("put", "%s: read error: %s", path, strerror(errno));
			/* Closing mid-file is how a client abandons a put. */
			goto broken;
		}
		if (r == 0)
			break;
		if ((rc = send_frame(c, "put", TSN_CTL_DATA, buf, (size_t)r)) != 0)
			goto broken;
		done += (uint64_t)r;
		if (tty)
			progress(path, done, total, &last, 0);
		if ((rc = early_reply(c, path, buf)) != 0) {
			if (rc == -EBADMSG || rc == -ENOTCONN || rc == -ECONNRESET)
				goto broken;
			goto out;
		}
	}
	if (tty)
		progress(path, done, total, &last, 1);
	if ((rc = send_frame(c, "put", TSN_CTL_END, NULL, 0)) != 0)
		goto broken;
	n = recv_frame(c, "put", &type, buf, TSN_CTL_PAYLOAD_MAX, PUT_REPLY_TIMEOUT_MS);
	if (n < 0) {
		rc = (int)n;
		goto broken;
	}
	if (type == TSN_CTL_ERR) {
		rc = print_err("put", path, buf, (size_t)n);
		goto out;
	}
	if (type != TSN_CTL_OK || tsn_ctl_put_ok_decode(buf, (size_t)n, &res) != 0) {
		rc = unexpected("put", type);
		goto broken;
	}
	tsn_uri_format(&res.uri, uri);
	printf("%s\n", uri);
	fflush(stdout);
	if (tty || c->verbose > 0)
		fprintf(stderr, "put %s: %u blocks pushed, %u..%u copies of each (%u wanted%s)\n",
		        path, res.chunks, res.min_replicas, res.max_replicas, res.wanted,
		        res.short_ > 0 ? ", some short: the network may be small or busy" : "");
	rc = 0;
	goto out;

broken:
	close(c->ctl);
	c->ctl = -1;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}

int
remote_put(struct cli *c, int private_, const char *kw, char **paths, int n)
{
	uint8_t *buf = malloc(TSN_CTL_PAYLOAD_MAX);
	int failed = 0;

	if (buf == NULL) {
		cli_err("put", "out of memory");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (c->ctl < 0 && cli_reconnect(c, "put") != 0) {
			failed = 1;
			break;
		}
		if (put_one(c, private_, kw, paths[i], buf) != 0)
			failed = 1;
	}
	free(buf);
	return failed;
}

/* ---- get, cat ---- */

int
remote_get(struct cli *c, const char *cmd, const struct tsn_uri *uri, const char *out)
{
	char text[TSN_URI_STRLEN + 1], tmp[4200];
	uint8_t *buf = malloc(TSN_CTL_PAYLOAD_MAX), type = 0;
	uint64_t got = 0;
	int fd = STDOUT_FILENO, rc = -EIO;
	long n;

	tmp[0] = '\0';
	if (buf == NULL) {
		cli_err(cmd, "out of memory");
		return 1;
	}
	tsn_uri_format(uri, text);
	if (out != NULL && (fd = cli_open_temp(out, tmp, sizeof(tmp))) < 0) {
		rc = fd;
		tmp[0] = '\0';
		cli_err(cmd, "cannot create %s: %s", out, strerror(-rc));
		goto fail;
	}
	if (send_frame(c, cmd, TSN_CTL_GET, text, TSN_URI_STRLEN) != 0)
		goto fail;
	for (;;) {
		if ((n = recv_frame(c, cmd, &type, buf, TSN_CTL_PAYLOAD_MAX, REPLY_TIMEOUT_MS)) < 0)
			goto fail;
		if (type == TSN_CTL_END)
			break;
		if (type == TSN_CTL_ERR) {
			print_err(cmd, NULL, buf, (size_t)n);
			goto fail;
		}
		if (type != TSN_CTL_DATA) {
			unexpected(cmd, type);
			goto fail;
		}
		if ((uint64_t)n > uri->size - got) {
			cli_err(cmd, "the node sent more than the file's %llu bytes",
			        (unsigned long long)uri->size);
			goto fail;
		}
		if ((rc = cli_write_all(fd, buf, (size_t)n)) != 0) {
			cli_err(cmd, "cannot write %s: %s", out ? out : "to stdout", strerror(-rc));
			goto fail;
		}
		got += (uint64_t)n;
	}
	if (got != uri->size) {
		cli_err(cmd, "the node sent %llu of the file's %llu bytes", (unsigned long long)got,
		        (unsigned long long)uri->size);
		goto fail;
	}
	if (out != NULL) {
		rc = cli_finish_temp(cmd, fd, tmp, out);
		fd = -1;
		if (rc != 0)
			goto fail;
	}
	free(buf);
	return 0;

fail:
	if (out != NULL && fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	free(buf);
	return 1;
}

/* ---- ls, rm, gc, stat ---- */

int
remote_ls(struct cli *c)
{
	uint8_t buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX], type = 0;
	struct tsn_file_info f;
	long n;

	if (send_frame(c, "ls", TSN_CTL_LS, NULL, 0) != 0)
		return 1;
	for (;;) {
		if ((n = recv_frame(c, "ls", &type, buf, sizeof(buf), REPLY_TIMEOUT_MS)) < 0)
			return 1;
		if (type == TSN_CTL_END)
			return 0;
		if (type == TSN_CTL_ERR) {
			print_err("ls", NULL, buf, (size_t)n);
			return 1;
		}
		if (type != TSN_CTL_FILE || tsn_ctl_file_decode(buf, (size_t)n, &f) != 0) {
			unexpected("ls", type);
			return 1;
		}
		cli_print_file(&f);
	}
}

int
remote_rm(struct cli *c, char **uris, int n)
{
	uint8_t buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX];
	int failed = 0;

	for (int i = 0; i < n; i++) {
		struct tsn_uri uri;
		long r;
		if (cli_parse_uri("rm", uris[i], &uri) != 0) {
			failed = 1;
			continue;
		}
		r = request(c, "rm", TSN_CTL_RM, uris[i], TSN_URI_STRLEN, buf, sizeof(buf), NULL);
		if (r < 0)
			failed = 1;
		if (c->ctl < 0)
			break; /* the connection is gone (printed) */
	}
	return failed;
}

int
remote_gc(struct cli *c)
{
	uint8_t buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX];
	char sz[32];
	long n = request(c, "gc", TSN_CTL_GC, NULL, 0, buf, sizeof(buf), NULL);

	if (n < 0)
		return 1;
	if (n != TSN_CTL_GC_OK_LEN) {
		cli_err("gc", "malformed answer from the node");
		return 1;
	}
	tsn_fmt_size(tsn_get_be64(buf + 8), sz, sizeof(sz));
	printf("dropped %llu chunks (%s)\n", (unsigned long long)tsn_get_be64(buf), sz);
	return 0;
}

int
remote_stat(struct cli *c)
{
	uint8_t buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX];
	struct tsn_ctl_stat st;
	long n = request(c, "stat", TSN_CTL_STAT, NULL, 0, buf, sizeof(buf), NULL);

	if (n < 0)
		return 1;
	if (tsn_ctl_stat_decode(buf, (size_t)n, &st) != 0) {
		cli_err("stat", "malformed answer from the node");
		return 1;
	}
	cli_print_stat(c->datadir, &st.st, st.disk_free);
	return 0;
}

/* ---- status, peers ---- */

int
remote_status(struct cli *c)
{
	static const char *roles[] = {"pinned", "held", "cached", "pending"};
	uint8_t buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX];
	char hex[2 * TSN_ID_LEN + 1], addr[TSN_ADDR_STRLEN], a[32], b[32];
	struct tsn_ctl_status s;
	long n = request(c, "status", TSN_CTL_STATUS, NULL, 0, buf, sizeof(buf), NULL);
	uint64_t used = 0;

	if (n < 0)
		return 1;
	if (tsn_ctl_status_decode(buf, (size_t)n, &s) != 0) {
		cli_err("status", "malformed answer from the node");
		return 1;
	}
	tsn_hex(s.id, TSN_ID_LEN, hex);
	printf("node         %s\n", hex);
	printf("address      %s\n", tsn_addr_format(&s.addr, addr));
	printf("datadir      %s\n", c->datadir);
	printf("peers        %llu\n", (unsigned long long)s.peers);
	printf("records      %llu\n", (unsigned long long)s.records);
	printf("replicas     %u\n", s.replicas);
	printf("files        %llu\n", (unsigned long long)s.store.st.files);
	for (int i = 0; i < 4; i++) {
		tsn_fmt_size(s.store.st.bytes[i], a, sizeof(a));
		printf("%-12s %llu chunks, %s\n", roles[i],
		       (unsigned long long)s.store.st.chunks[i], a);
		used += s.store.st.bytes[i];
	}
	tsn_fmt_size(used, a, sizeof(a));
	tsn_fmt_size(s.store.st.quota, b, sizeof(b));
	printf("used         %s of quota %s\n", a, b);
	tsn_fmt_size(s.udp_in, a, sizeof(a));
	tsn_fmt_size(s.tcp_in, b, sizeof(b));
	printf("in           udp %s, tcp %s\n", a, b);
	tsn_fmt_size(s.udp_out, a, sizeof(a));
	tsn_fmt_size(s.tcp_out, b, sizeof(b));
	printf("out          udp %s, tcp %s\n", a, b);
	printf("chunks       served %llu, accepted %llu, fetched %llu, pushed %llu\n",
	       (unsigned long long)s.chunks_served, (unsigned long long)s.chunks_accepted,
	       (unsigned long long)s.chunks_fetched, (unsigned long long)s.chunks_pushed);
	printf("datagrams    in %llu, out %llu; dropped: malformed %llu, bad version %llu, "
	       "bad type %llu, rate-limited %llu, unsolicited %llu; query timeouts %llu\n",
	       (unsigned long long)s.dgram_in, (unsigned long long)s.dgram_out,
	       (unsigned long long)s.malformed, (unsigned long long)s.bad_version,
	       (unsigned long long)s.bad_type, (unsigned long long)s.rate_limited,
	       (unsigned long long)s.unsolicited, (unsigned long long)s.timeouts);
	printf("connections  %llu\n", (unsigned long long)s.connections);
	printf("requests     %llu pending\n", (unsigned long long)s.requests_pending);
	if (s.version < 2) {
		printf("repair       (not reported by this node's version)\n");
		return 0;
	}
	printf("under-replicated %llu chunks in the last repair pass (%llu seen since start)\n",
	       (unsigned long long)s.repair_under_now, (unsigned long long)s.repair_under);
	printf("repair       %llu passes, %llu chunks checked, %llu checks failed\n",
	       (unsigned long long)s.repair_passes, (unsigned long long)s.repair_checked,
	       (unsigned long long)s.repair_failed);
	tsn_fmt_size(s.repair_bytes, a, sizeof(a));
	printf("repaired     %llu copies placed, %llu bytes (%s); %llu handed on, %llu expired\n",
	       (unsigned long long)s.repair_copies, (unsigned long long)s.repair_bytes, a,
	       (unsigned long long)s.repair_handed, (unsigned long long)s.repair_expired);
	printf("restored     %llu records stored again at the closest nodes (%llu failed)\n",
	       (unsigned long long)s.records_restored, (unsigned long long)s.records_restore_failed);
	return 0;
}

int
remote_peers(struct cli *c)
{
	uint8_t buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX], type = 0;
	char hex[2 * TSN_ID_LEN + 1], addr[TSN_ADDR_STRLEN];
	struct tsn_contact p;
	long n;

	if (send_frame(c, "peers", TSN_CTL_PEERS, NULL, 0) != 0)
		return 1;
	for (;;) {
		if ((n = recv_frame(c, "peers", &type, buf, sizeof(buf), REPLY_TIMEOUT_MS)) < 0)
			return 1;
		if (type == TSN_CTL_END)
			return 0;
		if (type == TSN_CTL_ERR) {
			print_err("peers", NULL, buf, (size_t)n);
			return 1;
		}
		if (type != TSN_CTL_PEER || tsn_ctl_peer_decode(buf, (size_t)n, &p) != 0) {
			unexpected("peers", type);
			return 1;
		}
		tsn_hex(p.id, TSN_ID_LEN, hex);
		printf("%s\t%s\n", hex, tsn_addr_format(&p.addr, addr));
	}
}

/* ---- leave ---- */

int
remote_leave(struct cli *c)
{
	uint8_t buf[TSN_CTL_SMALL_MAX + 4 + TSN_CTL_TEXT_MAX], type = 0;
	struct tsn_ctl_leave_result lr;
	long n;

	/* Handing everything on may take minutes: the node's own bound is 10. */
	if (send_frame(c, "leave", TSN_CTL_LEAVE, NULL, 0) != 0)
		return 1;
	if ((n = recv_frame(c, "leave", &type, buf, sizeof(buf), 11 * 60 * 1000)) < 0)
		return 1;
	if (type == TSN_CTL_ERR)
		return print_err("leave", NULL, buf, (size_t)n) < 0 ? 1 : 1;
	if (type != TSN_CTL_OK)
		return unexpected("leave", type) < 0 ? 1 : 1;
	if (tsn_ctl_leave_ok_decode(buf, (size_t)n, &lr) != 0) {
		cli_err("leave", "malformed answer from the node");
		return 1;
	}
	printf("handed %llu chunks on to other nodes (%llu with fewer than r copies, "
	       "%llu not placed)", (unsigned long long)lr.handed, (unsigned long long)lr.short_,
	       (unsigned long long)lr.failed);
	if (lr.version >= 2)
		printf(" and %llu records (%llu not placed)", (unsigned long long)lr.records_handed,
		       (unsigned long long)lr.records_failed);
	printf("; the node stops\n");
	/* a record "not placed" may be one others refuse for a newer version */
	return lr.failed > 0 ? 1 : 0;
}
