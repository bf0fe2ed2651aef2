/*
 * tree_enc.c: the streaming tree encoder (see tree.h).
 *
 * Data is copied into slots of one chunk each. With one thread the caller
 * encodes a slot as soon as it is full (straight from the caller's buffer
 * when a whole chunk is there). With T threads there are T workers and a
 * ring of T + 1 slots: the caller fills a slot, queues it, and hands the
 * finished blocks to put in file order from the ring's tail, so the workers
 * encode while the caller copies and puts. With put_mt the workers put the
 * blocks themselves (the put of a chunk body, a file create and write, costs
 * about half as much as its encode) and the ring has 2T + 2 slots, so the
 * caller only copies and lists refs from the tail in file order; a slot is
 * reused once its ref is listed. A node is emitted lazily, when an
 * entry arrives for it and it is already full, so the node left alone at the
 * top at the end is the root. Memory: the slots (chunk + block each) plus
 * one node per level.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tree.h"
#include "tree_i.h"

#define ENC_THREADS_MAX 64

enum { SLOT_FREE, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

struct enc_slot {
	uint8_t *buf;       /* chunk_size bytes */
	const uint8_t *src; /* buf, or (one thread) the caller's memory during one write */
	size_t len;
	uint8_t *out;       /* TSN_BLOCK_MAX bytes */
	struct tsn_chunk_ref ref;
	long rc;            /* block length or -errno */
	int state;          /* SLOT_*; under mu while a worker may see the slot */
};

struct enc_level {
	uint8_t *buf;   /* TSN_TREE_NODE_HDR + F * TSN_TREE_NODE_ENTRY bytes, or NULL */
	uint32_t count; /* entries so far */
	uint64_t bytes; /* file bytes under those entries */
};

struct enc_worker {
	struct tsn_encoder *e;
	struct tsn_codec *codec;
	pthread_t th;
	bool started;
};

struct tsn_encoder {
	struct tsn_secret conv;
	uint32_t chunk_size, fanout;
	tsn_put_fn put;
	void *ud;
	struct tsn_codec *codec; /* the caller's: nodes, and data with one thread */
	bool put_mt;             /* workers put the data blocks (threads > 1 only) */

	unsigned nslots;         /* 1, or threads + 1 */
	struct enc_slot *slots;
	unsigned head;           /* the slot being filled */
	size_t fill;             /* bytes in it */
	unsigned tail;           /* oldest slot not handed to put yet */
	unsigned inflight;       /* slots from tail to head, queued to done */

	struct enc_level lv[TSN_TREE_MAX_DEPTH + 1];
	unsigned top;            /* highest level with a node */

	uint64_t size, max_size;
	int err;
	bool finished;

	struct enc_worker *workers;
	unsigned nworkers;
	bool mu_ok;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	unsigned job;            /* next slot a worker takes */
	unsigned queued;         /* slots waiting for a worker */
	bool stop;
};

