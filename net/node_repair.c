/*
 * node_repair.c: keeping r copies of every chunk (docs/protocol.md,
 * "Replication and repair").
 *
 * A pass, every repair_interval_ms: the chunks this node holds for the
 * network (and, every republish_interval_ms, the ones it pinned) are listed
 * on the pool, where held chunks whose lifetime (held_ttl_ms since their
 * last put or owner refresh) is over are dropped as well. The loop then
 * checks them a few at a time (REPAIR_PARALLEL at once, REPAIR_PER_TICK
 * started per REPAIR_TICK_MS): each is a push with NODE_PUSH_CHECK, i.e. a
 * lookup of its id, CHUNK_HAS at the r closest nodes (this one included
 * when it is among them) and CHUNK_PUT where it is missing. When this node
 * is not among the holders and r others hold it, its held copy goes
 * (pinned and cached copies stay). Pinned chunks are checked with
 * NODE_PUSH_REFRESH: the owner's check restarts the lifetime of the copies.
 *
 * The repair timer also drives the re-store of records (node_records.c).
 *
 * Leave (tsn_node_leave) is the same push with NODE_PUSH_NOSELF, for every
 * chunk, from the caller's thread with a window of LEAVE_WINDOW; at the same
 * time the loop puts every record again (node_records_leave_start).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_i.h"
#include "util.h"

#define REPAIR_TICK_MS 100
#define REPAIR_PARALLEL 8          /* checks in flight */
#define REPAIR_PER_TICK 8          /* checks started per tick */
#define REPAIR_ITEMS_MAX 65536     /* chunks one pass looks at (the rest: next pass) */
#define REPAIR_KICK_MIN_MS 5000    /* a full store asks for a pass at most this often */
#define LEAVE_WINDOW 16
#define LEAVE_MAX (1u << 20)
#define LEAVE_TIMEOUT_DEFAULT_MS 600000u

struct rep_item {
	uint8_t id[TSN_ID_LEN];
	bool pinned, held;
	uint64_t since;                /* copies' lifetime start: 0 (now) for an owner's */
};

struct node_repair {
	bool listing;                  /* a list work is on the pool */
	struct rep_item *items;        /* this pass */
	size_t nitems, next;
	unsigned inflight;
	uint64_t next_pass, next_republish, last_kick;
	uint64_t under;                /* under-replicated seen in this pass */
};

/* ---- the pass's listing (pool) ---- */

struct list_work {
	uv_work_t w;
	struct tsn_node *n;
	bool republish;
	uint64_t now, ttl;
	struct rep_item *items;
	size_t nitems, cap;
	uint64_t expired;
	int rc;
};

static int
list_one(void *ud, const struct tsn_store_chunk_info *ci)
{
	struct list_work *lw = ud;
	struct rep_item *it;
	bool pinned = ci->role == TSN_STAT_PINNED;

	if (!pinned && ci->held && ci->atime_ms + lw->ttl < lw->now) {
		if (tsn_store_chunk_unhold(lw->n->store, ci->id) == 1)
			lw->expired++;
		return 0;
	}
	if (pinned && !lw->republish && !ci->held)
		return 0;
	if (lw->nitems >= REPAIR_ITEMS_MAX)
		return 0; /* the next pass gets the others... when the list shifts: best effort */
	if (lw->nitems == lw->cap) {
		size_t cap = lw->cap ? lw->cap * 2 : 256;
		void *p = realloc(lw->items, cap * sizeof(*lw->items));
		if (p == NULL)
			return -ENOMEM;
		lw->items = p;
		lw->cap = cap;
	}
	it = &lw->items[lw->nitems++];
	memcpy(it->id, ci->id, TSN_ID_LEN);
	it->pinned = pinned;
	it->held = ci->held;
	it->since = pinned ? 0 : ci->atime_ms;
	return 0;
}

static void
list_run(uv_work_t *w)
{
	struct list_work *lw = w->data;

	lw->rc = tsn_store_chunk_list(lw->n->store, 1u << TSN_STAT_PINNED | 1u << TSN_STAT_HELD,
	                              list_one, lw);
}

