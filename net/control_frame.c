/*
 * control_frame.c: frame I/O of the control protocol on a stream socket,
 * with a deadline per frame, and the client's connect + HELLO.
 *
 * The sockets stay blocking; every send and receive uses MSG_DONTWAIT after
 * a poll that is bounded by the deadline, so no call waits longer than
 * asked and a peer that stops reading cannot hold a thread forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "util.h"

/* Wait until fd has `events` or the deadline (< 0: none) passes. */
static int
wait_fd(int fd, short events, int64_t deadline, int stop_fd)
{
	struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = stop_fd, .events = POLLIN}};

	for (;;) {
		int t = -1, rc;
		if (deadline >= 0) {
			int64_t left = deadline - (int64_t)tsn_mono_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			t = left > 1000000 ? 1000000 : (int)left;
		}
		rc = poll(p, stop_fd >= 0 ? 2 : 1, t);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			continue; /* the deadline is checked at the top */
		if (stop_fd >= 0 && (p[1].revents & POLLIN))
			return -ECANCELED;
		/* POLLHUP/POLLERR: let the read or write report it. */
		return 0;
	}
}

int
tsn_ctl_send(int fd, uint8_t type, const void *payload, size_t plen, int timeout_ms)
{
	uint8_t hdr[TSN_CTL_HDR];
	struct iovec iov[2];
	struct msghdr msg;
	int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)tsn_mono_ms() + timeout_ms;
	size_t left = TSN_CTL_HDR + plen;
	int rc;

	if (tsn_ctl_frame_check(type, (uint32_t)plen, TSN_CTL_FROM_CLIENT | TSN_CTL_FROM_SERVER,
	                        NULL) != 0 || plen > TSN_CTL_PAYLOAD_MAX)
		return -EINVAL;
	tsn_put_be32(hdr, (uint32_t)plen + 1);
	hdr[4] = type;
	iov[0].iov_base = hdr;
	iov[0].iov_len = TSN_CTL_HDR;
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = plen;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = plen > 0 ? 2 : 1;
	while (left > 0) {
		ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_fd(fd, POLLOUT, deadline, -1)) != 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		left -= (size_t)n;
		/* Step the iovecs past what went out. */
		while (n > 0 && msg.msg_iovlen > 0) {
			size_t take = (size_t)n < msg.msg_iov[0].iov_len ? (size_t)n
			                                                 : msg.msg_iov[0].iov_len;
			msg.msg_iov[0].iov_base = (uint8_t *)msg.msg_iov[0].iov_base + take;
			msg.msg_iov[0].iov_len -= take;
			n -= (ssize_t)take;
			if (msg.msg_iov[0].iov_len == 0) {
				msg.msg_iov++;
				msg.msg_iovlen--;
			}
		}
	}
	return 0;
}

/* Read exactly n bytes. Returns 0, -ENOTCONN (EOF before any byte and
 * first is set), -ECONNRESET (EOF later), -ETIMEDOUT, -ECANCELED, -errno. */
static int
read_full(int fd, uint8_t *buf, size_t n, int64_t deadline, int stop_fd, int first)
{
	size_t got = 0;
	int rc;

	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_fd(fd, POLLIN, deadline, stop_fd)) != 0)
				return rc;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			return first && got == 0 ? -ENOTCONN : -ECONNRESET;
		got += (size_t)r;
	}
	return 0;
}