static void *
worker_main(void *arg)
{
	struct enc_worker *w = arg;
	struct tsn_encoder *e = w->e;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		struct enc_slot *s;
		while (e->queued == 0 && !e->stop)
			pthread_cond_wait(&e->go, &e->mu);
		if (e->stop)
			break;
		/* The caller queues slots in ring order, so jobs follow it. */
		s = &e->slots[e->job];
		e->job = (e->job + 1) % e->nslots;
		e->queued--;
		s->state = SLOT_BUSY;
		pthread_mutex_unlock(&e->mu);
		s->rc = tsn_codec_encode(w->codec, &e->conv, TSN_BLOCK_DATA, s->src, s->len, s->out,
		                         &s->ref);
		if (e->put_mt && s->rc > 0) {
			int rc = e->put(e->ud, &s->ref, TSN_BLOCK_DATA, s->out, (size_t)s->rc);
			if (rc != 0)
				s->rc = rc < 0 ? rc : -EIO;
		}
		pthread_mutex_lock(&e->mu);
		s->state = SLOT_DONE;
		pthread_cond_signal(&e->done);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

static int
add_ref(struct tsn_encoder *e, unsigned l, const struct tsn_chunk_ref *ref, uint64_t bytes,
        uint8_t *scratch);

/* Encode level l's node into scratch, hand it to put, list it one level up. */
static int
emit_node(struct tsn_encoder *e, unsigned l, uint8_t *scratch, struct tsn_chunk_ref *ref)
{
	struct enc_level *lv = &e->lv[l];
	size_t len = TSN_TREE_NODE_HDR + (size_t)lv->count * TSN_TREE_NODE_ENTRY;
	long n;
	int rc;

	tsn_tree_node_put_header(lv->buf, l, e->chunk_size, lv->bytes, lv->count);
	n = tsn_codec_encode(e->codec, &e->conv, TSN_BLOCK_INDEX, lv->buf, len, scratch, ref);
	if (n < 0)
		return (int)n;
	if ((rc = e->put(e->ud, ref, TSN_BLOCK_INDEX, scratch, (size_t)n)) != 0)
		return rc < 0 ? rc : -EIO;
	return 0;
}

static int
add_ref(struct tsn_encoder *e, unsigned l, const struct tsn_chunk_ref *ref, uint64_t bytes,
        uint8_t *scratch)
{
	struct enc_level *lv;
	int rc;

	/* tsn_encoder_write keeps the size within reach of the deepest tree. */
	if (l > TSN_TREE_MAX_DEPTH)
		return -EFBIG;
	lv = &e->lv[l];
	if (lv->buf == NULL) {
		lv->buf = malloc(TSN_TREE_NODE_HDR + (size_t)e->fanout * TSN_TREE_NODE_ENTRY);
		if (lv->buf == NULL)
			return -ENOMEM;
		lv->count = 0;
		lv->bytes = 0;
		if (l > e->top)
			e->top = l;
	}
	if (lv->count == e->fanout) {
		struct tsn_chunk_ref nref;
		if ((rc = emit_node(e, l, scratch, &nref)) != 0)
			return rc;
		if ((rc = add_ref(e, l + 1, &nref, lv->bytes, scratch)) != 0)
			return rc;
		lv->count = 0;
		lv->bytes = 0;
	}
	tsn_tree_node_put_entry(lv->buf + TSN_TREE_NODE_HDR + (size_t)lv->count * TSN_TREE_NODE_ENTRY, ref);
	lv->count++;
	lv->bytes += bytes;
	return 0;
}

/* Hand a finished slot's block to put and list it. */
static int
hand_on(struct tsn_encoder *e, struct enc_slot *s)
{
	int rc;

	if (s->rc < 0)
		return (int)s->rc;
	if (!(e->put_mt && e->nworkers > 0) &&
	    (rc = e->put(e->ud, &s->ref, TSN_BLOCK_DATA, s->out, (size_t)s->rc)) != 0)
		return rc < 0 ? rc : -EIO;
	/* The block is handed on: its buffer is free for nodes. */
	return add_ref(e, 0, &s->ref, s->len, s->out);
}

/*
 * Hand on, in file order, every finished slot at the tail, waiting for the
 * tail to finish while more than `keep` slots are in flight.
 */
static int
drain(struct tsn_encoder *e, unsigned keep)
{
	int rc;

	while (e->inflight > 0) {
		struct enc_slot *s = &e->slots[e->tail];
		if (e->nworkers > 0) {
			bool ready;
			pthread_mutex_lock(&e->mu);
			while (e->inflight > keep && s->state != SLOT_DONE)
				pthread_cond_wait(&e->done, &e->mu);
			ready = s->state == SLOT_DONE;
			pthread_mutex_unlock(&e->mu);
			if (!ready)
				break;
		}
		if ((rc = hand_on(e, s)) != 0)
			return rc;
		s->state = SLOT_FREE;
		e->tail = (e->tail + 1) % e->nslots;
		e->inflight--;
	}
	return 0;
}

/* The head slot is full: encode it (or queue it), move on, hand on what is done. */
static int
submit(struct tsn_encoder *e)
{
	struct enc_slot *s = &e->slots[e->head];

	if (e->nworkers == 0) {
		s->rc = tsn_codec_encode(e->codec, &e->conv, TSN_BLOCK_DATA, s->src, s->len, s->out,
		                         &s->ref);
	} else {
		pthread_mutex_lock(&e->mu);
		s->state = SLOT_QUEUED;
		e->queued++;
		pthread_cond_signal(&e->go);
		pthread_mutex_unlock(&e->mu);
	}
	e->head = (e->head + 1) % e->nslots;
	e->inflight++;
	/* Keep the next head free: at most nslots - 1 in flight. */
	return drain(e, e->nslots - 1);
}

static void
stop_pool(struct tsn_encoder *e)
{
	if (!e->mu_ok)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = true;
	pthread_cond_broadcast(&e->go);
	pthread_mutex_unlock(&e->mu);
	for (unsigned i = 0; i < e->nworkers; i++)
		if (e->workers[i].started)
			pthread_join(e->workers[i].th, NULL);
}

void
tsn_encoder_free(struct tsn_encoder *e)
{
	if (e == NULL)
		return;
	stop_pool(e);
	if (e->mu_ok) {
		pthread_cond_destroy(&e->done);
		pthread_cond_destroy(&e->go);
		pthread_mutex_destroy(&e->mu);
	}
	if (e->workers != NULL)
		for (unsigned i = 0; i < e->nworkers; i++)
			tsn_codec_free(e->workers[i].codec);
	free(e->workers);
	for (unsigned l = 0; l <= TSN_TREE_MAX_DEPTH; l++)
		free(e->lv[l].buf);
	if (e->slots != NULL) {
		for (unsigned i = 0; i < e->nslots; i++) {
			struct enc_slot *s = &e->slots[i];
			if (s->buf != NULL)
				sodium_memzero(s->buf, e->chunk_size);
			free(s->buf);
			free(s->out);
		}
		free(e->slots);
	}
	tsn_codec_free(e->codec);
	sodium_memzero(&e->conv, sizeof(e->conv));
	free(e);
}

/* Start n workers. On failure, what was made is left for tsn_encoder_free. */
static int
start_pool(struct tsn_encoder *e, unsigned n)
{
	int rc;

	if ((e->workers = calloc(n, sizeof(*e->workers))) == NULL)
		return -ENOMEM;
	e->nworkers = n;
	for (unsigned i = 0; i < n; i++) {
		e->workers[i].e = e;
		if ((e->workers[i].codec = tsn_codec_new()) == NULL)
			return -ENOMEM;
	}
	if (pthread_mutex_init(&e->mu, NULL) != 0)
		goto fail0;
	if (pthread_cond_init(&e->go, NULL) != 0)
		goto fail1;
	if (pthread_cond_init(&e->done, NULL) != 0)
		goto fail2;
	e->mu_ok = true;
	for (unsigned i = 0; i < n; i++) {
		if ((rc = pthread_create(&e->workers[i].th, NULL, worker_main, &e->workers[i])) != 0)
			return -rc;
		e->workers[i].started = true;
	}
	return 0;

fail2:
	pthread_cond_destroy(&e->go);
fail1:
	pthread_mutex_destroy(&e->mu);
fail0:
	return -ENOMEM;
}

int
tsn_encoder_new(struct tsn_encoder **out, const struct tsn_encoder_opts *opts,
                tsn_put_fn put, void *ud)
{
	struct tsn_encoder *e;
	uint32_t cs = opts != NULL && opts->chunk_size != 0 ? opts->chunk_size : TSN_CHUNK_DEFAULT;
	unsigned t = opts != NULL && opts->threads > 1 ? opts->threads : 1;
	int rc;

	*out = NULL;
	if (cs < TSN_CHUNK_MIN || cs > TSN_CHUNK_MAX || put == NULL)
		return -EINVAL;
	if (t > ENC_THREADS_MAX)
		t = ENC_THREADS_MAX;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	e->conv = opts != NULL && opts->conv != NULL ? *opts->conv : tsn_secret_public;
	e->chunk_size = cs;
	e->fanout = tsn_tree_fanout(cs);
	e->max_size = tsn_tree_max_size(cs);
	e->put = put;
	e->ud = ud;
	e->put_mt = t > 1 && opts->put_mt;
	e->nslots = t == 1 ? 1 : e->put_mt ? 2 * t + 2 : t + 1;
	rc = -ENOMEM;
	if ((e->codec = tsn_codec_new()) == NULL)
		goto fail;
	if ((e->slots = calloc(e->nslots, sizeof(*e->slots))) == NULL)
		goto fail;
	for (unsigned i = 0; i < e->nslots; i++) {
		struct enc_slot *s = &e->slots[i];
		if ((s->buf = malloc(cs)) == NULL || (s->out = malloc(TSN_BLOCK_MAX)) == NULL)
			goto fail;
	}
	/* Level 0 always has a node: an empty file's root has no entries. */
	if ((e->lv[0].buf = malloc(TSN_TREE_NODE_HDR + (size_t)e->fanout * TSN_TREE_NODE_ENTRY)) == NULL)
		goto fail;
	if (t > 1 && (rc = start_pool(e, t)) != 0)
		goto fail;
	*out = e;
	return 0;

fail:
	tsn_encoder_free(e);
	return rc;
}

int
tsn_encoder_write(struct tsn_encoder *e, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	if (e->err != 0)
		return e->err;
	if (e->finished)
		return -EINVAL;
	if (len > e->max_size - e->size) {
		rc = -EFBIG;
		goto fail;
	}
	e->size += len;
	while (len > 0) {
		struct enc_slot *s = &e->slots[e->head];
		size_t n;
		if (e->nworkers == 0 && e->fill == 0 && len >= e->chunk_size) {
			/* Encoded before this call returns: no need to copy. */
			s->src = p;
			n = e->chunk_size;
		} else {
			n = e->chunk_size - e->fill;
			if (n > len)
				n = len;
			memcpy(s->buf + e->fill, p, n);
			s->src = s->buf;
			if (e->fill + n < e->chunk_size) {
				e->fill += n;
				break;
			}
		}
		p += n;
		len -= n;
		s->len = e->chunk_size;
		e->fill = 0;
		if ((rc = submit(e)) != 0)
			goto fail;
	}
	return 0;

fail:
	e->err = rc;
	return rc;
}

int
tsn_encoder_finish(struct tsn_encoder *e, struct tsn_uri *uri)
{
	struct tsn_chunk_ref root;
	uint8_t *scratch = e->slots[0].out;
	int rc;

	if (e->err != 0)
		return e->err;
	if (e->finished)
		return -EINVAL;
	if (e->fill > 0) {
		struct enc_slot *s = &e->slots[e->head];
		s->src = s->buf;
		s->len = e->fill;
		e->fill = 0;
		if ((rc = submit(e)) != 0)
			goto fail;
	}
	/* Every slot free after this: any block buffer can hold a node. */
	if ((rc = drain(e, 0)) != 0)
		goto fail;
	/* Each level below the top holds a node with entries; list it above. */
	for (unsigned l = 0; l < e->top; l++) {
		struct tsn_chunk_ref nref;
		if ((rc = emit_node(e, l, scratch, &nref)) != 0)
			goto fail;
		if ((rc = add_ref(e, l + 1, &nref, e->lv[l].bytes, scratch)) != 0)
			goto fail;
		e->lv[l].count = 0;
		e->lv[l].bytes = 0;
	}
	if ((rc = emit_node(e, e->top, scratch, &root)) != 0)
		goto fail;
	e->finished = true;
	uri->size = e->size;
	memcpy(uri->id, root.id, TSN_ID_LEN);
	memcpy(uri->key, root.key, TSN_KEY_LEN);
	sodium_memzero(&root, sizeof(root));
	return 0;

fail:
	e->err = rc;
	return rc;
}

uint64_t
tsn_encoder_size(const struct tsn_encoder *e)
{
	return e->size;
}