static void
list_after(uv_work_t *w, int status)
{
	struct list_work *lw = w->data;
	struct tsn_node *n = lw->n;
	struct node_repair *r = n->repair;

	r->listing = false;
	n->st.repair_expired += lw->expired;
	if (status != 0 || lw->rc != 0 || n->stopping) {
		if (lw->rc != 0)
			tsn_log(TSN_LOG_WARN, "node: repair: cannot list the chunks: %s",
			        strerror(-lw->rc));
		free(lw->items);
	} else {
		r->items = lw->items;
		r->nitems = lw->nitems;
		r->next = 0;
		r->under = 0;
	}
	free(lw);
}

static void
pass_start(struct tsn_node *n, uint64_t now)
{
	struct node_repair *r = n->repair;
	struct list_work *lw = calloc(1, sizeof(*lw));

	r->next_pass = now + n->repair_interval_ms;
	if (lw == NULL)
		return;
	lw->w.data = lw;
	lw->n = n;
	lw->now = now;
	lw->ttl = n->held_ttl_ms;
	if (now >= r->next_republish) {
		lw->republish = true;
		r->next_republish = now + n->republish_interval_ms;
	}
	if (uv_queue_work(&n->loop, &lw->w, list_run, list_after) != 0) {
		free(lw);
		return;
	}
	r->listing = true;
}

/* ---- checks (loop) ---- */

struct check {
	struct tsn_node *n;
	struct rep_item it;
	struct node_push_res res;
};

struct unhold_work {
	uv_work_t w;
	struct tsn_node *n;
	uint8_t id[TSN_ID_LEN];
	int rc;
};

static void
unhold_run(uv_work_t *w)
{
	struct unhold_work *uw = w->data;

	uw->rc = tsn_store_chunk_unhold(uw->n->store, uw->id);
}

static void
unhold_after(uv_work_t *w, int status)
{
	struct unhold_work *uw = w->data;

	if (status == 0 && uw->rc >= 0)
		uw->n->st.repair_handed++;
	free(uw);
}

static void
check_done(void *ud, int status)
{
	struct check *ck = ud;
	struct tsn_node *n = ck->n;
	struct node_repair *r = n->repair;
	struct unhold_work *uw;

	r->inflight--;
	if (status == -ECANCELED || n->stopping) {
		free(ck);
		return;
	}
	n->st.repair_checked++;
	if (status < 0) {
		n->st.repair_failed++;
		free(ck);
		return;
	}
	n->st.repair_copies += ck->res.put;
	n->st.repair_bytes += ck->res.put_bytes;
	if (ck->res.had < n->replicas) {
		n->st.repair_under++;
		r->under++;
	}
	/* not one of the closest, and r others hold it: hand it on */
	if (!ck->res.self && ck->it.held && ck->res.holders >= n->replicas &&
	    (uw = calloc(1, sizeof(*uw))) != NULL) {
		uw->w.data = uw;
		uw->n = n;
		memcpy(uw->id, ck->it.id, TSN_ID_LEN);
		if (uv_queue_work(&n->loop, &uw->w, unhold_run, unhold_after) != 0)
			free(uw);
	}
	free(ck);
}

static void
repair_tick(uv_timer_t *t)
{
	struct tsn_node *n = t->data;
	struct node_repair *r = n->repair;
	uint64_t now = node_now(n);
	unsigned started = 0;

	if (n->stopping)
		return;
	while (r->next < r->nitems && r->inflight < REPAIR_PARALLEL && started < REPAIR_PER_TICK) {
		struct check *ck = calloc(1, sizeof(*ck));
		struct rep_item *it = &r->items[r->next];
		int rc;

		if (ck == NULL)
			break;
		ck->n = n;
		ck->it = *it;
		rc = node_req_push(n, it->id, NODE_PUSH_CHECK | (it->pinned ? NODE_PUSH_REFRESH : 0),
		                   it->since, &ck->res, check_done, ck);
		if (rc == -EAGAIN) {
			free(ck);
			break; /* the queue is full: next tick */
		}
		r->next++;
		started++;
		if (rc != 0) {
			free(ck);
			continue;
		}
		r->inflight++;
	}
	if (r->items != NULL && r->next >= r->nitems && r->inflight == 0) {
		n->st.repair_passes++;
		n->st.repair_under_now = r->under;
		free(r->items);
		r->items = NULL;
		r->nitems = r->next = 0;
	}
	if (r->items == NULL && !r->listing && now >= r->next_pass)
		pass_start(n, now);
	node_records_tick(n, now);
}

