/*
 * node_records.c: storing again the records this node holds for the
 * network (docs/protocol.md, "Replication and repair").
 *
 * Every records_interval_ms (tsnd --records-interval, default 1 h) the
 * loop walks the record store by key (tsn_recstore_next_key, so a walk
 * spread over many ticks sees every key held throughout it once) and puts
 * each record again through the node's one put path (tsn_node_put_record:
 * a lookup of its key, STORE at the k closest), REC_PARALLEL at once and
 * REC_PER_TICK started per repair tick (20/s). A record held here so
 * reaches the nodes that joined closer to its key since it was stored, and
 * keeps k copies while holders come and go, without its owner. Nothing
 * here extends a record's life: the expiry is signed, and owners republish
 * with a fresh one on their own period.
 *
 * Leave: the leaving thread asks (node_records_leave_start); the loop
 * takes the walk over from the first key, REC_LEAVE_PARALLEL at once, until
 * the store is walked or the deadline passes, then tells the thread. A
 * record counts as handed on when the put reports 2 or more nodes: this
 * node counts itself when it is among the k closest, so 2 means another
 * one has it at least.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_i.h"
#include "util.h"

#define REC_PARALLEL 4             /* periodic re-stores in flight */
#define REC_PER_TICK 2             /* ... started per repair tick (100 ms): 20/s */
#define REC_LEAVE_PARALLEL 16      /* at leave */
#define REC_LEAVE_PER_TICK 16
#define REC_LEAVE_GRACE_MS 10000   /* a leave not taken by the loop: given up after
                                      deadline + timeout + this */

struct node_records {
	/* the walk (loop thread) */
	bool active, leave;            /* walking; for a leave */
	bool started;                  /* key is a key walked (else: start at the first) */
	bool have_key;                 /* ... and idx a record under it still to put */
	uint8_t key[TSN_ID_LEN];
	size_t idx;
	unsigned inflight;             /* periodic puts out */
	unsigned leave_inflight;       /* a leave's puts out */
	uint64_t next;                 /* next periodic walk */
	uint64_t leave_handed, leave_failed;
	struct node_rec_leave *lv;     /* the leave being served */
	/* a leaving thread and the loop */
	uv_mutex_t mu;
	struct node_rec_leave *asked;  /* a leave not yet taken by the loop */
	bool leaving;                  /* a leave runs (one at a time) */
};

struct rec_put {
	struct tsn_node *n;
	bool leave;
};

int
node_records_init(struct tsn_node *n)
{
	struct node_records *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return UV_ENOMEM;
	if ((rc = uv_mutex_init(&r->mu)) != 0) {
		free(r);
		return rc;
	}
	r->next = node_now(n) + n->records_interval_ms;
	n->records = r;
	return 0;
}

void
node_records_free(struct tsn_node *n)
{
	if (n->records == NULL)
		return;
	uv_mutex_destroy(&n->records->mu);
	free(n->records);
	n->records = NULL;
}

/* The record at the walk's cursor into out (the cursor stays). Returns
 * false when the walk is over. */
static bool
rec_peek(struct tsn_node *n, uint64_t now, struct tsn_record *out)
{
	struct node_records *r = n->records;
	struct tsn_recstore *rs = tsn_dht_records(n->dht);
	struct tsn_blob b;
	size_t total, used;

	for (;;) {
		if (!r->have_key) {
			if (!tsn_recstore_next_key(rs, r->started ? r->key : NULL, r->key))
				return false;
			r->started = r->have_key = true;
			r->idx = 0;
		}
		/* This drops the key's expired records: the index may then skip
		 * a live one, which the next walk puts. */
		if (tsn_recstore_get(rs, now, r->key, r->idx, &b, 1, &total) == 0) {
			r->have_key = false;
			continue;
		}
		if (tsn_record_decode(b.p, b.len, out, &used) == 0)
			return true;
		r->idx++; /* not reached: the store keeps only what decoded */
	}
}

/* Records the walk has not reached yet (a leave past its deadline). */
static uint64_t
rec_rest(struct tsn_node *n, uint64_t now)
{
	struct node_records *r = n->records;
	struct tsn_recstore *rs = tsn_dht_records(n->dht);
	uint8_t key[TSN_ID_LEN];
	struct tsn_blob b;
	uint64_t rest = 0;
	size_t total;
	bool more;

	if (r->have_key) {
		tsn_recstore_get(rs, now, r->key, 0, &b, 0, &total);
		rest += total > r->idx ? total - r->idx : 0;
	}
	more = tsn_recstore_next_key(rs, r->started ? r->key : NULL, key);
	while (more) {
		tsn_recstore_get(rs, now, key, 0, &b, 0, &total);
		rest += total;
		more = tsn_recstore_next_key(rs, key, key);
	}
	return rest;
}

/* The leave being served is over: tell its thread. */
static void
leave_check(struct tsn_node *n)
{
	struct node_records *r = n->records;
	struct node_rec_leave *lv = r->lv;

	if (lv == NULL || (r->active && r->leave) || r->leave_inflight > 0)
		return;
	r->lv = NULL;
	uv_mutex_lock(&lv->mu);
	lv->handed = r->leave_handed;
	lv->failed = r->leave_failed;
	lv->done = true;
	uv_cond_signal(&lv->cv);
	uv_mutex_unlock(&lv->mu); /* lv may be gone from here on */
}

