/*
 * node_tcp.c: chunk transfer connections (frame.h over TCP).
 *
 * One outgoing connection per peer address, opened on first use and reused
 * until idle for NODE_IDLE_MS; incoming connections are served the same
 * way (either side may send requests on any connection; replies match by
 * request id). Caps, all counted here:
 *   - NODE_CONN_MAX connections; a new one closes the oldest idle one, or
 *     is refused;
 *   - NODE_CONN_CALLS_MAX requests in flight per outgoing connection (more
 *     wait, unsent, in order): at most that many blocks on their way to us;
 *   - NODE_CONN_SERVE_MAX requests of one connection and NODE_SERVE_MAX of
 *     all being served (read from the store, written back); beyond that the
 *     connection stops reading, so TCP pushes back on the peer;
 *   - a read buffer of at most one frame plus one read (NODE_RBUF_MAX);
 *   - a connection being served that makes no progress (reads nothing,
 *     drains none of our replies) for NODE_STALL_MS is closed, so a peer
 *     that stops reading cannot keep serving slots.
 * A malformed frame (bad length, a body of the wrong size, a reply that
 * matches nothing we asked in type or chunk id) closes the connection;
 * frames of an unknown version or type are counted and skipped.
 * Blocks are written straight from their buffers (a frame head and the
 * block as two uv_buf_t), never copied for sending.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_i.h"
#include "util.h"

struct node_wr {
	uv_write_t w;
	struct node_conn *c;
	struct node_blk *blk;
	bool serve;                  /* a reply: ends one served request */
	size_t bytes;
	uint8_t head[TSN_FRAME_HEAD_MAX];
};

static void conn_process(struct node_conn *c);
static void conn_arm(struct node_conn *c);
static void conn_timer_cb(uv_timer_t *t);

/* ---- connection life ---- */

static struct node_conn *
conn_new(struct tsn_node *n, bool outgoing)
{
	struct node_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (uv_tcp_init(&n->loop, &c->tcp) != 0) {
		free(c);
		return NULL;
	}
	(void)uv_timer_init(&n->loop, &c->timer); /* cannot fail */
	c->tcp.data = c;
	c->timer.data = c;
	c->n = n;
	c->outgoing = outgoing;
	c->refs = 1;
	c->last_active = node_now(n);
	c->next = n->conns;
	if (n->conns != NULL)
		n->conns->prev = c;
	n->conns = c;
	n->nconns++;
	return c;
}

void
node_conn_unref(struct tsn_node *n, struct node_conn *c)
{
	(void)n;
	if (--c->refs == 0)
		free(c);
}

static void
on_close(uv_handle_t *h)
{
	struct node_conn *c = h->data;

	if (--c->closes == 0)
		node_conn_unref(c->n, c);
}

static void
call_unlink(struct node_conn *c, struct node_call *call)
{
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	else
		c->calls_tail = call->prev;
	call->next = call->prev = NULL;
	c->ncalls--;
	if (call->sent)
		c->nsent--;
}

static void conn_pump(struct node_conn *c);

/* The call's end: unlinked, its owner told, freed. */
static void
call_finish(struct node_conn *c, struct node_call *call, int status, struct node_blk *blk)
{
	struct tsn_node *n = c->n;

	call_unlink(c, call);
	node_blk_unref(n, call->blk);
	call->blk = NULL;
	call->done(call->owner, call, status, blk);
	free(call);
	conn_pump(c);
}

static void
conn_close(struct node_conn *c, int rc, const char *why)
{
	struct tsn_node *n = c->n;
	char where[TSN_ADDR_STRLEN];

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		n->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	n->nconns--;
	if (c->paused)
		n->npaused--;
	c->paused = false;
	tsn_log(TSN_LOG_DEBUG, "node: TCP %s %s closed: %s", c->outgoing ? "to" : "from",
	        tsn_addr_format(&c->peer, where), why);
	free(c->rbuf);
	c->rbuf = NULL;
	c->rlen = c->rcap = 0;
	while (c->calls != NULL)
		call_finish(c, c->calls, rc < 0 ? rc : -ECONNRESET, NULL);
	c->closes = 2;
	uv_close((uv_handle_t *)&c->tcp, on_close);
	uv_close((uv_handle_t *)&c->timer, on_close);
}

