/*
 * sim_evq.c: the event queue of the virtual clock. A binary min-heap on
 * (time, sequence number), so events due at the same ms run in the order
 * they were scheduled: deterministic. Each node has at most one timer in
 * the heap, found through tpos and moved in place (no stale entries), so
 * the heap holds at most nodes + datagrams in flight + pending tasks
 * events, and never more than `max`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

int
sim_evq_init(struct sim_evq *q, size_t nodes, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->tpos = calloc(nodes ? nodes : 1, sizeof(q->tpos[0]));
	if (q->tpos == NULL)
		return -ENOMEM;
	q->nodes = nodes;
	q->max = max;
	return 0;
}

void
sim_evq_fini(struct sim_evq *q)
{
	free(q->h);
	free(q->tpos);
	memset(q, 0, sizeof(*q));
}

static bool
less(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void
place(struct sim_evq *q, size_t i, const struct sim_ev *e)
{
	q->h[i] = *e;
	if (e->kind == SIM_EV_TIMER)
		q->tpos[e->arg] = (uint32_t)(i + 1);
}

static void
sift_up(struct sim_evq *q, size_t i)
{
	struct sim_ev e = q->h[i];

	while (i > 0 && less(&e, &q->h[(i - 1) / 2])) {
		place(q, i, &q->h[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(q, i, &e);
}

static void
sift_down(struct sim_evq *q, size_t i)
{
	struct sim_ev e = q->h[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && less(&q->h[c + 1], &q->h[c]))
			c++;
		if (!less(&q->h[c], &e))
			break;
		place(q, i, &q->h[c]);
		i = c;
	}
	place(q, i, &e);
}

static int
grow(struct sim_evq *q)
{
	size_t cap;
	struct sim_ev *h;

	if (q->n < q->cap)
		return 0;
	if (q->n >= q->max)
		return -ENOSPC;
	cap = q->cap ? q->cap * 2 : 1024;
	if (cap > q->max)
		cap = q->max;
	h = realloc(q->h, cap * sizeof(h[0]));
	if (h == NULL)
		return -ENOMEM;
	q->h = h;
	q->cap = cap;
	return 0;
}

int
sim_evq_push(struct sim_evq *q, const struct sim_ev *e)
{
	struct sim_ev x = *e;
	int rc;

	if ((rc = grow(q)) != 0)
		return rc;
	x.seq = q->seq++;
	q->h[q->n] = x;
	sift_up(q, q->n++);
	return 0;
}

/* Remove the event at heap index i. */
static void
remove_at(struct sim_evq *q, size_t i)
{
	if (q->h[i].kind == SIM_EV_TIMER)
		q->tpos[q->h[i].arg] = 0;
	q->n--;
	if (i == q->n)
		return;
	place(q, i, &q->h[q->n]);
	sift_down(q, i);
	sift_up(q, i);
}

int
sim_evq_timer(struct sim_evq *q, uint32_t node, uint64_t at)
{
	struct sim_ev e = {.at = at, .kind = SIM_EV_TIMER, .arg = node};
	size_t pos = q->tpos[node];

	if (pos != 0) {
		size_t i = pos - 1;
		if (q->h[i].at == at)
			return 0;
		q->h[i].at = at;
		q->h[i].seq = q->seq++;
		sift_down(q, i);
		sift_up(q, (size_t)q->tpos[node] - 1);
		return 0;
	}
	return sim_evq_push(q, &e);
}

void
sim_evq_timer_clear(struct sim_evq *q, uint32_t node)
{
	if (q->tpos[node] != 0)
		remove_at(q, (size_t)q->tpos[node] - 1);
}

bool
sim_evq_pop(struct sim_evq *q, uint64_t until, struct sim_ev *out)
{
	if (q->n == 0 || q->h[0].at > until)
		return false;
	*out = q->h[0];
	remove_at(q, 0);
	return true;
}

uint64_t
sim_evq_next(const struct sim_evq *q)
{
	return q->n ? q->h[0].at : UINT64_MAX;
}
