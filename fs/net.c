/*
 * net.c: reads of uri/ entries, through the network.
 *
 * Each open entry has a reader (tree.h) whose fetch function takes blocks
 * from a small set of slots, each a block buffer that an asynchronous
 * tsn_node_fetch_chunk fills. The reader's thread waits for its slot with
 * a deadline (the mount's timeout) and honours FUSE interrupts: a read
 * interrupted (Ctrl-C) returns EINTR at once, a chunk nobody returns in
 * time EIO with a log line naming it. Slots outlive a timed-out wait: the
 * node's callback still writes into them, so they are freed only after it
 * ran (a reference per fetch in flight). A block is handed to the reader
 * by trading the slot's buffer for the reader's (tsn_reader_fetch_swaps),
 * not copied.
 *
 * Read-ahead: on sequential reads, the next FS_RA_CHUNKS chunks are
 * fetched into free slots; every handle has FS_NET_SLOTS, and all handles
 * together at most FS_NET_BUFS_MAX buffers for read-ahead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "node.h"
#include "util.h"

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_DONE };

struct fs_net;

struct fs_slot {
	struct fs_net *net;
	uint8_t id[TSN_ID_LEN];
	uint8_t *buf;        /* TSN_BLOCK_MAX bytes, or NULL */
	long len;            /* result, once DONE */
	uint64_t index;      /* data chunk index; UINT64_MAX: a node */
	int state;
};

/* The read under way: where its interrupt lands. */
struct fs_wait {
	struct fs_net *net;
	int interrupted;
};

struct fs_net {
	struct tsn_fs *fs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned refs;          /* the handle, plus one per fetch in flight */
	struct fs_wait *cur;    /* the read using the reader */
	struct fs_slot slot[FS_NET_SLOTS];
	uint64_t next_ra;       /* first chunk not yet read ahead */
	uint64_t last;          /* chunk index of the last read */
	int have_last;
};

static void
net_free(struct fs_net *nr)
{
	struct tsn_fs *fs = nr->fs;
	unsigned bufs = 0;

	for (int i = 0; i < FS_NET_SLOTS; i++)
		if (nr->slot[i].buf != NULL) {
			/* Traded with the reader's buffers: may hold plaintext. */
			explicit_bzero(nr->slot[i].buf, TSN_BLOCK_MAX);
			free(nr->slot[i].buf);
			bufs++;
		}
	pthread_mutex_lock(&fs->net_mu);
	fs->net_bufs -= bufs;
	pthread_mutex_unlock(&fs->net_mu);
	pthread_cond_destroy(&nr->cv);
	pthread_mutex_destroy(&nr->mu);
	free(nr);
}

int
fs_net_open(struct tsn_fs *fs, struct fs_handle *h)
{
	struct fs_net *nr = calloc(1, sizeof(*nr));
	pthread_condattr_t ca;

	if (nr == NULL)
		return -ENOMEM;
	nr->fs = fs;
	nr->refs = 1;
	pthread_mutex_init(&nr->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&nr->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < FS_NET_SLOTS; i++)
		nr->slot[i].net = nr;
	h->net = nr;
	return 0;
}

void
fs_net_close(struct fs_handle *h)
{
	struct fs_net *nr = h->net;
	unsigned left;

	if (nr == NULL)
		return;
	h->net = NULL;
	pthread_mutex_lock(&nr->mu);
	left = --nr->refs;
	pthread_mutex_unlock(&nr->mu);
	if (left == 0)
		net_free(nr);
}

/* The node's callback (loop thread): never blocks beyond nr->mu. */
static void
fetched(void *ud, long len)
{
	struct fs_slot *s = ud;
	struct fs_net *nr = s->net;
	unsigned left;

	pthread_mutex_lock(&nr->mu);
	s->len = len;
	s->state = SLOT_DONE;
	left = --nr->refs;
	pthread_cond_broadcast(&nr->cv);
	pthread_mutex_unlock(&nr->mu);
	if (left == 0)
		net_free(nr);
}