void
node_repair_kick(struct tsn_node *n)
{
	struct node_repair *r = n->repair;
	uint64_t now = node_now(n);

	if (r == NULL || r->items != NULL || r->listing || now < r->last_kick + REPAIR_KICK_MIN_MS)
		return;
	r->last_kick = now;
	r->next_pass = now;
}

int
node_repair_init(struct tsn_node *n)
{
	uint64_t now = node_now(n);
	int rc;

	if ((n->repair = calloc(1, sizeof(*n->repair))) == NULL)
		return UV_ENOMEM;
	if ((rc = node_records_init(n)) != 0)
		return rc;
	if ((rc = uv_timer_init(&n->loop, &n->repair_timer)) != 0)
		return rc;
	n->repair_timer.data = n;
	/* the first pass after one interval (peers known by then); pinned
	 * chunks were pushed when they were put */
	n->repair->next_pass = now + n->repair_interval_ms;
	n->repair->next_republish = now + n->republish_interval_ms;
	return uv_timer_start(&n->repair_timer, repair_tick, REPAIR_TICK_MS, REPAIR_TICK_MS);
}

void
node_repair_close(struct tsn_node *n)
{
	if (n->repair == NULL)
		return;
	uv_timer_stop(&n->repair_timer);
	node_records_close(n);
}

void
node_repair_free(struct tsn_node *n)
{
	node_records_free(n);
	if (n->repair == NULL)
		return;
	free(n->repair->items);
	free(n->repair);
	n->repair = NULL;
}

/* ---- leave (caller's thread) ---- */

struct leave {
	uv_mutex_t mu;
	uv_cond_t cv;
	unsigned inflight;
	uint64_t handed, short_, failed;
	struct tsn_node *n;
	struct rep_item *ids;          /* .since only */
	size_t nids, cap;
};

struct leave_one {
	struct leave *lv;
	struct node_push_res res;
};

static int
leave_list(void *ud, const struct tsn_store_chunk_info *ci)
{
	struct leave *lv = ud;

	if (ci->role != TSN_STAT_PINNED && !ci->held)
		return 0;
	if (lv->nids >= LEAVE_MAX)
		return 1;
	if (lv->nids == lv->cap) {
		size_t cap = lv->cap ? lv->cap * 2 : 256;
		void *p = realloc(lv->ids, cap * sizeof(*lv->ids));
		if (p == NULL)
			return -ENOMEM;
		lv->ids = p;
		lv->cap = cap;
	}
	memcpy(lv->ids[lv->nids].id, ci->id, TSN_ID_LEN);
	lv->ids[lv->nids++].since = ci->role == TSN_STAT_PINNED ? 0 : ci->atime_ms;
	return 0;
}

static void
leave_done(void *ud, int status)
{
	struct leave_one *one = ud;
	struct leave *lv = one->lv;

	lv->n->st.repair_bytes += one->res.put_bytes; /* on the loop, like the counters */
	uv_mutex_lock(&lv->mu);
	if (status > 0 && one->res.holders >= lv->n->replicas)
		lv->handed++;
	else if (status > 0)
		lv->short_++;
	else
		lv->failed++;
	lv->inflight--;
	uv_cond_signal(&lv->cv);
	uv_mutex_unlock(&lv->mu);
	free(one);
}

