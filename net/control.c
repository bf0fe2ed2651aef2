/*
 * control.c: the control socket server (control.h): the listening socket,
 * the accept thread, one thread per connection, HELLO and the dispatch of
 * requests through a bounds-checked table.
 *
 * Stopping: tsn_control_stop sets `stopping`, makes the stop pipe readable
 * (every wait for a client frame polls it) and shuts the connections down,
 * so blocked sends fail at once; a request busy with the node gives up at
 * its next chunk. Then every thread is joined.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_i.h"
#include "util.h"

int
ctl_stopping(struct tsn_control *s)
{
	return atomic_load(&s->stopping);
}

int
ctl_send(struct ctl_conn *c, uint8_t type, const void *p, size_t len)
{
	return tsn_ctl_send(c->fd, type, p, len, (int)c->srv->idle_ms);
}

int
ctl_send_err(struct ctl_conn *c, int err, const char *fmt, ...)
{
	uint8_t buf[4 + TSN_CTL_TEXT_MAX];
	char text[TSN_CTL_TEXT_MAX + 1];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = tsn_ctl_err_encode(buf, sizeof(buf), err == 0 ? -EIO : err, text);
	return ctl_send(c, TSN_CTL_ERR, buf, n);
}

long
ctl_recv(struct ctl_conn *c, uint8_t *type)
{
	const char *why = "?";
	long n;

	n = tsn_ctl_recv(c->fd, TSN_CTL_FROM_CLIENT, type, c->buf, TSN_CTL_PAYLOAD_MAX,
	                 (int)c->srv->idle_ms, c->srv->stop_pipe[0], &why);
	if (n == -EBADMSG)
		tsn_log(TSN_LOG_WARN, "control: connection %u: malformed frame (%s): closed", c->id,
		        why);
	else if (n == -ETIMEDOUT)
		tsn_log(TSN_LOG_INFO, "control: connection %u: idle for %u ms: closed", c->id,
		        (unsigned)c->srv->idle_ms);
	else if (n < 0 && n != -ENOTCONN && n != -ECANCELED)
		tsn_log(TSN_LOG_INFO, "control: connection %u: %s: closed", c->id,
		        strerror((int)-n));
	return n;
}

typedef int (*ctl_handler)(struct ctl_conn *c, const uint8_t *p, size_t len);

/* Requests by frame type; the sizes were checked by tsn_ctl_frame_check. */
static const ctl_handler handlers[TSN_CTL_TYPE_END] = {
	[TSN_CTL_PUT] = ctl_do_put,     [TSN_CTL_GET] = ctl_do_get,
	[TSN_CTL_LS] = ctl_do_ls,       [TSN_CTL_RM] = ctl_do_rm,
	[TSN_CTL_GC] = ctl_do_gc,       [TSN_CTL_STAT] = ctl_do_stat,
	[TSN_CTL_STATUS] = ctl_do_status, [TSN_CTL_PEERS] = ctl_do_peers,
	[TSN_CTL_SEARCH] = ctl_do_search, [TSN_CTL_LEAVE] = ctl_do_leave,
};

/* The first frame must be HELLO; answer with our version. Returns 0 or -errno. */
static int
hello(struct ctl_conn *c)
{
	uint8_t out[TSN_CTL_HELLO_LEN], type = 0;
	long n = ctl_recv(c, &type);
	int v;

	if (n < 0)
		return (int)n;
	if (type != TSN_CTL_HELLO) {
		tsn_log(TSN_LOG_WARN, "control: connection %u: first frame is type %u, not HELLO: "
		        "closed", c->id, type);
		return -EBADMSG;
	}
	if ((v = tsn_ctl_hello_decode(c->buf, (size_t)n)) < 0) {
		tsn_log(TSN_LOG_WARN, "control: connection %u: malformed HELLO: closed", c->id);
		return -EBADMSG;
	}
	if (v < TSN_CTL_VERSION_MIN) {
		ctl_send_err(c, -EPROTONOSUPPORT, "control protocol version %d is not supported "
		             "(this node speaks %d to %d)", v, TSN_CTL_VERSION_MIN, TSN_CTL_VERSION);
		return -EPROTONOSUPPORT;
	}
	/* An older client gets its own version and its replies' layouts; a
	 * newer one gets ours and may step down to it. */
	c->version = v < TSN_CTL_VERSION ? v : TSN_CTL_VERSION;
	tsn_ctl_hello_encode(out, (uint16_t)c->version);
	return ctl_send(c, TSN_CTL_HELLO, out, sizeof(out));
}