/* Close from the timer, not inside the call that found the error (whose
 * caller may not expect its callbacks yet). */
static void
conn_close_later(struct node_conn *c)
{
	if (c->closing)
		return;
	c->broken = true;
	uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
}

/* Close the least recently active connection with nothing under way. */
static bool
evict_idle(struct tsn_node *n, const struct node_conn *except)
{
	struct node_conn *best = NULL;

	for (struct node_conn *c = n->conns; c != NULL; c = c->next)
		if (c != except && c->ncalls == 0 && c->serving == 0 && !c->paused && !c->processing &&
		    (best == NULL || c->last_active < best->last_active))
			best = c;
	if (best == NULL)
		return false;
	conn_close(best, -ECONNRESET, "connection cap: closing the oldest idle one");
	return true;
}

void
node_tcp_close_all(struct tsn_node *n)
{
	while (n->conns != NULL)
		conn_close(n->conns, -ECANCELED, "node stopping");
}

/* ---- writes ---- */

static void
serve_end(struct tsn_node *n, struct node_conn *c)
{
	c->serving--;
	n->serving--;
	node_tcp_serve_done(n, c);
}

static void
on_write(uv_write_t *w, int status)
{
	struct node_wr *wr = w->data;
	struct node_conn *c = wr->c;
	struct tsn_node *n = c->n;

	if (status == 0) {
		n->st.tcp_out += wr->bytes;
		c->last_active = node_now(n);
		if (wr->serve && wr->blk != NULL)
			n->st.chunks_served++; /* a CHUNK_DATA reply, written */
	}
	node_blk_unref(n, wr->blk);
	if (wr->serve)
		serve_end(n, c);
	if (status < 0)
		conn_close(c, -ECONNRESET, uv_strerror(status));
	else
		conn_arm(c);
	free(wr);
	node_conn_unref(n, c);
}

/* Write frame f; its block (DATA, PUT) is blk's data, referenced until written. */
static int
conn_write(struct node_conn *c, struct tsn_frame *f, struct node_blk *blk, bool serve)
{
	struct node_wr *wr;
	uv_buf_t bufs[2];
	unsigned nb = 1;
	int len, rc;

	if ((wr = malloc(sizeof(*wr))) == NULL)
		return -ENOMEM;
	if (blk != NULL) {
		f->block = blk->data;
		f->block_len = blk->len;
	}
	if ((len = tsn_frame_encode_head(f, wr->head, sizeof(wr->head))) < 0) {
		free(wr);
		return len;
	}
	bufs[0] = uv_buf_init((char *)wr->head, (unsigned)len);
	wr->bytes = (size_t)len;
	if (blk != NULL) {
		bufs[1] = uv_buf_init((char *)blk->data, (unsigned)blk->len);
		wr->bytes += blk->len;
		nb = 2;
	}
	wr->w.data = wr;
	wr->c = c;
	wr->blk = blk;
	wr->serve = serve;
	if ((rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, nb, on_write)) != 0) {
		free(wr);
		return rc;
	}
	if (blk != NULL)
		blk->refs++;
	c->refs++;
	return 0;
}

/* Send the calls waiting, up to the in-flight cap. */
static void
conn_pump(struct node_conn *c)
{
	for (struct node_call *call = c->calls; call != NULL && c->nsent < NODE_CONN_CALLS_MAX;
	     call = call->next) {
		struct tsn_frame f;

		if (!c->connected || c->closing || c->broken)
			return;
		if (call->sent)
			continue;
		memset(&f, 0, sizeof(f));
		f.type = call->type;
		f.reqid = call->reqid;
		f.status = call->flags;
		f.age_s = call->age_s;
		memcpy(f.id, call->id, TSN_ID_LEN);
		if (conn_write(c, &f, call->blk, false) != 0) {
			conn_close_later(c);
			return;
		}
		call->sent = true;
		c->nsent++;
	}
}

