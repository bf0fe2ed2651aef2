/* table.c: the routing table (see table.h for the rules). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

struct tentry {
	struct tsn_contact c;
	uint64_t last_seen;
	uint64_t ping_sent;  /* when the LRS ping was asked for; 0 = none */
	uint8_t fails;
};

struct bucket {
	struct tentry *e;     /* k slots, index 0 least recently seen */
	struct tentry *repl;  /* replacement slots, index 0 oldest */
	uint8_t n, nrepl;
	bool force;           /* due now, whatever last_active says */
	uint64_t last_active;
};

struct tsn_table {
	struct tsn_table_opts o;
	size_t count;
	struct bucket b[TSN_ID_BITS];
};

void
tsn_table_opts_default(struct tsn_table_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->k = 20;
	o->replacements = 8;
	o->subnet_limit = 2;
	o->max_fails = 2;
	o->refresh_ms = UINT64_C(15) * 60 * 1000;
	o->ping_stale_ms = 30000;
	o->ping_fresh_ms = 60000;
}

int
tsn_table_new(struct tsn_table **out, const struct tsn_table_opts *o, uint64_t now_ms)
{
	struct tsn_table *t;
	struct tsn_table_opts d;

	*out = NULL;
	tsn_table_opts_default(&d);
	if (o->k > TSN_TABLE_K_MAX || o->replacements > TSN_TABLE_REPL_MAX ||
	    o->n_own_addrs > TSN_TABLE_OWN_ADDR_MAX)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->o = *o;
	if (t->o.k == 0) t->o.k = d.k;
	if (t->o.subnet_limit == 0) t->o.subnet_limit = d.subnet_limit;
	if (t->o.max_fails == 0) t->o.max_fails = d.max_fails;
	if (t->o.refresh_ms == 0) t->o.refresh_ms = d.refresh_ms;
	if (t->o.ping_stale_ms == 0) t->o.ping_stale_ms = d.ping_stale_ms;
	if (t->o.ping_fresh_ms == 0) t->o.ping_fresh_ms = d.ping_fresh_ms;
	/* replacements == 0 is allowed: newcomers to a full bucket are dropped. */
	for (unsigned i = 0; i < TSN_ID_BITS; i++)
		t->b[i].last_active = now_ms;
	*out = t;
	return 0;
}

void
tsn_table_free(struct tsn_table *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < TSN_ID_BITS; i++)
		free(t->b[i].e); /* repl shares the allocation */
	free(t);
}

int
tsn_table_add_own_addr(struct tsn_table *t, const struct tsn_addr *addr)
{
	for (unsigned i = 0; i < t->o.n_own_addrs; i++)
		if (tsn_addr_eq(&t->o.own_addrs[i], addr))
			return 0;
	if (t->o.n_own_addrs >= TSN_TABLE_OWN_ADDR_MAX)
		return -ENOSPC;
	t->o.own_addrs[t->o.n_own_addrs++] = *addr;
	return 0;
}

unsigned
tsn_table_bucket_of(const struct tsn_table *t, const uint8_t id[TSN_ID_LEN])
{
	return tsn_id_cpl(t->o.own_id, id);
}

/* Same /24 (IPv4) or /48 (IPv6); loopback: same address and port. */
static bool
same_group(const struct tsn_addr *a, const struct tsn_addr *b)
{
	if (a->family != b->family)
		return false;
	if (tsn_addr_is_loopback(a) || tsn_addr_is_loopback(b))
		return tsn_addr_eq(a, b);
	return memcmp(a->ip, b->ip, a->family == TSN_ADDR_V4 ? 3 : 6) == 0;
}

static unsigned
group_count(const struct tentry *e, unsigned n, const struct tsn_addr *a)
{
	unsigned c = 0;

	for (unsigned i = 0; i < n; i++)
		if (same_group(&e[i].c.addr, a))
			c++;
	return c;
}

static int
find_in(const struct tentry *e, unsigned n, const uint8_t id[TSN_ID_LEN])
{
	for (unsigned i = 0; i < n; i++)
		if (memcmp(e[i].c.id, id, TSN_ID_LEN) == 0)
			return (int)i;
	return -1;
}

/* Move e[i] to the end (most recently seen) of an array of n. */
static void
to_tail(struct tentry *e, unsigned n, unsigned i)
{
	struct tentry x = e[i];

	memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof(e[0]));
	e[n - 1] = x;
}

static void
remove_at(struct tentry *e, uint8_t *n, unsigned i)
{
	memmove(&e[i], &e[i + 1], (*n - i - 1) * sizeof(e[0]));
	(*n)--;
}

