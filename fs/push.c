/*
 * push.c: the background worker that pushes committed files to the
 * network. Each file to push has a 'q' record in the namespace table
 * (written at commit, before the file's record), so pushes not done at
 * unmount or a crash resume at the next start. The worker walks a file's
 * blocks from the local store and places each with tsn_node_push_chunk,
 * PUSH_WINDOW at a time. A block is placed when another node holds it too
 * (or when this node knows no peer at all: then it is the only holder there
 * can be; the worker first gives the node PUSH_JOIN_MS to find its peers). A file whose every block was placed loses its record; one with
 * failures is tried again later with a growing delay. Without a node the
 * queue only waits.
 *
 * Threads: one worker; fs_push_add from any thread; push callbacks on the
 * node's loop thread (they only count, under p->mu).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "node.h"
#include "util.h"

#define PUSH_WINDOW 8
#define PUSH_RETRY_MIN_MS 5000
#define PUSH_RETRY_MAX_MS 600000
#define PUSH_JOIN_MS 5000

struct push_item {
	struct push_item *next;
	struct tsn_uri uri;
	uint64_t not_before;   /* monotonic ms */
	unsigned tries;
};

struct fs_push {
	struct tsn_fs *fs;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct push_item *head;
	size_t n;              /* queued, plus the one being pushed */
	int quiesced;          /* no new pushes; the worker ends */
	unsigned inflight;     /* pushes of the current file in flight */
	unsigned failed;       /* of the current file */
	int alone;             /* the node knew no peer when the file started */
};