void
node_tcp_reply(struct tsn_node *n, struct node_conn *c, uint8_t type, uint64_t reqid,
               const uint8_t id[TSN_ID_LEN], uint8_t status, struct node_blk *blk)
{
	struct tsn_frame f;

	if (c->closing || c->broken || n->stopping) {
		serve_end(n, c);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.type = type;
	f.reqid = reqid;
	memcpy(f.id, id, TSN_ID_LEN);
	f.status = status;
	if (conn_write(c, &f, blk, true) != 0) {
		serve_end(n, c);
		conn_close_later(c);
	}
}

/* ---- timer: call deadlines, idle ---- */

static void
conn_timer_cb(uv_timer_t *t)
{
	struct node_conn *c = t->data;
	struct tsn_node *n = c->n;
	uint64_t now = node_now(n);

	if (c->closing)
		return;
	if (c->broken) {
		conn_close(c, -EIO, "write failed");
		return;
	}
	while (c->calls != NULL && c->calls->deadline <= now) {
		/* a request sent and unanswered for this long: the peer or the
		 * path is stuck; the other calls go elsewhere too */
		if (c->calls->sent) {
			conn_close(c, -ETIMEDOUT, "request timed out");
			return;
		}
		call_finish(c, c->calls, -ETIMEDOUT, NULL);
		if (c->closing)
			return;
	}
	if (c->calls == NULL && c->serving == 0 && !c->paused &&
	    now >= c->last_active + NODE_IDLE_MS) {
		conn_close(c, -ETIMEDOUT, "idle");
		return;
	}
	/* serving a peer that neither reads our replies nor sends: it holds
	 * serving slots of every peer (NODE_SERVE_MAX), so it goes */
	if (c->serving > 0 && now >= c->last_active + NODE_STALL_MS) {
		conn_close(c, -ETIMEDOUT, "replies not read");
		return;
	}
	conn_arm(c);
}

static void
conn_arm(struct node_conn *c)
{
	uint64_t now, deadline;

	if (c->closing || c->broken)
		return;
	now = node_now(c->n);
	if (c->calls != NULL)
		deadline = c->calls->deadline;
	else if (c->serving == 0 && !c->paused)
		deadline = c->last_active + NODE_IDLE_MS;
	else if (c->serving > 0)
		deadline = c->last_active + NODE_STALL_MS;
	else
		deadline = now + NODE_IDLE_MS;
	uv_timer_start(&c->timer, conn_timer_cb, deadline > now ? deadline - now : 0, 0);
}

/* ---- reads ---- */

static bool
can_serve(const struct node_conn *c)
{
	return c->serving < NODE_CONN_SERVE_MAX && c->n->serving < NODE_SERVE_MAX;
}

static void
conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct node_conn *c = h->data;
	size_t need = (c->want > c->rlen ? c->want : c->rlen) + NODE_RBUF_MIN;
	uint8_t *p;

	(void)suggested;
	if (need > NODE_RBUF_MAX)
		need = NODE_RBUF_MAX;
	if (c->rcap < need) {
		if ((p = realloc(c->rbuf, need)) == NULL) {
			*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS: closed */
			return;
		}
		c->rbuf = p;
		c->rcap = need;
	}
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void
conn_pause(struct node_conn *c)
{
	if (c->paused)
		return;
	c->paused = true;
	c->n->npaused++;
	uv_read_stop((uv_stream_t *)&c->tcp);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

void
node_tcp_serve_done(struct tsn_node *n, struct node_conn *done)
{
	bool again = true;

	(void)done;
	/* A resumed connection may close others (through callbacks), so start
	 * over from the head after each one; each either resumes or pauses
	 * again, no longer servable, so this ends. */
	while (again && n->npaused > 0 && !n->stopping) {
		again = false;
		for (struct node_conn *c = n->conns; c != NULL; c = c->next) {
			if (!c->paused || !can_serve(c))
				continue;
			c->paused = false;
			n->npaused--;
			conn_process(c);
			if (!c->closing && !c->paused) {
				if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, on_read) != 0)
					conn_close(c, -EIO, "cannot read");
				else
					conn_arm(c);
			}
			again = true;
			break;
		}
	}
}