static int
bucket_alloc(struct tsn_table *t, struct bucket *b)
{
	if (b->e != NULL)
		return 0;
	b->e = calloc((size_t)t->o.k + t->o.replacements, sizeof(struct tentry));
	if (b->e == NULL)
		return -ENOMEM;
	b->repl = b->e + t->o.k;
	return 0;
}

int
tsn_table_seen(struct tsn_table *t, uint64_t now_ms, const struct tsn_contact *c, bool replied,
               struct tsn_contact *ping)
{
	unsigned bi = tsn_id_cpl(t->o.own_id, c->id);
	struct bucket *b;
	struct tentry *lrs;
	int i;

	if (tsn_addr_is_martian(&c->addr, t->o.allow_loopback))
		return -EADDRNOTAVAIL;
	if (bi >= TSN_ID_BITS)
		return -ELOOP;
	for (unsigned j = 0; j < t->o.n_own_addrs; j++)
		if (tsn_addr_eq(&t->o.own_addrs[j], &c->addr))
			return -ELOOP;
	b = &t->b[bi];
	if (b->e != NULL && (i = find_in(b->e, b->n, c->id)) >= 0) {
		struct tentry *x = &b->e[i];
		if (!tsn_addr_eq(&x->c.addr, &c->addr))
			return -EEXIST;
		x->last_seen = now_ms;
		if (replied) {
			x->fails = 0;
			x->ping_sent = 0;
			b->last_active = now_ms;
		}
		to_tail(b->e, b->n, (unsigned)i);
		return TSN_TABLE_UPDATED;
	}
	if (bucket_alloc(t, b) != 0)
		return -ENOMEM;
	if (group_count(b->e, b->n, &c->addr) >= t->o.subnet_limit)
		return -EDQUOT;
	if ((i = find_in(b->repl, b->nrepl, c->id)) >= 0)
		remove_at(b->repl, &b->nrepl, (unsigned)i); /* re-added below as the newest */
	if (b->n < t->o.k) {
		struct tentry *x = &b->e[b->n++];
		memset(x, 0, sizeof(*x));
		x->c = *c;
		x->last_seen = now_ms;
		if (replied)
			b->last_active = now_ms;
		t->count++;
		return TSN_TABLE_ADDED;
	}
	if (t->o.replacements == 0)
		return TSN_TABLE_CACHED; /* nowhere to wait: dropped */
	if (b->nrepl >= t->o.replacements)
		remove_at(b->repl, &b->nrepl, 0);
	memset(&b->repl[b->nrepl], 0, sizeof(b->repl[0]));
	b->repl[b->nrepl].c = *c;
	b->repl[b->nrepl].last_seen = now_ms;
	b->nrepl++;

	lrs = &b->e[0];
	if (lrs->fails == 0 && lrs->ping_sent == 0 && now_ms - lrs->last_seen < t->o.ping_fresh_ms)
		return TSN_TABLE_CACHED; /* heard from lately: no need to ask */
	if (lrs->ping_sent != 0 && now_ms - lrs->ping_sent < t->o.ping_stale_ms)
		return TSN_TABLE_CACHED; /* its ping is under way */
	lrs->ping_sent = now_ms != 0 ? now_ms : 1;
	*ping = lrs->c;
	return TSN_TABLE_PING;
}

/* Fill a free slot of b with the most recent candidate that fits the subnet rule. */
static void
promote(struct tsn_table *t, struct bucket *b)
{
	for (int i = (int)b->nrepl - 1; i >= 0 && b->n < t->o.k; i--) {
		if (group_count(b->e, b->n, &b->repl[i].c.addr) >= t->o.subnet_limit)
			continue;
		b->e[b->n] = b->repl[i];
		b->e[b->n].fails = 0;
		b->e[b->n].ping_sent = 0;
		b->n++;
		t->count++;
		remove_at(b->repl, &b->nrepl, (unsigned)i);
		return;
	}
}

int
tsn_table_failed(struct tsn_table *t, const uint8_t id[TSN_ID_LEN])
{
	unsigned bi = tsn_id_cpl(t->o.own_id, id);
	struct bucket *b;
	struct tentry *x;
	int i;

	if (bi >= TSN_ID_BITS || (b = &t->b[bi])->e == NULL)
		return -ENOENT;
	if ((i = find_in(b->e, b->n, id)) < 0) {
		if ((i = find_in(b->repl, b->nrepl, id)) < 0)
			return -ENOENT;
		remove_at(b->repl, &b->nrepl, (unsigned)i);
		return 1;
	}
	x = &b->e[i];
	if (x->fails < UINT8_MAX)
		x->fails++;
	if (x->fails >= t->o.max_fails || (x->ping_sent != 0 && b->nrepl > 0)) {
		remove_at(b->e, &b->n, (unsigned)i);
		t->count--;
		promote(t, b);
		return 1;
	}
	x->ping_sent = 0;
	return 0;
}

