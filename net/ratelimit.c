/* ratelimit.c: per-source and global token buckets (see ratelimit.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

/* Tokens are counted in thousandths so integer refill is exact per ms. */
struct bucket {
	struct tsn_addr src;
	uint64_t last_ms;
	uint64_t milli;
	bool used;
};

struct tsn_ratelimit {
	struct tsn_ratelimit_opts o;
	struct bucket global;
	struct bucket *b;
};

void
tsn_ratelimit_opts_default(struct tsn_ratelimit_opts *o)
{
	o->sources = 256;
	/*
	 * Every chunk push and fetch may run a lookup, and in a small network
	 * each lookup asks nearly every node: 50/s per source (the first
	 * choice) held pushes to ~50 chunks/s, 12 MB/s. 500/s lets a peer
	 * place ~100 MB/s; the global bucket still bounds the CPU a flood of
	 * spoofed sources gets (a STORE's signature check is ~50 us).
	 */
	o->rate = 500;
	o->burst = 1000;
	o->global_rate = 10000;
	o->global_burst = 20000;
}

int
tsn_ratelimit_new(struct tsn_ratelimit **out, const struct tsn_ratelimit_opts *o)
{
	struct tsn_ratelimit *rl;
	struct tsn_ratelimit_opts d;

	*out = NULL;
	tsn_ratelimit_opts_default(&d);
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return -ENOMEM;
	rl->o = d;
	if (o != NULL) {
		if (o->sources != 0) rl->o.sources = o->sources;
		if (o->rate != 0) rl->o.rate = o->rate;
		if (o->burst != 0) rl->o.burst = o->burst;
		if (o->global_rate != 0) rl->o.global_rate = o->global_rate;
		if (o->global_burst != 0) rl->o.global_burst = o->global_burst;
	}
	rl->b = calloc(rl->o.sources, sizeof(rl->b[0]));
	if (rl->b == NULL) {
		free(rl);
		return -ENOMEM;
	}
	*out = rl;
	return 0;
}

void
tsn_ratelimit_free(struct tsn_ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->b);
	free(rl);
}

static void
refill(struct bucket *b, uint64_t now, uint32_t rate, uint32_t burst)
{
	uint64_t cap = (uint64_t)burst * 1000;

	if (now > b->last_ms) {
		uint64_t dt = now - b->last_ms;
		/* Enough ms to fill the bucket; keeps dt * rate from overflowing. */
		if (dt > cap / rate + 1)
			dt = cap / rate + 1;
		b->milli += dt * rate;
		if (b->milli > cap)
			b->milli = cap;
	}
	b->last_ms = now;
}

static bool
take(struct bucket *b)
{
	if (b->milli < 1000)
		return false;
	b->milli -= 1000;
	return true;
}

bool
tsn_ratelimit_allow(struct tsn_ratelimit *rl, uint64_t now_ms, const struct tsn_addr *from)
{
	struct tsn_addr key = *from;
	struct bucket *b = NULL, *oldest = NULL;

	if (!tsn_addr_is_loopback(&key))
		key.port = 0;
	for (unsigned i = 0; i < rl->o.sources; i++) {
		struct bucket *x = &rl->b[i];
		if (x->used && tsn_addr_eq(&x->src, &key)) {
			b = x;
			break;
		}
		if (oldest == NULL || !x->used || (oldest->used && x->last_ms < oldest->last_ms))
			oldest = x;
	}
	if (b == NULL) {
		b = oldest;
		b->used = true;
		b->src = key;
		b->last_ms = now_ms;
		b->milli = (uint64_t)rl->o.burst * 1000;
	}
	if (!rl->global.used) {
		rl->global.used = true;
		rl->global.last_ms = now_ms;
		rl->global.milli = (uint64_t)rl->o.global_burst * 1000;
	}
	refill(b, now_ms, rl->o.rate, rl->o.burst);
	refill(&rl->global, now_ms, rl->o.global_rate, rl->o.global_burst);
	if (b->milli < 1000 || rl->global.milli < 1000)
		return false;
	return take(b) && take(&rl->global);
}