static void
on_reply(struct node_conn *c, const struct tsn_frame *f)
{
	struct tsn_node *n = c->n;
	struct node_call *call;
	struct node_blk *blk;
	bool ok;
	int rc;

	for (call = c->calls; call != NULL; call = call->next)
		if (call->sent && call->reqid == f->reqid)
			break;
	if (call == NULL)
		return; /* a late reply to a call given up */
	ok = call->type == TSN_FRAME_CHUNK_GET ?
	     f->type == TSN_FRAME_CHUNK_DATA || f->type == TSN_FRAME_CHUNK_NONE :
	     f->type == TSN_FRAME_CHUNK_ACK;
	if (!ok || memcmp(f->id, call->id, TSN_ID_LEN) != 0) {
		n->st.frames_malformed++;
		conn_close(c, -EPROTO, "a reply does not match its request");
		return;
	}
	switch (f->type) {
	case TSN_FRAME_CHUNK_DATA:
		if ((blk = node_blk_new(n)) == NULL) {
			call_finish(c, call, -ENOMEM, NULL);
			return;
		}
		memcpy(blk->data, f->block, f->block_len);
		blk->len = f->block_len;
		call_finish(c, call, 0, blk);
		return;
	case TSN_FRAME_CHUNK_NONE:
		rc = tsn_frame_status_errno(f->status);
		call_finish(c, call, rc != 0 ? rc : -EPROTO, NULL);
		return;
	default:
		call_finish(c, call, tsn_frame_status_errno(f->status), NULL);
		return;
	}
}

/* Handle the whole frames buffered, until one is partial or serving is capped. */
static void
conn_process(struct node_conn *c)
{
	struct tsn_node *n = c->n;
	struct tsn_frame f;
	size_t off = 0;

	if (c->processing || c->closing)
		return;
	c->processing = true;
	while (!c->closing && !n->stopping) {
		const uint8_t *p = c->rbuf + off;
		size_t avail = c->rlen - off, flen;
		int rc = tsn_frame_need(p, avail, &flen);

		if (rc == -EAGAIN) {
			c->want = 0;
			break;
		}
		if (rc != 0) {
			n->st.frames_malformed++;
			conn_close(c, -EPROTO, "bad frame length");
			break;
		}
		if (avail < flen) {
			c->want = flen;
			break;
		}
		c->want = 0;
		if (p[4] == TSN_FRAME_VERSION &&
		    (p[5] == TSN_FRAME_CHUNK_GET || p[5] == TSN_FRAME_CHUNK_PUT ||
		     p[5] == TSN_FRAME_CHUNK_COPY || p[5] == TSN_FRAME_CHUNK_HAS) && !can_serve(c)) {
			conn_pause(c);
			break;
		}
		rc = tsn_frame_decode(p, flen, &f);
		off += flen;
		if (rc == -EPROTONOSUPPORT || rc == -EOPNOTSUPP) {
			n->st.frames_bad++;
			continue;
		}
		if (rc != 0) {
			n->st.frames_malformed++;
			conn_close(c, -EPROTO, "malformed frame");
			break;
		}
		switch (f.type) {
		case TSN_FRAME_CHUNK_GET:
		case TSN_FRAME_CHUNK_PUT:
		case TSN_FRAME_CHUNK_COPY:
		case TSN_FRAME_CHUNK_HAS:
			c->serving++;
			n->serving++;
			if (f.type == TSN_FRAME_CHUNK_GET)
				node_chunk_serve_get(n, c, &f);
			else if (f.type != TSN_FRAME_CHUNK_HAS)
				node_chunk_serve_put(n, c, &f);
			else
				node_chunk_serve_has(n, c, &f);
			break;
		default:
			on_reply(c, &f);
			break;
		}
	}
	c->processing = false;
	if (!c->closing && off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct node_conn *c = s->data;
	struct tsn_node *n = c->n;

	(void)buf;
	if (nread < 0) {
		conn_close(c, -ECONNRESET, nread == UV_EOF ? "closed by the peer" :
		                                            uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || c->closing)
		return;
	c->rlen += (size_t)nread;
	n->st.tcp_in += (uint64_t)nread;
	c->last_active = node_now(n);
	conn_process(c);
	conn_arm(c);
}

/* ---- connections in and out ---- */

static void
on_connection(uv_stream_t *server, int status)
{
	struct tsn_node *n = server->data;
	struct sockaddr_storage ss;
	struct node_conn *c;
	int len = sizeof(ss);

	if (status < 0 || n->stopping) {
		tsn_log(TSN_LOG_DEBUG, "node: TCP accept: %s", uv_strerror(status));
		return;
	}
	if ((c = conn_new(n, false)) == NULL)
		return;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c, -EIO, "accept failed");
		return;
	}
	c->connected = true;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		(void)tsn_addr_from_sockaddr(&c->peer, (struct sockaddr *)&ss, (size_t)len);
	if (n->nconns > NODE_CONN_MAX && !evict_idle(n, c)) {
		conn_close(c, -EMFILE, "too many connections");
		return;
	}
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, on_read) != 0) {
		conn_close(c, -EIO, "cannot read");
		return;
	}
	conn_arm(c);
}