int
tsn_table_remove(struct tsn_table *t, const uint8_t id[TSN_ID_LEN])
{
	unsigned bi = tsn_id_cpl(t->o.own_id, id);
	struct bucket *b;
	int i;

	if (bi >= TSN_ID_BITS || (b = &t->b[bi])->e == NULL)
		return -ENOENT;
	if ((i = find_in(b->e, b->n, id)) >= 0) {
		remove_at(b->e, &b->n, (unsigned)i);
		t->count--;
		promote(t, b);
		return 0;
	}
	if ((i = find_in(b->repl, b->nrepl, id)) >= 0) {
		remove_at(b->repl, &b->nrepl, (unsigned)i);
		return 0;
	}
	return -ENOENT;
}

size_t
tsn_table_closest(const struct tsn_table *t, const uint8_t target[TSN_ID_LEN],
                  const uint8_t *exclude, bool good_only, struct tsn_contact *out, size_t n)
{
	size_t have = 0;

	if (n == 0)
		return 0;
	for (unsigned bi = 0; bi < TSN_ID_BITS; bi++) {
		const struct bucket *b = &t->b[bi];
		for (unsigned i = 0; i < b->n; i++) {
			const struct tsn_contact *c = &b->e[i].c;
			size_t at;
			if ((exclude != NULL && memcmp(c->id, exclude, TSN_ID_LEN) == 0) ||
			    (good_only && b->e[i].fails > 0))
				continue;
			if (have == n && tsn_id_dist_cmp(target, c->id, out[n - 1].id) >= 0)
				continue;
			at = have < n ? have++ : n - 1;
			/* insertion sort: shift farther ones right */
			while (at > 0 && tsn_id_dist_cmp(target, c->id, out[at - 1].id) < 0) {
				out[at] = out[at - 1];
				at--;
			}
			out[at] = *c;
		}
	}
	return have;
}

bool
tsn_table_find(const struct tsn_table *t, const uint8_t id[TSN_ID_LEN], struct tsn_contact *c)
{
	unsigned bi = tsn_id_cpl(t->o.own_id, id);
	int i;

	if (bi >= TSN_ID_BITS || t->b[bi].e == NULL || (i = find_in(t->b[bi].e, t->b[bi].n, id)) < 0)
		return false;
	if (c != NULL)
		*c = t->b[bi].e[i].c;
	return true;
}

size_t
tsn_table_count(const struct tsn_table *t)
{
	return t->count;
}

size_t
tsn_table_bucket_count(const struct tsn_table *t, unsigned b)
{
	return b < TSN_ID_BITS ? t->b[b].n : 0;
}

size_t
tsn_table_bucket_candidates(const struct tsn_table *t, unsigned b)
{
	return b < TSN_ID_BITS ? t->b[b].nrepl : 0;
}

size_t
tsn_table_contacts(const struct tsn_table *t, struct tsn_contact *out, size_t max)
{
	size_t n = 0;

	for (unsigned bi = 0; bi < TSN_ID_BITS; bi++)
		for (int i = (int)t->b[bi].n - 1; i >= 0 && n < max; i--)
			out[n++] = t->b[bi].e[i].c;
	return n;
}

static int
deepest(const struct tsn_table *t)
{
	for (int bi = TSN_ID_BITS - 1; bi >= 0; bi--)
		if (t->b[bi].n > 0)
			return bi;
	return -1;
}

int
tsn_table_due_bucket(const struct tsn_table *t, uint64_t now_ms, uint64_t *next)
{
	int d = deepest(t), due = -1;

	*next = UINT64_MAX;
	for (int bi = 0; bi <= d; bi++) {
		uint64_t at = t->b[bi].last_active + t->o.refresh_ms;
		if (t->b[bi].force || at <= now_ms) {
			if (due < 0)
				due = bi;
		} else if (at < *next) {
			*next = at;
		}
	}
	return due;
}

void
tsn_table_touch(struct tsn_table *t, unsigned b, uint64_t now_ms)
{
	if (b < TSN_ID_BITS) {
		t->b[b].last_active = now_ms;
		t->b[b].force = false;
	}
}

void
tsn_table_touch_all_due(struct tsn_table *t)
{
	int d = deepest(t);

	for (int bi = 0; bi <= d; bi++)
		t->b[bi].force = true;
}
