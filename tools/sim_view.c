/*
 * sim_view.c: the global view no real node has: every id in sorted order
 * and which nodes are live (a Fenwick tree over sorted positions, so a node
 * going up or down costs O(log N)).
 *
 * Sorted ids are the leaves of the binary trie in order: the nodes sharing
 * a prefix with some id form a contiguous range, split in two by the next
 * bit. Walking the trie and always taking first the half that matches the
 * target's next bit visits ids in increasing XOR distance to the target:
 * that gives the true closest live nodes (sim_view_closest), and the
 * subtree of each k-bucket of a node (sim_view_fill).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

struct keyed {
	uint8_t id[TSN_ID_LEN];
	uint32_t idx;
};

static int
by_id(const void *a, const void *b)
{
	return memcmp(((const struct keyed *)a)->id, ((const struct keyed *)b)->id, TSN_ID_LEN);
}

int
sim_view_init(struct sim *s)
{
	struct sim_view *v = &s->view;
	struct keyed *tmp = malloc((size_t)s->n * sizeof(tmp[0]));

	v->n = s->n;
	v->live = 0;
	v->order = malloc((size_t)s->n * sizeof(v->order[0]));
	v->fen = calloc((size_t)s->n + 1, sizeof(v->fen[0]));
	if (tmp == NULL || v->order == NULL || v->fen == NULL) {
		free(tmp);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		memcpy(tmp[i].id, s->nodes[i].id, TSN_ID_LEN);
		tmp[i].idx = i;
	}
	qsort(tmp, s->n, sizeof(tmp[0]), by_id);
	for (uint32_t p = 0; p < s->n; p++) {
		v->order[p] = tmp[p].idx;
		s->nodes[tmp[p].idx].pos = p;
	}
	free(tmp);
	return 0;
}

void
sim_view_fini(struct sim_view *v)
{
	free(v->order);
	free(v->fen);
	memset(v, 0, sizeof(*v));
}

void
sim_view_set_live(struct sim *s, uint32_t node, bool live)
{
	struct sim_view *v = &s->view;

	for (size_t i = (size_t)s->nodes[node].pos + 1; i <= v->n; i += i & (~i + 1)) {
		if (live)
			v->fen[i]++;
		else
			v->fen[i]--;
	}
	if (live)
		v->live++;
	else
		v->live--;
}

/* Live nodes at sorted positions [0, p). */
static uint32_t
prefix(const struct sim_view *v, size_t p)
{
	uint32_t sum = 0;

	for (size_t i = p; i > 0; i -= i & (~i + 1))
		sum += v->fen[i];
	return sum;
}

static uint32_t
live_in(const struct sim_view *v, size_t lo, size_t hi)
{
	return prefix(v, hi) - prefix(v, lo);
}

uint32_t
sim_view_nth_live(const struct sim *s, uint32_t j)
{
	const struct sim_view *v = &s->view;
	size_t pos = 0, step = 1;

	while (step * 2 <= v->n)
		step *= 2;
	for (; step > 0; step /= 2) {
		if (pos + step <= v->n && v->fen[pos + step] <= j) {
			pos += step;
			j -= v->fen[pos];
		}
	}
	return v->order[pos]; /* 0-based position pos holds the (j+1)-th live one */
}

static unsigned
bit_of(const uint8_t *id, unsigned d)
{
	return (id[d / 8] >> (7 - d % 8)) & 1u;
}

/* First position in [lo, hi) whose id has bit d set (the range shares bits < d). */
static size_t
split(const struct sim *s, size_t lo, size_t hi, unsigned d)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bit_of(s->nodes[s->view.order[mid]].id, d))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

size_t
sim_view_closest(const struct sim *s, const uint8_t target[TSN_ID_LEN], uint32_t except,
                 uint32_t *out, size_t n)
{
	struct frame {
		size_t lo, hi;
		unsigned d;
	} st[TSN_ID_BITS + 2];
	size_t top = 0, found = 0;

	st[top++] = (struct frame){0, s->view.n, 0};
	while (top > 0 && found < n) {
		struct frame f = st[--top];
		size_t mid;

		if (f.hi <= f.lo || live_in(&s->view, f.lo, f.hi) == 0)
			continue;
		if (f.hi - f.lo == 1) {
			uint32_t node = s->view.order[f.lo];
			if (node != except)
				out[found++] = node;
			continue;
		}
		/* ids are distinct, so some bit below 256 splits the range */
		for (;;) {
			mid = split(s, f.lo, f.hi, f.d);
			if (mid != f.lo && mid != f.hi)
				break;
			f.d++;
		}
		if (bit_of(target, f.d)) { /* far half first: the stack pops the near one next */
			st[top++] = (struct frame){f.lo, mid, f.d + 1};
			st[top++] = (struct frame){mid, f.hi, f.d + 1};
		} else {
			st[top++] = (struct frame){mid, f.hi, f.d + 1};
			st[top++] = (struct frame){f.lo, mid, f.d + 1};
		}
	}
	return found;
}

/* Tell node i that node j exists: a PING from j, through the codec. */
static void
tell(struct sim *s, uint32_t i, uint32_t j, struct sim_rng *r)
{
	struct tsn_msg *m = s->scratch;
	uint8_t buf[TSN_WIRE_MTU];
	struct tsn_addr from;
	int len;

	memset(&m->h, 0, sizeof(m->h));
	m->h.type = TSN_MSG_PING;
	m->h.txid = sim_rng_next(r);
	memcpy(m->h.sender, s->nodes[j].id, TSN_ID_LEN);
	if ((len = tsn_wire_encode(m, buf, sizeof(buf))) < 0)
		return;
	sim_net_addr(j, &from);
	(void)tsn_dht_receive(s->nodes[i].dht, s->now, &from, buf, (size_t)len);
}

/* Tell node i about up to k random live nodes at sorted positions [lo, hi). */
static size_t
fill_bucket(struct sim *s, uint32_t i, size_t lo, size_t hi, struct sim_rng *r)
{
	uint32_t chosen[TSN_TABLE_K_MAX], k = s->cfg.k, live = live_in(&s->view, lo, hi);
	size_t n = 0;

	if (live <= k) {
		for (size_t p = lo; p < hi; p++) {
			uint32_t j = s->view.order[p];
			if (s->nodes[j].dht != NULL) {
				tell(s, i, j, r);
				n++;
			}
		}
		return n;
	}
	while (n < k) {
		uint32_t j = s->view.order[lo + sim_rng_below(r, hi - lo)];
		bool dup = s->nodes[j].dht == NULL;
		for (size_t c = 0; c < n && !dup; c++)
			dup = chosen[c] == j;
		if (!dup) {
			chosen[n++] = j;
			tell(s, i, j, r);
		}
	}
	return n;
}

size_t
sim_view_fill(struct sim *s, uint32_t i, struct sim_rng *r)
{
	size_t lo = 0, hi = s->view.n, pos = s->nodes[i].pos, told = 0;

	for (unsigned d = 0; hi - lo > 1 && d < TSN_ID_BITS; d++) {
		size_t mid = split(s, lo, hi, d);
		if (pos < mid) {
			told += fill_bucket(s, i, mid, hi, r);
			hi = mid;
		} else {
			told += fill_bucket(s, i, lo, mid, r);
			lo = mid;
		}
	}
	return told;
}