int
node_tcp_bind(struct tsn_node *n, const struct sockaddr *sa)
{
	int rc;

	if ((rc = uv_tcp_init(&n->loop, &n->listener)) != 0)
		return rc;
	n->listener.data = n;
	if ((rc = uv_tcp_bind(&n->listener, sa, 0)) != 0)
		return rc;
	/* a port taken may only show here */
	return uv_listen((uv_stream_t *)&n->listener, 128, on_connection);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct node_conn *c = req->data;

	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c, status, uv_strerror(status));
		return;
	}
	c->connected = true;
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, on_read) != 0) {
		conn_close(c, -EIO, "cannot read");
		return;
	}
	conn_pump(c);
	conn_arm(c);
}

static struct node_conn *
find_out(struct tsn_node *n, const struct tsn_addr *to)
{
	for (struct node_conn *c = n->conns; c != NULL; c = c->next)
		if (c->outgoing && !c->broken && tsn_addr_eq(&c->peer, to))
			return c;
	return NULL;
}

struct node_call *
node_tcp_call(struct tsn_node *n, const struct tsn_addr *to, uint8_t type,
              const uint8_t id[TSN_ID_LEN], struct node_blk *blk, uint32_t age_s,
              node_call_fn done, void *owner, int *err)
{
	struct sockaddr_storage ss;
	struct node_conn *c;
	struct node_call *call;
	int rc;

	if (n->stopping) {
		*err = -ECANCELED;
		return NULL;
	}
	if ((c = find_out(n, to)) == NULL) {
		if ((rc = tsn_addr_to_sockaddr(to, &ss)) < 0) {
			*err = rc;
			return NULL;
		}
		if (n->nconns >= NODE_CONN_MAX && !evict_idle(n, NULL)) {
			*err = -EMFILE;
			return NULL;
		}
		if ((c = conn_new(n, true)) == NULL) {
			*err = -ENOMEM;
			return NULL;
		}
		c->peer = *to;
		c->connect.data = c;
		if ((rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&ss, on_connect)) != 0) {
			conn_close(c, rc, uv_strerror(rc));
			*err = rc;
			return NULL;
		}
	}
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	call->conn = c;
	call->reqid = ++c->next_reqid;
	call->type = (uint8_t)(type & ~NODE_CALL_REFRESH);
	call->flags = (type & NODE_CALL_REFRESH) ? TSN_FRAME_HAS_REFRESH : 0;
	call->age_s = age_s;
	memcpy(call->id, id, TSN_ID_LEN);
	call->blk = blk;
	if (blk != NULL)
		blk->refs++;
	call->deadline = node_now(n) + NODE_ATTEMPT_MS;
	call->done = done;
	call->owner = owner;
	call->prev = c->calls_tail;
	if (c->calls_tail != NULL)
		c->calls_tail->next = call;
	else
		c->calls = call;
	c->calls_tail = call;
	c->ncalls++;
	conn_pump(c);
	conn_arm(c);
	return call;
}

void
node_tcp_call_cancel(struct tsn_node *n, struct node_call *call)
{
	struct node_conn *c = call->conn;

	call_unlink(c, call);
	node_blk_unref(n, call->blk);
	free(call);
	conn_arm(c);
}
