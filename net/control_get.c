/*
 * control_get.c: the GET request: DATA frames of the file a URI names, then
 * END, or ERR naming the chunk that failed.
 *
 * The file is read through a tsn_reader whose fetch looks first in a
 * read-ahead window: while chunk k is decoded and sent, the fetches of
 * chunks k..k+TSN_CTL_READAHEAD-1 are in flight at the node
 * (tsn_node_fetch_chunk: local store first, else the network), so a
 * sequential get waits on about one round trip per window, not per chunk.
 * Blocks that are not in the window (index nodes, a fetch the node's queue
 * refused) are fetched synchronously with tsn_node_fetch. Every block is
 * checked by the reader (id, then tag) whatever path it took.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control_i.h"
#include "node.h"
#include "tree.h"
#include "util.h"

enum { RA_FREE = 0, RA_BUSY, RA_DONE };

struct readahead;

struct ra_slot {
	struct readahead *ra;
	uint64_t idx;             /* data chunk index */
	uint8_t id[TSN_ID_LEN];
	uint8_t *buf;             /* TSN_BLOCK_MAX bytes */
	long len;                 /* result of the fetch */
	int state;
};

struct readahead {
	struct tsn_control *srv;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next;            /* next chunk index to fetch ahead */
	uint64_t nchunks;
	struct ra_slot slot[TSN_CTL_READAHEAD];
};

static void
ra_done(void *ud, long len)
{
	struct ra_slot *sl = ud;
	struct readahead *ra = sl->ra;

	pthread_mutex_lock(&ra->mu);
	sl->len = len;
	sl->state = RA_DONE;
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
}

/* The reader's tsn_fetch_fn. */
static long
ra_fetch(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap)
{
	struct readahead *ra = ud;
	struct ra_slot *best = NULL;
	long n;

	pthread_mutex_lock(&ra->mu);
	for (unsigned i = 0; i < TSN_CTL_READAHEAD; i++) {
		struct ra_slot *sl = &ra->slot[i];
		if (sl->state != RA_FREE && memcmp(sl->id, id, TSN_ID_LEN) == 0 &&
		    (best == NULL || sl->idx < best->idx))
			best = sl;
	}
	if (best != NULL) {
		while (best->state == RA_BUSY)
			pthread_cond_wait(&ra->cv, &ra->mu);
		n = best->len;
		if (n > 0 && (size_t)n <= cap)
			memcpy(buf, best->buf, (size_t)n);
		else if (n > 0)
			n = -EMSGSIZE;
		best->state = RA_FREE;
		pthread_mutex_unlock(&ra->mu);
		/* A failed fetch ahead is tried once more now: the holders may
		 * have answered late or changed meanwhile. */
		if (n >= 0 || ctl_stopping(ra->srv))
			return n;
	} else
		pthread_mutex_unlock(&ra->mu);
	if (ctl_stopping(ra->srv))
		return -ECANCELED;
	if (ra->srv->node == NULL)
		return tsn_store_fetch(ra->srv->store, id, buf, cap);
	return tsn_node_fetch(ra->srv->node, id, buf, cap);
}

/* Start the fetches of chunks cur..cur+window-1 that are not under way. */
static void
ra_top_up(struct readahead *ra, struct tsn_reader *r, uint64_t cur)
{
	if (ra->srv->node == NULL)
		return;
	if (ra->next < cur)
		ra->next = cur;
	while (ra->next < ra->nchunks && ra->next < cur + TSN_CTL_READAHEAD) {
		struct tsn_chunk_ref ref;
		struct ra_slot *sl = NULL;
		int rc;
		pthread_mutex_lock(&ra->mu);
		for (unsigned i = 0; i < TSN_CTL_READAHEAD && sl == NULL; i++) {
			struct ra_slot *x = &ra->slot[i];
			/* A finished fetch the reader went past (it took a twin
			 * block from another slot) is stale. */
			if (x->state == RA_DONE && x->idx < cur)
				x->state = RA_FREE;
			if (x->state == RA_FREE)
				sl = x;
		}
		pthread_mutex_unlock(&ra->mu);
		if (sl == NULL)
			return;
		/* May fetch an index node (through ra_fetch, synchronously). */
		if (tsn_reader_chunk_ref(r, ra->next, &ref) != 0)
			return; /* the reader meets the same error and reports it */
		pthread_mutex_lock(&ra->mu);
		memcpy(sl->id, ref.id, TSN_ID_LEN);
		sl->idx = ra->next;
		sl->state = RA_BUSY;
		pthread_mutex_unlock(&ra->mu);
		sodium_memzero(ref.key, sizeof(ref.key));
		rc = tsn_node_fetch_chunk(ra->srv->node, sl->id, sl->buf, TSN_BLOCK_MAX, ra_done, sl);
		if (rc != 0) {
			/* Queue full: the reader will fetch this one itself. */
			pthread_mutex_lock(&ra->mu);
			sl->state = RA_FREE;
			pthread_mutex_unlock(&ra->mu);
			return;
		}
		ra->next++;
	}
}

