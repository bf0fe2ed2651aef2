/*
 * control_put.c: the PUT request. The client streams the file in DATA
 * frames; the blocks are encoded (tsn_encoder, several threads) into the
 * store as pending, the file is committed (pinned), then every block of its
 * tree is pushed to the network with a bounded window of pushes in flight.
 *
 * Exactly one reply: an ERR as soon as the upload fails (the rest of the
 * DATA up to END is then read and dropped, so the client may stop early),
 * or, after END, OK with the URI and the push summary, or ERR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "control_i.h"
#include "publish.h"
#include "node.h"
#include "tree.h"
#include "util.h"

#define EAGAIN_WAIT_MS 30000 /* how long a push waits for room in the node's queue */

struct put_state {
	struct tsn_control *srv;
	int err;            /* first error of the upload (-errno), 0 if none */
	char why[512];      /* its text */
};

static int
put_block(void *ud, const struct tsn_chunk_ref *ref, int kind, const uint8_t *block, size_t len)
{
	struct put_state *p = ud;

	(void)kind;
	return tsn_store_chunk_put(p->srv->store, ref->id, block, len, TSN_CHUNK_PENDING);
}

/* Record the first failure; texts leave the file's name to the client. */
static void
fail(struct put_state *p, int err)
{
	if (p->err != 0)
		return;
	p->err = err;
	if (err == -ENOSPC)
		snprintf(p->why, sizeof(p->why), "no space left: the store's quota or the disk "
		         "is full (nothing was recorded; see `tsn stat`, `tsn gc`, --quota)");
	else if (err == -EFBIG)
		snprintf(p->why, sizeof(p->why), "file too large for TSN");
	else if (err == -ECANCELED)
		snprintf(p->why, sizeof(p->why), "the node is stopping");
	else
		snprintf(p->why, sizeof(p->why), "cannot store: %s", strerror(-err));
}

/* ---- pushing a committed file ---- */

struct push_state {
	struct tsn_control *srv;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned inflight;
	uint32_t done;            /* pushes completed */
	uint8_t last[TSN_ID_LEN]; /* skip a block repeated right after itself */
	int have_last;
	struct tsn_ctl_put_result *res;
};

static void
note_replicas(struct push_state *ps, int status)
{
	/* A push that placed nothing leaves the block on this node only. */
	unsigned r = status > 0 ? (unsigned)status : 1;

	if (r < ps->res->wanted)
		ps->res->short_++;
	if (r > UINT16_MAX)
		r = UINT16_MAX;
	if (++ps->done == 1 || r < ps->res->min_replicas)
		ps->res->min_replicas = (uint16_t)r;
	if (r > ps->res->max_replicas)
		ps->res->max_replicas = (uint16_t)r;
}

static void
push_done(void *ud, int status)
{
	struct push_state *ps = ud;

	pthread_mutex_lock(&ps->mu);
	if (status < 0 && status != -ECANCELED)
		tsn_log(TSN_LOG_DEBUG, "control: push: %s", strerror(-status));
	note_replicas(ps, status);
	ps->inflight--;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
}

static int
push_one(void *ud, const struct tsn_chunk_ref *ref, int kind)
{
	struct push_state *ps = ud;
	struct timespec t0, now;
	int rc;

	(void)kind;
	if (ps->have_last && memcmp(ps->last, ref->id, TSN_ID_LEN) == 0)
		return 0;
	memcpy(ps->last, ref->id, TSN_ID_LEN);
	ps->have_last = 1;
	pthread_mutex_lock(&ps->mu);
	while (ps->inflight >= TSN_CTL_PUSH_WINDOW)
		pthread_cond_wait(&ps->cv, &ps->mu);
	ps->res->chunks++;
	ps->inflight++;
	pthread_mutex_unlock(&ps->mu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ctl_stopping(ps->srv)) {
			rc = -ECANCELED;
			break;
		}
		rc = tsn_node_push_chunk(ps->srv->node, ref->id, push_done, ps);
		if (rc != -EAGAIN)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >
		    EAGAIN_WAIT_MS)
			break;
		usleep(5000); /* the node's queue is full: let it drain */
	}
	if (rc != 0) {
		/* The callback will not run: account for the push here. */
		push_done(ps, rc);
		if (rc == -ECANCELED)
			return rc;
	}
	return 0;
}

/* Push every block of the file at uri (in the local store). Fills res. */
static int
push_file(struct tsn_control *s, const struct tsn_uri *uri, struct tsn_ctl_put_result *res)
{
	struct push_state ps = {.srv = s, .res = res};
	struct tsn_reader *r = NULL;
	int rc;

	res->uri = *uri;
	if (s->node == NULL) {
		res->min_replicas = res->max_replicas = res->wanted = 1;
		return 0;
	}
	{
		struct tsn_node_status ns;
		tsn_node_status(s->node, &ns);
		res->wanted = (uint16_t)(ns.replicas > UINT16_MAX ? UINT16_MAX : ns.replicas);
	}
	if ((rc = tsn_reader_open(&r, uri, tsn_store_fetch, s->store)) != 0)
		return rc;
	pthread_mutex_init(&ps.mu, NULL);
	pthread_cond_init(&ps.cv, NULL);
	rc = tsn_reader_walk(r, push_one, &ps);
	pthread_mutex_lock(&ps.mu);
	while (ps.inflight > 0)
		pthread_cond_wait(&ps.cv, &ps.mu);
	pthread_mutex_unlock(&ps.mu);
	pthread_cond_destroy(&ps.cv);
	pthread_mutex_destroy(&ps.mu);
	tsn_reader_free(r);
	return rc;
}

/* ---- the request ---- */

/* Read DATA frames into the encoder until END. Returns 0 when END came (the
 * upload may have failed: p->err), or -errno when the connection must close. */