/* Hand on every held or pinned chunk. Returns 0 or -errno. */
static int
leave_chunks(struct tsn_node *n, uint64_t deadline, struct tsn_node_leave_res *res)
{
	struct leave lv;
	int rc;

	memset(&lv, 0, sizeof(lv));
	lv.n = n;
	if (uv_mutex_init(&lv.mu) != 0)
		return -ENOMEM;
	if (uv_cond_init(&lv.cv) != 0) {
		uv_mutex_destroy(&lv.mu);
		return -ENOMEM;
	}
	rc = tsn_store_chunk_list(n->store, 1u << TSN_STAT_PINNED | 1u << TSN_STAT_HELD,
	                          leave_list, &lv);
	if (rc < 0)
		goto out;
	rc = 0;
	uv_mutex_lock(&lv.mu);
	for (size_t i = 0; i < lv.nids && rc == 0; i++) {
		struct leave_one *one;

		while (lv.inflight >= LEAVE_WINDOW)
			uv_cond_wait(&lv.cv, &lv.mu);
		if (node_now(n) >= deadline) {
			lv.failed += lv.nids - i;
			break;
		}
		if ((one = calloc(1, sizeof(*one))) == NULL) {
			rc = -ENOMEM;
			break;
		}
		one->lv = &lv;
		lv.inflight++;
		uv_mutex_unlock(&lv.mu);
		rc = node_req_push(n, lv.ids[i].id, NODE_PUSH_CHECK | NODE_PUSH_NOSELF,
		                   lv.ids[i].since, &one->res, leave_done, one);
		uv_mutex_lock(&lv.mu);
		if (rc == -EAGAIN) {
			lv.inflight--;
			free(one);
			rc = 0;
			i--; /* the queue is full: again a little later */
			uv_cond_timedwait(&lv.cv, &lv.mu, 10 * 1000000ull);
			continue;
		}
		if (rc != 0) {
			lv.inflight--;
			free(one);
		}
	}
	/* every push ends by its own deadline */
	while (lv.inflight > 0)
		uv_cond_wait(&lv.cv, &lv.mu);
	uv_mutex_unlock(&lv.mu);
out:
	res->handed = lv.handed;
	res->short_ = lv.short_;
	res->failed = lv.failed;
	free(lv.ids);
	uv_cond_destroy(&lv.cv);
	uv_mutex_destroy(&lv.mu);
	return rc;
}

int
tsn_node_leave(struct tsn_node *n, uint32_t timeout_ms, struct tsn_node_leave_res *res)
{
	uv_thread_t self = uv_thread_self();
	struct node_rec_leave rl;
	uint64_t deadline;
	int rc;

	if (n == NULL || res == NULL)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	if (n->thread_started && uv_thread_equal(&self, &n->thread))
		return -EDEADLK;
	deadline = node_now(n) + (timeout_ms ? timeout_ms : LEAVE_TIMEOUT_DEFAULT_MS);
	/* the records go on the loop while this thread hands the chunks on */
	if ((rc = node_records_leave_start(n, &rl, deadline)) != 0)
		return rc;
	rc = leave_chunks(n, deadline, res);
	node_records_leave_wait(n, &rl);
	res->records_handed = rl.handed;
	res->records_failed = rl.failed;
	if (rc == 0)
		tsn_log(TSN_LOG_INFO, "node: leave: %llu chunks handed on, %llu with fewer than %u "
		        "copies, %llu not placed; %llu records handed on, %llu not",
		        (unsigned long long)res->handed, (unsigned long long)res->short_, n->replicas,
		        (unsigned long long)res->failed, (unsigned long long)res->records_handed,
		        (unsigned long long)res->records_failed);
	return rc;
}

int
tsn_node_leave_report(struct tsn_node *n, const char *prog)
{
	struct tsn_node_leave_res res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = tsn_node_leave(n, 0, &res);
	fprintf(stderr, "%s: leave: %llu chunks handed on, %llu with fewer copies, %llu not placed; "
	        "%llu records handed on, %llu not%s%s\n", prog, (unsigned long long)res.handed,
	        (unsigned long long)res.short_, (unsigned long long)res.failed,
	        (unsigned long long)res.records_handed, (unsigned long long)res.records_failed,
	        rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
	return rc;
}
