/*
 * sim_batch.c: run many measured operations, at most `window` at a time
 * over the whole network (a node's own cap, max_ops, is met by waiting:
 * -EAGAIN retries the same operation 100 ms later). Items are started in
 * index order, so a batch is deterministic.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

#define RETRY_MS 100

struct sim_slot {
	struct sim_op op;
	struct sim_batch *b;
	size_t item;
	uint32_t origin;
	uint8_t target[TSN_ID_LEN];
	const struct tsn_record *rec;
};

static void slot_fill(struct sim *s, struct sim_slot *sl);

static void
slot_done(struct sim *s, struct sim_op *op)
{
	struct sim_slot *sl = op->ud;

	sl->b->result(s, sl->b, sl->item, op);
	slot_fill(s, sl);
}

/* Start the slot's current item; false when it ended at once (reported). */
static bool
slot_start(struct sim *s, struct sim_slot *sl)
{
	struct sim_batch *b = sl->b;
	int rc = sim_op_start(s, &sl->op, b->kind, sl->origin, sl->target, sl->rec, slot_done, sl);

	if (rc == 0)
		return true;
	if (rc == -EAGAIN)
		return false; /* caller schedules the retry */
	sl->op.status = rc;
	sl->op.nres = sl->op.nrecs = 0;
	sl->op.origin = sl->origin;
	memcpy(sl->op.target, sl->rec != NULL ? sl->rec->key : sl->target, TSN_ID_LEN);
	b->result(s, b, sl->item, &sl->op);
	sl->rec = NULL;
	return true;
}

static void
retry_task(struct sim *s, void *p, uint32_t arg)
{
	struct sim_slot *sl = p;

	(void)arg;
	if (!slot_start(s, sl)) {
		sim_task(s, s->now + RETRY_MS, retry_task, sl, 0);
		return;
	}
	if (!sl->op.running)
		slot_fill(s, sl); /* failed at once: take the next item */
}

/* Give the slot its next item, or retire it. */
static void
slot_fill(struct sim *s, struct sim_slot *sl)
{
	struct sim_batch *b = sl->b;

	while (b->next < b->n) {
		sl->item = b->next++;
		sl->rec = NULL;
		if (!b->setup(s, b, sl->item, &sl->origin, sl->target, &sl->rec))
			continue;
		if (!slot_start(s, sl)) {
			sim_task(s, s->now + RETRY_MS, retry_task, sl, 0);
			return;
		}
		if (sl->op.running)
			return;
	}
	if (--b->active == 0)
		b->done = true;
}

int
sim_batch_run(struct sim *s, struct sim_batch *b, uint64_t max_ms)
{
	size_t w = b->window < b->n ? b->window : b->n;
	struct sim_slot *slots;

	b->next = 0;
	b->done = b->n == 0;
	if (b->done)
		return 0;
	slots = calloc(w, sizeof(slots[0]));
	if (slots == NULL)
		return -ENOMEM;
	b->active = w;
	for (size_t j = 0; j < w; j++) {
		slots[j].b = b;
		slot_fill(s, &slots[j]);
	}
	if (!sim_run_until_set(s, &b->done, s->now + max_ms)) {
		/* cannot happen while the cores honour op_timeout_ms: a bug, not a figure */
		fprintf(stderr, "tsn-sim: a batch did not finish in %llu s of virtual time\n",
		        (unsigned long long)(max_ms / 1000));
		exit(1);
	}
	for (size_t j = 0; j < w; j++)
		sim_op_clear(&slots[j].op);
	free(slots);
	return 0;
}