long
tsn_ctl_recv(int fd, int from, uint8_t *type, uint8_t *buf, size_t cap, int timeout_ms,
             int stop_fd, const char **why)
{
	uint8_t hdr[TSN_CTL_HDR];
	uint32_t len;
	int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)tsn_mono_ms() + timeout_ms;
	int rc;

	if ((rc = read_full(fd, hdr, TSN_CTL_HDR, deadline, stop_fd, 1)) != 0)
		return rc;
	len = tsn_get_be32(hdr);
	if (len == 0) {
		if (why != NULL)
			*why = "frame length 0 (no type byte)";
		return -EBADMSG;
	}
	/* Checked before a byte of the payload is read: the length is the
	 * peer's claim, bounded by its type. */
	if ((rc = tsn_ctl_frame_check(hdr[4], len - 1, from, why)) != 0)
		return rc;
	if (len - 1 > cap)
		return -EMSGSIZE;
	if ((rc = read_full(fd, buf, len - 1, deadline, stop_fd, 0)) != 0)
		return rc;
	*type = hdr[4];
	return (long)(len - 1);
}

int
tsn_ctl_socket_path(const char *datadir, char *out, size_t outlen, int *dirfd)
{
	struct sockaddr_un sun;
	int n;

	*dirfd = -1;
	n = snprintf(out, outlen, "%s/%s", datadir, TSN_CTL_SOCKET);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	if ((size_t)n < sizeof(sun.sun_path))
		return 0;
	/* Too long for sun_path: reach the dir through a descriptor of it. */
	if ((*dirfd = open(datadir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		*dirfd = -1;
		return -errno;
	}
	n = snprintf(out, outlen, "/proc/self/fd/%d/%s", *dirfd, TSN_CTL_SOCKET);
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof(sun.sun_path)) {
		close(*dirfd);
		*dirfd = -1;
		return -ENAMETOOLONG;
	}
	return 0;
}

int
tsn_ctl_connect(const char *datadir, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	uint8_t hello[TSN_CTL_HELLO_LEN], buf[4 + TSN_CTL_TEXT_MAX];
	char path[4200], text[TSN_CTL_TEXT_MAX + 1];
	const char *why = NULL;
	uint8_t type;
	int fd = -1, dirfd = -1, rc, v;
	long n;

	err[0] = '\0';
	if ((rc = tsn_ctl_socket_path(datadir, path, sizeof(path), &dirfd)) != 0) {
		snprintf(err, errlen, "control socket path of %s: %s", datadir, strerror(-rc));
		return rc;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		rc = -errno;
		snprintf(err, errlen, "connect %s: %s", path, strerror(errno));
		goto fail;
	}
	if (dirfd >= 0)
		close(dirfd);
	dirfd = -1;
	tsn_ctl_hello_encode(hello, TSN_CTL_VERSION);
	if ((rc = tsn_ctl_send(fd, TSN_CTL_HELLO, hello, sizeof(hello), timeout_ms)) != 0) {
		snprintf(err, errlen, "the node does not take the hello: %s", strerror(-rc));
		goto fail;
	}
	n = tsn_ctl_recv(fd, TSN_CTL_FROM_SERVER, &type, buf, sizeof(buf), timeout_ms, -1, &why);
	if (n < 0) {
		rc = (int)n;
		snprintf(err, errlen, "no hello from the node: %s",
		         n == -EBADMSG && why ? why : strerror((int)-n));
		goto fail;
	}
	if (type == TSN_CTL_ERR) {
		if (tsn_ctl_err_decode(buf, (size_t)n, &rc, text, sizeof(text)) != 0) {
			rc = -EBADMSG;
			snprintf(err, errlen, "malformed error from the node");
		} else
			snprintf(err, errlen, "%s", text);
		goto fail;
	}
	if (type != TSN_CTL_HELLO || (v = tsn_ctl_hello_decode(buf, (size_t)n)) < 0) {
		rc = -EBADMSG;
		snprintf(err, errlen, "the node answered the hello with something else");
		goto fail;
	}
	if (v < TSN_CTL_VERSION_MIN || v > TSN_CTL_VERSION) { /* an older node: its replies decode */
		rc = -EPROTONOSUPPORT;
		snprintf(err, errlen, "the node speaks control protocol version %d, this tsn %d", v,
		         TSN_CTL_VERSION);
		goto fail;
	}
	return fd;

fail:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}