/* Wait for every fetch in flight (their buffers must outlive them). */
static void
ra_drain(struct readahead *ra)
{
	pthread_mutex_lock(&ra->mu);
	for (unsigned i = 0; i < TSN_CTL_READAHEAD; i++)
		while (ra->slot[i].state == RA_BUSY)
			pthread_cond_wait(&ra->cv, &ra->mu);
	pthread_mutex_unlock(&ra->mu);
}

static int
ra_init(struct readahead *ra, struct tsn_control *s)
{
	memset(ra, 0, sizeof(*ra));
	ra->srv = s;
	for (unsigned i = 0; i < TSN_CTL_READAHEAD; i++) {
		ra->slot[i].ra = ra;
		if (s->node != NULL && (ra->slot[i].buf = malloc(TSN_BLOCK_MAX)) == NULL) {
			while (i-- > 0)
				free(ra->slot[i].buf);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&ra->mu, NULL);
	pthread_cond_init(&ra->cv, NULL);
	return 0;
}

static void
ra_free(struct readahead *ra)
{
	ra_drain(ra);
	for (unsigned i = 0; i < TSN_CTL_READAHEAD; i++)
		free(ra->slot[i].buf);
	pthread_cond_destroy(&ra->cv);
	pthread_mutex_destroy(&ra->mu);
}

/* ERR for a failed read: the reader's line names the chunk. */
static int
send_read_err(struct ctl_conn *c, int rc, const char *what)
{
	if (rc == -ENOENT)
		return ctl_send_err(c, rc, "%s: not in the local store, and no peer answered "
		                    "with it", what);
	if (rc == -ECANCELED)
		return ctl_send_err(c, rc, "the node is stopping");
	return ctl_send_err(c, rc, "%s", what);
}

int
ctl_do_get(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	struct tsn_control *s = c->srv;
	struct readahead ra;
	struct tsn_reader *r = NULL;
	struct tsn_uri uri;
	const char *why = NULL;
	char err[256];
	uint32_t csize;
	int rc;

	if (tsn_ctl_uri_decode(p, len, &uri, &why) != 0)
		return ctl_send_err(c, -EINVAL, "malformed URI: %s", why ? why : "invalid");
	if (ra_init(&ra, s) != 0)
		return ctl_send_err(c, -ENOMEM, "out of memory");
	rc = tsn_reader_open_err(&r, &uri, ra_fetch, &ra, err, sizeof(err));
	if (rc != 0) {
		rc = send_read_err(c, rc, err);
		goto out;
	}
	csize = tsn_reader_chunk_size(r);
	ra.nchunks = (uri.size + csize - 1) / csize;
	/* One chunk per DATA frame: chunk sizes never exceed TSN_CTL_DATA_MAX. */
	for (uint64_t k = 0; k < ra.nchunks; k++) {
		ssize_t n;
		if (ctl_stopping(s)) {
			rc = ctl_send_err(c, -ECANCELED, "the node is stopping");
			goto out;
		}
		ra_top_up(&ra, r, k);
		n = tsn_reader_pread(r, c->buf, csize, k * csize);
		if (n <= 0) {
			rc = send_read_err(c, n < 0 ? (int)n : -EIO,
			                   n < 0 ? tsn_reader_error(r) : "unexpected end of file");
			goto out;
		}
		if ((rc = ctl_send(c, TSN_CTL_DATA, c->buf, (size_t)n)) != 0)
			goto out;
	}
	rc = ctl_send(c, TSN_CTL_END, NULL, 0);
out:
	ra_free(&ra);
	tsn_reader_free(r);
	sodium_memzero(&uri, sizeof(uri));
	return rc;
}