static void
put_done(void *ud, int status)
{
	struct rec_put *rp = ud;
	struct tsn_node *n = rp->n;
	struct node_records *r = n->records;

	if (rp->leave) {
		r->leave_inflight--;
		if (status >= 2)
			r->leave_handed++;
		else
			r->leave_failed++;
	} else {
		r->inflight--;
		if (status > 0)
			n->st.records_restored++;
		else if (status != -ECANCELED)
			n->st.records_restore_failed++;
	}
	free(rp);
	leave_check(n);
}

/* Take a leave asked for, or start a periodic walk when it is time. */
static void
walk_begin(struct tsn_node *n, uint64_t now)
{
	struct node_records *r = n->records;
	struct node_rec_leave *lv;

	uv_mutex_lock(&r->mu);
	lv = r->asked;
	r->asked = NULL;
	uv_mutex_unlock(&r->mu);
	if (lv != NULL) {
		/* from the first key; periodic puts out go on */
		r->lv = lv;
		r->leave_handed = r->leave_failed = 0;
		r->active = r->leave = true;
		r->started = r->have_key = false;
	} else if (!r->active && r->lv == NULL && now >= r->next) {
		r->next = now + n->records_interval_ms;
		r->active = true;
		r->leave = false;
		r->started = r->have_key = false;
	}
}

void
node_records_tick(struct tsn_node *n, uint64_t now)
{
	struct node_records *r = n->records;
	unsigned started = 0, per, par, *inflight;
	struct tsn_record rec;

	if (r == NULL || n->stopping)
		return;
	walk_begin(n, now);
	per = r->leave ? REC_LEAVE_PER_TICK : REC_PER_TICK;
	par = r->leave ? REC_LEAVE_PARALLEL : REC_PARALLEL;
	inflight = r->leave ? &r->leave_inflight : &r->inflight;
	while (r->active && started < per && *inflight < par) {
		struct rec_put *rp;
		int rc;

		if (r->leave && now >= r->lv->deadline) {
			r->leave_failed += rec_rest(n, now);
			r->active = false;
			break;
		}
		if (!rec_peek(n, now, &rec)) {
			r->active = false;
			break;
		}
		if ((rp = calloc(1, sizeof(*rp))) == NULL)
			break;
		rp->n = n;
		rp->leave = r->leave;
		rc = tsn_node_put_record(n, &rec, put_done, rp);
		if (rc == -EAGAIN) {
			free(rp);
			break; /* the request queue is full: next tick */
		}
		r->idx++;
		started++;
		if (rc != 0) {
			free(rp);
			if (r->leave)
				r->leave_failed++;
			else
				n->st.records_restore_failed++;
			continue;
		}
		(*inflight)++;
	}
	leave_check(n);
}

void
node_records_close(struct tsn_node *n)
{
	struct node_records *r = n->records;
	struct node_rec_leave *lv;

	if (r == NULL)
		return;
	/* A leave asked or served ends now; its puts out end as cancelled. */
	r->active = false;
	uv_mutex_lock(&r->mu);
	lv = r->asked;
	r->asked = NULL;
	uv_mutex_unlock(&r->mu);
	if (lv != NULL) { /* not taken yet, so none is served */
		r->lv = lv;
		r->leave_handed = r->leave_failed = 0;
	}
	leave_check(n);
}

/* ---- the leaving thread ---- */

int
node_records_leave_start(struct tsn_node *n, struct node_rec_leave *rl, uint64_t deadline)
{
	struct node_records *r = n->records;
	int rc = 0;

	memset(rl, 0, sizeof(*rl));
	rl->deadline = deadline;
	if (uv_mutex_init(&rl->mu) != 0)
		return -ENOMEM;
	if (uv_cond_init(&rl->cv) != 0) {
		uv_mutex_destroy(&rl->mu);
		return -ENOMEM;
	}
	uv_mutex_lock(&r->mu);
	if (r->leaving) {
		rc = -EBUSY;
	} else {
		r->leaving = true;
		r->asked = rl;
	}
	uv_mutex_unlock(&r->mu);
	if (rc != 0) {
		uv_cond_destroy(&rl->cv);
		uv_mutex_destroy(&rl->mu);
	}
	return rc;
}

void
node_records_leave_wait(struct tsn_node *n, struct node_rec_leave *rl)
{
	struct node_records *r = n->records;

	uv_mutex_lock(&rl->mu);
	while (!rl->done) {
		bool taken;

		/* The loop takes it within a tick, starts no put after the
		 * deadline, and each put ends by its own. Should the loop not
		 * take it at all, it is withdrawn well after the deadline. */
		if (uv_cond_timedwait(&rl->cv, &rl->mu, 1000 * 1000000ull) != UV_ETIMEDOUT ||
		    node_now(n) < rl->deadline + n->timeout_ms + REC_LEAVE_GRACE_MS)
			continue;
		uv_mutex_lock(&r->mu);
		taken = r->asked != rl;
		if (!taken)
			r->asked = NULL;
		uv_mutex_unlock(&r->mu);
		if (!taken) {
			tsn_log(TSN_LOG_WARN, "node: leave: the records were not handed on in time");
			break;
		}
	}
	uv_mutex_unlock(&rl->mu);
	uv_mutex_lock(&r->mu);
	r->leaving = false;
	uv_mutex_unlock(&r->mu);
	uv_cond_destroy(&rl->cv);
	uv_mutex_destroy(&rl->mu);
}