static void *
conn_main(void *arg)
{
	struct ctl_conn *c = arg;
	struct tsn_control *s = c->srv;
	int rc = hello(c);

	while (rc == 0 && !ctl_stopping(s)) {
		uint8_t type = 0;
		long n = ctl_recv(c, &type);
		if (n < 0)
			break;
		if (type >= TSN_CTL_TYPE_END || handlers[type] == NULL) {
			tsn_log(TSN_LOG_WARN, "control: connection %u: frame type %u out of turn "
			        "(expected a request): closed", c->id, type);
			break;
		}
		rc = handlers[type](c, c->buf, (size_t)n);
	}
	pthread_mutex_lock(&s->lock);
	close(c->fd);
	c->fd = -1;
	c->finished = 1;
	pthread_mutex_unlock(&s->lock);
	tsn_log(TSN_LOG_DEBUG, "control: connection %u closed", c->id);
	return NULL;
}

/* Join the threads of finished connections (accept thread or stop). */
static void
reap(struct tsn_control *s, int all)
{
	for (unsigned i = 0; i < s->max_conns; i++) {
		struct ctl_conn *c = &s->conns[i];
		int done;
		pthread_mutex_lock(&s->lock);
		done = c->used && (c->finished || all);
		pthread_mutex_unlock(&s->lock);
		if (!done)
			continue;
		pthread_join(c->thread, NULL);
		pthread_mutex_lock(&s->lock);
		c->used = 0;
		c->finished = 0;
		pthread_mutex_unlock(&s->lock);
	}
}

static void
refuse(int fd, int err, const char *text)
{
	uint8_t buf[4 + TSN_CTL_TEXT_MAX];
	size_t n = tsn_ctl_err_encode(buf, sizeof(buf), err, text);

	tsn_ctl_send(fd, TSN_CTL_ERR, buf, n, 100);
	close(fd);
}

static void
serve(struct tsn_control *s, int fd)
{
	struct ctl_conn *c = NULL;
	int rc;

	reap(s, 0);
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->max_conns && c == NULL; i++)
		if (!s->conns[i].used)
			c = &s->conns[i];
	if (c != NULL) {
		c->used = 1;
		c->finished = 0;
		c->fd = fd;
		c->id = ++s->next_id;
	}
	pthread_mutex_unlock(&s->lock);
	if (c == NULL) {
		tsn_log(TSN_LOG_INFO, "control: %u connections busy: one refused", s->max_conns);
		refuse(fd, -EBUSY, "too many control connections at once; try again");
		return;
	}
	if ((rc = pthread_create(&c->thread, NULL, conn_main, c)) != 0) {
		tsn_log(TSN_LOG_WARN, "control: cannot start a connection thread: %s", strerror(rc));
		pthread_mutex_lock(&s->lock);
		c->used = 0;
		c->fd = -1;
		pthread_mutex_unlock(&s->lock);
		refuse(fd, -EAGAIN, "the node cannot start a thread for this connection");
	}
}

static void *
accept_main(void *arg)
{
	struct tsn_control *s = arg;

	while (!ctl_stopping(s)) {
		struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
		                      {.fd = s->stop_pipe[0], .events = POLLIN}};
		int fd;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			tsn_log(TSN_LOG_ERROR, "control: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents != 0)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
				tsn_log(TSN_LOG_WARN, "control: accept: %s", strerror(errno));
				if (errno == EMFILE || errno == ENFILE)
					usleep(100000); /* do not spin while out of descriptors */
			}
			continue;
		}
		serve(s, fd);
	}
	return NULL;
}

/* Refuse to start over a live server; remove a stale socket file. */
static int
clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 0 : -errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "a node already serves %s", path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED)
		return rc;
	tsn_log(TSN_LOG_INFO, "control: removing stale socket %s", path);
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * Bind in a fresh directory of mode 0700 (mkdtemp), chmod the socket 0600,
 * then rename it into place: nobody else can reach the socket at any moment,
 * whatever the umask, and the process umask (shared with the node's
 * threads, which create files) is never changed.
 */