/* Give s a buffer (read-ahead respects the global cap). Caller holds nr->mu. */
static int
slot_buf(struct fs_net *nr, struct fs_slot *s, int readahead)
{
	struct tsn_fs *fs = nr->fs;
	int ok;

	if (s->buf != NULL)
		return 0;
	pthread_mutex_lock(&fs->net_mu);
	ok = !readahead || fs->net_bufs < FS_NET_BUFS_MAX;
	if (ok)
		fs->net_bufs++;
	pthread_mutex_unlock(&fs->net_mu);
	if (!ok)
		return -EAGAIN;
	if ((s->buf = malloc(TSN_BLOCK_MAX)) == NULL) {
		pthread_mutex_lock(&fs->net_mu);
		fs->net_bufs--;
		pthread_mutex_unlock(&fs->net_mu);
		return -ENOMEM;
	}
	return 0;
}

/* Start fetching id into s. Caller holds nr->mu. */
static int
slot_fetch(struct fs_net *nr, struct fs_slot *s, const uint8_t id[TSN_ID_LEN], uint64_t index)
{
	int rc;

	memcpy(s->id, id, TSN_ID_LEN);
	s->index = index;
	s->state = SLOT_BUSY;
	nr->refs++;
	rc = tsn_node_fetch_chunk(nr->fs->node, id, s->buf, TSN_BLOCK_MAX, fetched, s);
	if (rc < 0) {
		s->state = SLOT_FREE;
		nr->refs--;
	}
	return rc;
}

static struct fs_slot *
slot_find(struct fs_net *nr, const uint8_t id[TSN_ID_LEN])
{
	for (int i = 0; i < FS_NET_SLOTS; i++)
		if (nr->slot[i].state != SLOT_FREE && memcmp(nr->slot[i].id, id, TSN_ID_LEN) == 0)
			return &nr->slot[i];
	return NULL;
}

/* A free slot, or one holding read-ahead nobody used (dropped). */
static struct fs_slot *
slot_take(struct fs_net *nr)
{
	struct fs_slot *done = NULL;

	for (int i = 0; i < FS_NET_SLOTS; i++) {
		if (nr->slot[i].state == SLOT_FREE)
			return &nr->slot[i];
		if (nr->slot[i].state == SLOT_DONE && done == NULL)
			done = &nr->slot[i];
	}
	if (done != NULL)
		done->state = SLOT_FREE;
	return done;
}

static void
deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void
log_chunk(const uint8_t id[TSN_ID_LEN], const char *why)
{
	char hex[2 * TSN_ID_LEN + 1];

	tsn_hex(id, TSN_ID_LEN, hex);
	tsn_log(TSN_LOG_WARN, "mount: chunk %s: %s", hex, why);
}