static void
abs_ms(struct timespec *ts, uint64_t ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

static void
pushed(void *ud, int status)
{
	struct fs_push *p = ud;

	pthread_mutex_lock(&p->mu);
	/* -ENOENT: the block left the store (the file was removed). */
	if ((status < 0 && status != -ENOENT) || (status == 1 && !p->alone))
		p->failed++;
	p->inflight--;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static int
push_block(void *ud, const struct tsn_chunk_ref *ref, int kind)
{
	struct fs_push *p = ud;
	int rc = 0;

	(void)kind;
	pthread_mutex_lock(&p->mu);
	while (p->inflight >= PUSH_WINDOW && !p->quiesced)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->quiesced) {
		rc = -ECANCELED;
	} else {
		p->inflight++;
		if ((rc = tsn_node_push_chunk(p->fs->node, ref->id, pushed, p)) < 0) {
			p->inflight--;
			p->failed++;
			rc = rc == -EAGAIN ? 0 : rc; /* the node is busy: counted, go on */
		}
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Push every block of one file. 0: all placed; -EAGAIN: some failed. */
static int
push_file(struct fs_push *p, const struct tsn_uri *uri)
{
	struct tsn_node_status st;
	struct tsn_reader *r = NULL;
	int rc;

	if ((rc = tsn_reader_open(&r, uri, tsn_store_fetch, p->fs->store)) < 0)
		return rc == -ENOENT || rc == -EBADMSG ? 0 : rc; /* gone: nothing to push */
	tsn_node_status(p->fs->node, &st);
	pthread_mutex_lock(&p->mu);
	p->failed = 0;
	p->alone = st.peers == 0;
	pthread_mutex_unlock(&p->mu);
	rc = tsn_reader_walk(r, push_block, p);
	tsn_reader_free(r);
	pthread_mutex_lock(&p->mu);
	/* Each push ends by the node's deadline (or at its stop). */
	while (p->inflight > 0)
		pthread_cond_wait(&p->cv, &p->mu);
	if (rc == 0 && p->failed > 0)
		rc = -EAGAIN;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void *
worker(void *arg)
{
	struct fs_push *p = arg;
	struct push_item *it, **pp, **best;
	struct timespec ts;
	uint64_t now, wake;
	char hex[2 * TSN_ID_LEN + 1];
	int rc;

	/* Let the node join (bootstrap, saved peers) before judging "alone". */
	wake = tsn_mono_ms() + PUSH_JOIN_MS;
	pthread_mutex_lock(&p->mu);
	while (!p->quiesced && tsn_mono_ms() < wake) {
		struct tsn_node_status st;
		tsn_node_status(p->fs->node, &st);
		if (st.peers > 0)
			break;
		abs_ms(&ts, tsn_mono_ms() + 100);
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	while (!p->quiesced) {
		now = tsn_mono_ms();
		best = NULL;
		wake = UINT64_MAX;
		for (pp = &p->head; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->not_before <= now) {
				best = pp;
				break;
			}
			if ((*pp)->not_before < wake)
				wake = (*pp)->not_before;
		}
		if (best == NULL) {
			if (wake == UINT64_MAX) {
				pthread_cond_wait(&p->cv, &p->mu);
			} else {
				abs_ms(&ts, wake);
				pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			}
			continue;
		}
		it = *best;
		*best = it->next;
		pthread_mutex_unlock(&p->mu);
		rc = push_file(p, &it->uri);
		if (rc == 0)
			fs_ns_queue_delete(p->fs, it->uri.id);
		pthread_mutex_lock(&p->mu);
		if (rc == 0 || p->quiesced) {
			free(it);
			p->n--;
			continue;
		}
		tsn_hex(it->uri.id, TSN_ID_LEN, hex);
		it->tries++;
		wake = (uint64_t)PUSH_RETRY_MIN_MS << (it->tries < 6 ? it->tries - 1 : 5);
		it->not_before = tsn_mono_ms() + (wake < PUSH_RETRY_MAX_MS ? wake : PUSH_RETRY_MAX_MS);
		tsn_log(TSN_LOG_INFO, "mount: push of file %s incomplete (%s): again in %llu s", hex,
		        strerror(-rc), (unsigned long long)((it->not_before - tsn_mono_ms()) / 1000));
		it->next = p->head;
		p->head = it;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Append (no duplicate roots). Caller holds p->mu. */
static void
enqueue(struct fs_push *p, const struct tsn_uri *uri)
{
	struct push_item *it, **pp;

	for (pp = &p->head; *pp != NULL; pp = &(*pp)->next)
		if (memcmp((*pp)->uri.id, uri->id, TSN_ID_LEN) == 0)
			return;
	if ((it = calloc(1, sizeof(*it))) == NULL)
		return; /* the record stays: pushed at the next start */
	it->uri = *uri;
	*pp = it;
	p->n++;
}

static int
load_cb(void *ud, const struct tsn_uri *uri)
{
	enqueue(ud, uri);
	return 0;
}

int
fs_push_start(struct tsn_fs *fs)
{
	struct fs_push *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	int rc;

	if (p == NULL)
		return -ENOMEM;
	p->fs = fs;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	fs->push = p;
	if ((rc = fs_ns_queue_list(fs, load_cb, p)) != 0)
		tsn_log(TSN_LOG_WARN, "mount: cannot read the push queue: %s",
		        strerror(rc < 0 ? -rc : EIO));
	if (fs->node == NULL)
		return 0;
	if ((rc = pthread_create(&p->thread, NULL, worker, p)) != 0)
		return -rc;
	p->started = 1;
	return 0;
}

void
fs_push_add(struct tsn_fs *fs, const struct tsn_uri *uri)
{
	struct fs_push *p = fs->push;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	enqueue(p, uri);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

size_t
fs_push_pending(struct tsn_fs *fs)
{
	struct fs_push *p = fs->push;
	size_t n;

	if (p == NULL)
		return 0;
	pthread_mutex_lock(&p->mu);
	n = p->n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void
fs_push_quiesce(struct tsn_fs *fs)
{
	struct fs_push *p = fs->push;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->quiesced = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void
fs_push_stop(struct tsn_fs *fs)
{
	struct fs_push *p = fs->push;
	struct push_item *it, *next;

	if (p == NULL)
		return;
	fs_push_quiesce(fs);
	if (p->started)
		pthread_join(p->thread, NULL);
	for (it = p->head; it != NULL; it = next) {
		next = it->next;
		free(it);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
	fs->push = NULL;
}