static int
listen_socket(struct tsn_control *s, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	char dir[sizeof(s->path)], tmp[sizeof(s->path) + 16];
	char *slash = strrchr(s->path, '/');
	int n, rc;

	if (slash == NULL)
		return -EINVAL;
	if ((rc = clear_stale(s->path, err, errlen)) != 0)
		return rc;
	n = snprintf(dir, sizeof(dir), "%.*s/.c-XXXXXX", (int)(slash - s->path), s->path);
	if (n < 0 || (size_t)n >= sizeof(dir) || mkdtemp(dir) == NULL)
		return n < 0 || (size_t)n >= sizeof(dir) ? -ENAMETOOLONG : -errno;
	n = snprintf(tmp, sizeof(tmp), "%s/s", dir);
	memset(&sun, 0, sizeof(sun));
	if ((size_t)n >= sizeof(sun.sun_path)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, tmp, (size_t)n + 1);
	if ((s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(tmp, 0600) != 0 ||
	    listen(s->lfd, 16) != 0 || rename(tmp, s->path) != 0) {
		rc = -errno;
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	rmdir(dir);
	return rc;
}

static unsigned
cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

int
tsn_control_start(struct tsn_control **out, const struct tsn_control_opts *o, char *err,
                  size_t errlen)
{
	struct tsn_control *s;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if (o == NULL || o->store == NULL) {
		snprintf(err, errlen, "control: no store");
		return -EINVAL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		rc = -ENOMEM;
		goto fail0;
	}
	s->store = o->store;
	s->node = o->node;
	s->max_conns = o->max_conns ? o->max_conns : TSN_CTL_CONNS_DEFAULT;
	s->idle_ms = o->idle_ms ? o->idle_ms : TSN_CTL_IDLE_DEFAULT_MS;
	s->threads = o->threads ? o->threads : cores();
	s->publisher = o->publisher;
	s->on_leave = o->on_leave;
	s->leave_ud = o->leave_ud;
	s->lfd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	atomic_init(&s->stopping, 0);
	if ((s->conns = calloc(s->max_conns, sizeof(*s->conns))) == NULL) {
		rc = -ENOMEM;
		goto fail1;
	}
	for (unsigned i = 0; i < s->max_conns; i++) {
		s->conns[i].srv = s;
		s->conns[i].fd = -1;
		if ((s->conns[i].buf = malloc(TSN_CTL_PAYLOAD_MAX)) == NULL) {
			rc = -ENOMEM;
			goto fail1;
		}
	}
	if ((rc = pthread_mutex_init(&s->lock, NULL)) != 0) {
		rc = -rc;
		goto fail1;
	}
	rc = tsn_ctl_socket_path(tsn_store_path(s->store), s->path, sizeof(s->path), &s->dirfd);
	if (rc != 0)
		goto fail2;
	if ((rc = listen_socket(s, err, errlen)) != 0)
		goto fail3;
	if (pipe2(s->stop_pipe, O_CLOEXEC) != 0) {
		rc = -errno;
		goto fail4;
	}
	if ((rc = pthread_create(&s->accept_thread, NULL, accept_main, s)) != 0) {
		rc = -rc;
		goto fail5;
	}
	*out = s;
	return 0;

fail5:
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
fail4:
	unlink(s->path);
fail3:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
fail2:
	pthread_mutex_destroy(&s->lock);
fail1:
	for (unsigned i = 0; s->conns != NULL && i < s->max_conns; i++)
		free(s->conns[i].buf);
	free(s->conns);
	free(s);
fail0:
	if (err[0] == '\0')
		snprintf(err, errlen, "cannot serve the control socket %s/%s: %s",
		         tsn_store_path(o->store), TSN_CTL_SOCKET, strerror(-rc));
	return rc;
}

void
tsn_control_stop(struct tsn_control *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stopping, 1);
	if (write(s->stop_pipe[1], "x", 1) < 0)
		tsn_log(TSN_LOG_WARN, "control: stop pipe: %s", strerror(errno));
	pthread_join(s->accept_thread, NULL);
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->max_conns; i++)
		if (s->conns[i].used && s->conns[i].fd >= 0)
			shutdown(s->conns[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	reap(s, 1);
	unlink(s->path);
	close(s->lfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	pthread_mutex_destroy(&s->lock);
	for (unsigned i = 0; i < s->max_conns; i++)
		free(s->conns[i].buf);
	free(s->conns);
	free(s);
}