/* Wait for s (caller holds nr->mu). Returns 0, -EINTR or -ETIMEDOUT. */
static int
slot_wait(struct fs_net *nr, struct fs_slot *s, const uint8_t id[TSN_ID_LEN])
{
	struct tsn_fs *fs = nr->fs;
	struct timespec dl, step;
	int rc = 0, too_many;

	pthread_mutex_lock(&fs->net_mu);
	too_many = fs->net_waiters >= FS_NET_WAITERS_MAX;
	if (!too_many)
		fs->net_waiters++;
	pthread_mutex_unlock(&fs->net_mu);
	if (too_many) {
		log_chunk(id, "too many reads waiting on the network");
		return -EAGAIN;
	}
	/* The node answers by its own deadline (the same timeout); ours is a
	 * backstop a little later. */
	deadline_in(&dl, fs->timeout_ms + 1000);
	while (s->state == SLOT_BUSY && memcmp(s->id, id, TSN_ID_LEN) == 0) {
		if (nr->cur != NULL && nr->cur->interrupted) {
			rc = -EINTR;
			break;
		}
		/* Unmounted meanwhile (the connection is gone): stop waiting. */
		if (fs->se != NULL && fuse_session_exited(fs->se)) {
			rc = -EINTR;
			break;
		}
		deadline_in(&step, FS_WAIT_STEP_MS);
		if (step.tv_sec > dl.tv_sec || (step.tv_sec == dl.tv_sec && step.tv_nsec > dl.tv_nsec))
			step = dl;
		if (pthread_cond_timedwait(&nr->cv, &nr->mu, &step) == ETIMEDOUT &&
		    s->state == SLOT_BUSY && step.tv_sec == dl.tv_sec && step.tv_nsec == dl.tv_nsec) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_lock(&fs->net_mu);
	fs->net_waiters--;
	if (rc == -ETIMEDOUT)
		fs->net_timeouts++;
	pthread_mutex_unlock(&fs->net_mu);
	return rc;
}

/*
 * Fetch id for the reader into *buf (cap bytes). With swap, a block that
 * landed in a slot is handed over by trading buffers (both malloc'ed,
 * TSN_BLOCK_MAX bytes) instead of copied.
 */
static long
net_fetch_into(struct fs_net *nr, const uint8_t id[TSN_ID_LEN], uint8_t **buf, size_t cap,
               int swap)
{
	struct fs_slot *s;
	long len;
	int rc, tries = 0;

	if (nr->fs->node == NULL)
		return tsn_store_fetch(nr->fs->store, id, *buf, cap);
	pthread_mutex_lock(&nr->mu);
again:
	if ((s = slot_find(nr, id)) == NULL) {
		if ((s = slot_take(nr)) == NULL) {
			/* Every slot busy with read-ahead: use the first's buffer
			 * once it is done. */
			s = &nr->slot[0];
			if ((rc = slot_wait(nr, s, s->id)) < 0)
				goto fail;
			s->state = SLOT_FREE;
		}
		if ((rc = slot_buf(nr, s, 0)) < 0 || (rc = slot_fetch(nr, s, id, UINT64_MAX)) < 0)
			goto fail;
	}
	if ((rc = slot_wait(nr, s, id)) < 0)
		goto fail;
	len = s->len;
	s->state = SLOT_FREE;
	if ((len == -ECANCELED || len == -EAGAIN) && tries++ == 0)
		goto again; /* a read-ahead that did not run: once more */
	if (len > 0) {
		if ((size_t)len > cap) {
			len = -EMSGSIZE;
		} else if (swap && cap == TSN_BLOCK_MAX) {
			uint8_t *t = *buf;

			*buf = s->buf;
			s->buf = t;
		} else {
			memcpy(*buf, s->buf, (size_t)len);
		}
	} else if (len == -ENOENT || len == -ETIMEDOUT)
		log_chunk(id, len == -ENOENT ? "no holder has it" :
		              "no holder answered in time");
	pthread_mutex_unlock(&nr->mu);
	return len;
fail:
	if (rc == -ETIMEDOUT)
		log_chunk(id, "no holder answered in time");
	pthread_mutex_unlock(&nr->mu);
	return rc;
}

/* tsn_fetch_fn of the reader (the root, at open): ud is the fs_net. */
static long
net_fetch(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t *buf, size_t cap)
{
	return net_fetch_into(ud, id, &buf, cap, 0);
}

/* tsn_fetch_swap_fn of the reader afterwards: one copy of each block less. */
static long
net_fetch_swap(void *ud, const uint8_t id[TSN_ID_LEN], uint8_t **buf, size_t cap)
{
	return net_fetch_into(ud, id, buf, cap, 1);
}

/* Fetch the chunks after `last` into free slots. Caller holds h->mu. */
static void
read_ahead(struct fs_handle *h, uint64_t last)
{
	struct fs_net *nr = h->net;
	struct tsn_chunk_ref ref;
	uint64_t cs = tsn_reader_chunk_size(h->rd), size = tsn_reader_size(h->rd);
	uint64_t nchunks = (size + cs - 1) / cs;
	struct fs_slot *s;

	if (nr->next_ra <= last)
		nr->next_ra = last + 1;
	while (nr->next_ra < nchunks && nr->next_ra <= last + FS_RA_CHUNKS) {
		if (tsn_reader_chunk_ref(h->rd, nr->next_ra, &ref) < 0)
			return;
		pthread_mutex_lock(&nr->mu);
		s = NULL;
		if (slot_find(nr, ref.id) == NULL) {
			for (int i = 0; i < FS_NET_SLOTS && s == NULL; i++)
				if (nr->slot[i].state == SLOT_FREE)
					s = &nr->slot[i];
			if (s == NULL || slot_buf(nr, s, 1) < 0 ||
			    slot_fetch(nr, s, ref.id, nr->next_ra) < 0) {
				pthread_mutex_unlock(&nr->mu);
				return;
			}
		}
		pthread_mutex_unlock(&nr->mu);
		nr->next_ra++;
	}
}

/* Drop read-ahead behind the reader (a jump back or forward). */
static void
drop_behind(struct fs_net *nr, uint64_t index)
{
	pthread_mutex_lock(&nr->mu);
	for (int i = 0; i < FS_NET_SLOTS; i++)
		if (nr->slot[i].state == SLOT_DONE && nr->slot[i].index != UINT64_MAX &&
		    (nr->slot[i].index < index || nr->slot[i].index > index + 2 * FS_RA_CHUNKS))
			nr->slot[i].state = SLOT_FREE;
	pthread_mutex_unlock(&nr->mu);
}

static void
on_interrupt(fuse_req_t req, void *data)
{
	struct fs_wait *w = data;

	(void)req;
	pthread_mutex_lock(&w->net->mu);
	w->interrupted = 1;
	pthread_cond_broadcast(&w->net->cv);
	pthread_mutex_unlock(&w->net->mu);
}

/* Take h->mu with a deadline, giving up when the request is interrupted. */
static int
lock_handle(struct tsn_fs *fs, struct fs_handle *h, fuse_req_t req)
{
	struct timespec end, step;
	int rc;

	deadline_in(&end, 3 * fs->timeout_ms + 1000);
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &step);
		step.tv_nsec += 100 * 1000000L;
		if (step.tv_nsec >= 1000000000) {
			step.tv_sec++;
			step.tv_nsec -= 1000000000;
		}
		if ((rc = pthread_mutex_timedlock(&h->mu, &step)) == 0)
			return 0;
		if (rc != ETIMEDOUT)
			return -rc;
		if (fuse_req_interrupted(req) || (fs->se != NULL && fuse_session_exited(fs->se)))
			return -EINTR;
		clock_gettime(CLOCK_MONOTONIC, &step);
		if (step.tv_sec > end.tv_sec ||
		    (step.tv_sec == end.tv_sec && step.tv_nsec >= end.tv_nsec))
			return -ETIMEDOUT;
	}
}