static int
upload(struct ctl_conn *c, struct put_state *p, struct tsn_encoder *enc)
{
	for (;;) {
		uint8_t type = 0;
		long n = ctl_recv(c, &type);
		int rc;
		if (n == -ECANCELED)
			fail(p, -ECANCELED);
		if (n < 0)
			return (int)n;
		if (type == TSN_CTL_END)
			return 0;
		if (type != TSN_CTL_DATA) {
			tsn_log(TSN_LOG_WARN, "control: connection %u: frame type %u inside a PUT: "
			        "closed", c->id, type);
			return -EBADMSG;
		}
		if (p->err != 0)
			continue; /* failed already: drop the rest up to END */
		if ((rc = tsn_encoder_write(enc, c->buf, (size_t)n)) != 0) {
			fail(p, rc);
			/* Tell the client now so it stops sending. */
			if ((rc = ctl_send_err(c, p->err, "%s", p->why)) != 0)
				return rc;
		}
	}
}

static void
drop_pending_if_alone(struct tsn_control *s)
{
	/* Pending chunks of this process may belong to another put under way;
	 * only the last put running may drop them all. */
	pthread_mutex_lock(&s->lock);
	if (s->puts_active == 1)
		tsn_store_drop_pending(s->store, NULL);
	pthread_mutex_unlock(&s->lock);
}

int
ctl_do_put(struct ctl_conn *c, const uint8_t *pl, size_t len)
{
	struct tsn_control *s = c->srv;
	struct put_state p = {.srv = s};
	struct tsn_encoder_opts eo = {.threads = s->threads};
	struct tsn_ctl_put_result res;
	struct tsn_encoder *enc = NULL;
	struct tsn_file_info info;
	struct tsn_secret priv;
	uint8_t ok[TSN_CTL_PUT_OK_LEN];
	char name[TSN_CTL_NAME_MAX + 1], kw[TSN_CTL_KEYWORDS_MAX + 1];
	unsigned flags = 0;
	int early, rc;

	if (tsn_ctl_put_decode(pl, len, &flags, name, kw) != 0) {
		tsn_log(TSN_LOG_WARN, "control: connection %u: malformed PUT: closed", c->id);
		return -EBADMSG;
	}
	memset(&info, 0, sizeof(info));
	memset(&res, 0, sizeof(res));
	snprintf(info.name, sizeof(info.name), "%s", name[0] != '\0' ? name : "stdin");
	eo.conv = &tsn_secret_public;
	if (flags & TSN_CTL_PUT_PRIVATE) {
		if ((rc = tsn_store_private_secret(s->store, &priv)) != 0) {
			p.err = rc;
			snprintf(p.why, sizeof(p.why), "cannot read or create the private secret in "
			         "%s: %s", tsn_store_path(s->store), strerror(-rc));
		}
		eo.conv = &priv;
	}
	if (p.err == 0 && (rc = tsn_encoder_new(&enc, &eo, put_block, &p)) != 0) {
		p.err = rc;
		snprintf(p.why, sizeof(p.why), "cannot start the encoder: %s", strerror(-rc));
	}
	pthread_mutex_lock(&s->lock);
	s->puts_active++;
	pthread_mutex_unlock(&s->lock);
	/* A failure before the first DATA is answered at once as well. */
	if (p.err != 0 && (rc = ctl_send_err(c, p.err, "%s", p.why)) != 0)
		goto out;
	early = p.err != 0;
	if ((rc = upload(c, &p, enc)) != 0) {
		/* The client went away (or broke the protocol) mid-file. */
		drop_pending_if_alone(s);
		goto out;
	}
	early = early || p.err != 0;
	if (p.err == 0 && (rc = tsn_encoder_finish(enc, &info.uri)) != 0)
		fail(&p, rc);
	if (p.err == 0) {
		info.private_ = (flags & TSN_CTL_PUT_PRIVATE) != 0;
		info.mtime = (uint64_t)time(NULL);
		if ((rc = tsn_store_file_commit(s->store, &info)) != 0) {
			p.err = rc;
			snprintf(p.why, sizeof(p.why), "cannot record the file: %s",
			         rc == -ENOSPC ? "no space left (store quota or disk full)"
			                       : strerror(-rc));
		}
	}
	if (p.err != 0) {
		drop_pending_if_alone(s);
		rc = early ? 0 : ctl_send_err(c, p.err, "%s", p.why);
		goto out;
	}
	/* Committed: the file is safe here whatever the pushes do. */
	if ((rc = push_file(s, &info.uri, &res)) != 0)
		tsn_log(TSN_LOG_WARN, "control: put %s: pushing stopped: %s", info.name,
		        strerror(-rc));
	tsn_log(TSN_LOG_INFO, "control: put %s: %u blocks pushed, copies %u..%u of %u wanted "
	        "(%u blocks short)", info.name, res.chunks, res.min_replicas, res.max_replicas,
	        res.wanted, res.short_);
	/* Public files only: a private file's URI is not given out. */
	if (s->publisher != NULL && !info.private_ &&
	    (rc = tsn_publisher_share(s->publisher, &info.uri, info.name, kw, strlen(kw))) < 0)
		tsn_log(TSN_LOG_INFO, "control: put %s: no keyword published: %s", info.name,
		        strerror(-rc));
	tsn_ctl_put_ok_encode(ok, &res);
	rc = ctl_send(c, TSN_CTL_OK, ok, sizeof(ok));
out:
	pthread_mutex_lock(&s->lock);
	s->puts_active--;
	pthread_mutex_unlock(&s->lock);
	tsn_encoder_free(enc);
	sodium_memzero(&priv, sizeof(priv));
	sodium_memzero(&info, sizeof(info));
	return rc;
}