ssize_t
fs_net_read(struct tsn_fs *fs, struct fs_handle *h, fuse_req_t req, char *buf, size_t len,
            uint64_t off)
{
	struct fs_net *nr = h->net;
	struct fs_wait w = {.net = nr};
	struct fs_node *n = h->node;
	char why[256];
	uint64_t cs, first, last;
	ssize_t got;
	int rc;

	if (off >= n->uri.size || len == 0)
		return 0;
	if ((rc = lock_handle(fs, h, req)) < 0)
		return rc == -EINTR ? -EINTR : -EIO;
	fuse_req_interrupt_func(req, on_interrupt, &w);
	pthread_mutex_lock(&nr->mu);
	nr->cur = &w;
	pthread_mutex_unlock(&nr->mu);
	if (h->rd == NULL) {
		rc = tsn_reader_open_err(&h->rd, &n->uri, net_fetch, nr, why, sizeof(why));
		if (rc < 0) {
			if (rc != -EINTR)
				tsn_log(TSN_LOG_WARN, "mount: uri/%.20s...: %s", n->name, why);
			got = rc == -EINTR ? -EINTR : -EIO;
			goto out;
		}
		/* The node hashed every block it fetched from the network (and
		 * read the others from the store): once is enough, ~20% of the
		 * CPU a remote read costs. */
		tsn_reader_ids_checked(h->rd);
		tsn_reader_fetch_swaps(h->rd, net_fetch_swap);
	}
	cs = tsn_reader_chunk_size(h->rd);
	first = off / cs;
	drop_behind(nr, first);
	got = tsn_reader_pread(h->rd, buf, len, off);
	if (got < 0) {
		if (got != -EINTR)
			tsn_log(TSN_LOG_WARN, "mount: uri/%.20s...: %s", n->name,
			        tsn_reader_error(h->rd));
		got = got == -EINTR ? -EINTR : -EIO;
		goto out;
	}
	last = (off + (uint64_t)(got > 0 ? got : 1) - 1) / cs;
	if (off == 0 || (nr->have_last && first >= nr->last && first <= nr->last + 1))
		read_ahead(h, last);
	nr->last = last;
	nr->have_last = 1;
out:
	pthread_mutex_lock(&nr->mu);
	nr->cur = NULL;
	pthread_mutex_unlock(&nr->mu);
	pthread_mutex_unlock(&h->mu);
	fuse_req_interrupt_func(req, NULL, NULL); /* before w goes away */
	return got;
}
