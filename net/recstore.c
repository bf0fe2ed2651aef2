/*
 * recstore.c: the record store (struct tsn_recstore, declared in record.h).
 *
 * Keys live in an array sorted by key (binary search; no hash an attacker
 * could aim collisions at). Each key holds a small array of records in
 * insertion order, each kept encoded (what a VALUES reply sends) next to
 * the few fields the replacement rules need.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

struct rs_rec {
	uint8_t type;
	uint8_t salt_len;
	uint64_t seq;
	uint64_t expiry_ms;
	uint8_t pubkey[TSN_REC_PK_LEN];
	uint8_t salt[TSN_REC_SALT_MAX];
	size_t len;
	uint8_t bytes[];
};

struct rs_key {
	uint8_t key[TSN_ID_LEN];
	size_t n, cap, bytes;
	struct rs_rec **recs;
};

struct tsn_recstore {
	struct tsn_recstore_opts o;
	struct rs_key **keys;
	size_t nkeys, capkeys;
	size_t count, bytes;
	uint64_t min_expiry; /* lower bound on every held expiry */
};

void
tsn_recstore_opts_default(struct tsn_recstore_opts *o)
{
	o->max_records = 65536;
	o->max_bytes = (size_t)32 << 20;
	o->max_per_key = 64;
	o->max_bytes_per_key = (size_t)64 << 10;
	o->max_ttl_ms = UINT64_C(24) * 3600 * 1000;
	o->kw_per_key = 256;
	o->kw_bytes_per_key = (size_t)128 << 10;
}

int
tsn_recstore_new(struct tsn_recstore **out, const struct tsn_recstore_opts *o)
{
	struct tsn_recstore *rs;
	struct tsn_recstore_opts d;

	*out = NULL;
	tsn_recstore_opts_default(&d);
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		return -ENOMEM;
	rs->o = d;
	if (o != NULL) {
		if (o->max_records != 0) rs->o.max_records = o->max_records;
		if (o->max_bytes != 0) rs->o.max_bytes = o->max_bytes;
		if (o->max_per_key != 0) rs->o.max_per_key = o->max_per_key;
		if (o->max_bytes_per_key != 0) rs->o.max_bytes_per_key = o->max_bytes_per_key;
		if (o->max_ttl_ms != 0) rs->o.max_ttl_ms = o->max_ttl_ms;
		if (o->kw_per_key != 0) rs->o.kw_per_key = o->kw_per_key;
		if (o->kw_bytes_per_key != 0) rs->o.kw_bytes_per_key = o->kw_bytes_per_key;
	}
	rs->min_expiry = UINT64_MAX;
	*out = rs;
	return 0;
}

static void
key_free(struct rs_key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->recs[i]);
	free(k->recs);
	free(k);
}

void
tsn_recstore_free(struct tsn_recstore *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->nkeys; i++)
		key_free(rs->keys[i]);
	free(rs->keys);
	free(rs);
}

/* Index of key, or of where it would be inserted (*found false). */
static size_t
key_find(const struct tsn_recstore *rs, const uint8_t key[TSN_ID_LEN], bool *found)
{
	size_t lo = 0, hi = rs->nkeys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(rs->keys[mid]->key, key, TSN_ID_LEN);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void
key_remove_at(struct tsn_recstore *rs, size_t ki)
{
	key_free(rs->keys[ki]);
	memmove(&rs->keys[ki], &rs->keys[ki + 1], (rs->nkeys - ki - 1) * sizeof(rs->keys[0]));
	rs->nkeys--;
}

static void
rec_remove_at(struct tsn_recstore *rs, struct rs_key *k, size_t i)
{
	rs->count--;
	rs->bytes -= k->recs[i]->len;
	k->bytes -= k->recs[i]->len;
	free(k->recs[i]);
	memmove(&k->recs[i], &k->recs[i + 1], (k->n - i - 1) * sizeof(k->recs[0]));
	k->n--;
}

/* Drop k's records expired at now; returns how many. */
static size_t
key_expire(struct tsn_recstore *rs, struct rs_key *k, uint64_t now)
{
	size_t removed = 0;

	for (size_t i = 0; i < k->n;) {
		if (k->recs[i]->expiry_ms <= now) {
			rec_remove_at(rs, k, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

size_t
tsn_recstore_expire(struct tsn_recstore *rs, uint64_t now_ms)
{
	size_t removed = 0;
	uint64_t min = UINT64_MAX;

	if (now_ms < rs->min_expiry)
		return 0;
	for (size_t i = 0; i < rs->nkeys;) {
		struct rs_key *k = rs->keys[i];
		removed += key_expire(rs, k, now_ms);
		if (k->n == 0) {
			key_remove_at(rs, i);
			continue;
		}
		for (size_t j = 0; j < k->n; j++)
			if (k->recs[j]->expiry_ms < min)
				min = k->recs[j]->expiry_ms;
		i++;
	}
	rs->min_expiry = min;
	return removed;
}

static struct rs_rec *
rec_make(const struct tsn_record *r, size_t len)
{
	struct rs_rec *x = malloc(sizeof(*x) + len);

	if (x == NULL)
		return NULL;
	x->type = r->type;
	x->salt_len = r->salt_len;
	x->seq = r->seq;
	x->expiry_ms = r->expiry_ms;
	memcpy(x->pubkey, r->pubkey, TSN_REC_PK_LEN);
	memcpy(x->salt, r->salt, r->salt_len);
	x->len = len;
	if (tsn_record_encode(r, x->bytes, len) != (int)len) {
		free(x);
		return NULL;
	}
	return x;
}

static bool
rec_same_slot(const struct rs_rec *x, const struct tsn_record *r)
{
	if (x->type != r->type)
		return false;
	if (!tsn_record_is_signed(r->type))
		return true; /* immutable: the key binds the value */
	return memcmp(x->pubkey, r->pubkey, TSN_REC_PK_LEN) == 0 && x->salt_len == r->salt_len &&
	       memcmp(x->salt, r->salt, r->salt_len) == 0;
}

static size_t
key_bytes_max(const struct tsn_recstore *rs, uint8_t type)
{
	return type == TSN_REC_KEYWORD ? rs->o.kw_bytes_per_key : rs->o.max_bytes_per_key;
}

/*
 * Make room under k for a keyword record of len bytes: evict k's keyword
 * records, earliest expiry first (ties: earliest inserted). Returns 0 or
 * -ENOSPC (not enough keyword records to evict; nothing changed then).
 */
static int
kw_make_room(struct tsn_recstore *rs, struct rs_key *k, size_t len)
{
	size_t kwn = 0, kwbytes = 0;

	for (size_t i = 0; i < k->n; i++)
		if (k->recs[i]->type == TSN_REC_KEYWORD)
			kwn++, kwbytes += k->recs[i]->len;
	if (len > rs->o.kw_bytes_per_key)
		return -ENOSPC;
	/* Check first that evicting keyword records is enough. */
	if (k->bytes - kwbytes + len > rs->o.kw_bytes_per_key || k->n - kwn >= rs->o.kw_per_key)
		return -ENOSPC;
	while (k->n + 1 > rs->o.kw_per_key || k->bytes + len > rs->o.kw_bytes_per_key) {
		size_t victim = k->n;
		for (size_t i = 0; i < k->n; i++)
			if (k->recs[i]->type == TSN_REC_KEYWORD &&
			    (victim == k->n || k->recs[i]->expiry_ms < k->recs[victim]->expiry_ms))
				victim = i;
		if (victim == k->n)
			return -ENOSPC; /* not reached: checked above */
		rec_remove_at(rs, k, victim);
	}
	return 0;
}

/*
 * Replace slot i of k by r (already checked to be newer). The caller has
 * dropped k's expired records at now, so a sweep cannot remove k.
 */
static int
rec_replace(struct tsn_recstore *rs, struct rs_key *k, size_t i, const struct tsn_record *r,
            uint64_t now)
{
	size_t len = tsn_record_encoded_len(r), old = k->recs[i]->len;
	struct rs_rec *x;

	if (len > old) {
		if (k->bytes + len - old > key_bytes_max(rs, r->type))
			return -ENOSPC;
		if (rs->bytes + len - old > rs->o.max_bytes) {
			tsn_recstore_expire(rs, now);
			if (rs->bytes + len - old > rs->o.max_bytes)
				return -ENOSPC;
		}
	}
	x = rec_make(r, len);
	if (x == NULL)
		return -ENOMEM;
	k->bytes = k->bytes - old + len;
	rs->bytes = rs->bytes - old + len;
	free(k->recs[i]);
	k->recs[i] = x;
	if (r->expiry_ms < rs->min_expiry)
		rs->min_expiry = r->expiry_ms;
	return 0;
}

static int
grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap < 4 ? 4 : *cap * 2;
	if (ncap < need)
		ncap = need;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	p = realloc(*arr, ncap * elem);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int
tsn_recstore_put(struct tsn_recstore *rs, uint64_t now_ms, const struct tsn_record *r)
{
	size_t len, ki;
	struct rs_key *k = NULL;
	struct rs_rec *x;
	bool found;
	int rc;

	if (tsn_record_verify(r) != 0)
		return -EBADMSG;
	if (r->expiry_ms <= now_ms)
		return -ETIMEDOUT;
	if (r->expiry_ms - now_ms > rs->o.max_ttl_ms)
		return -ERANGE;
	len = tsn_record_encoded_len(r);

	ki = key_find(rs, r->key, &found);
	if (found) {
		k = rs->keys[ki];
		key_expire(rs, k, now_ms);
		if (k->n == 0) {
			key_remove_at(rs, ki); /* ki stays the insertion point */
			k = NULL;
		}
	}
	if (k != NULL) {
		for (size_t i = 0; i < k->n; i++) {
			struct rs_rec *old = k->recs[i];
			if (!rec_same_slot(old, r))
				continue;
			if (!tsn_record_is_signed(r->type))
				/* Same content: keep the later expiry. */
				return r->expiry_ms > old->expiry_ms ? rec_replace(rs, k, i, r, now_ms) : 0;
			if (r->seq > old->seq)
				return rec_replace(rs, k, i, r, now_ms);
			if (r->seq == old->seq && old->len == len) {
				uint8_t buf[TSN_REC_MAX_LEN];
				if (tsn_record_encode(r, buf, sizeof(buf)) == (int)len &&
				    memcmp(buf, old->bytes, len) == 0)
					return 0; /* a republish of what we hold */
			}
			return -ESTALE;
		}
		if (r->type == TSN_REC_KEYWORD) {
			if ((k->n >= rs->o.kw_per_key || k->bytes + len > rs->o.kw_bytes_per_key) &&
			    kw_make_room(rs, k, len) != 0)
				return -ENOSPC;
		} else if (k->n >= rs->o.max_per_key || k->bytes + len > rs->o.max_bytes_per_key) {
			return -ENOSPC;
		}
	}
	if (rs->count >= rs->o.max_records || rs->bytes + len > rs->o.max_bytes) {
		tsn_recstore_expire(rs, now_ms); /* may remove k if it became empty */
		if (rs->count >= rs->o.max_records || rs->bytes + len > rs->o.max_bytes)
			return -ENOSPC;
		ki = key_find(rs, r->key, &found);
		k = found ? rs->keys[ki] : NULL;
	}

	x = rec_make(r, len);
	if (x == NULL)
		return -ENOMEM;
	if (k == NULL) {
		rc = grow((void **)&rs->keys, &rs->capkeys, rs->nkeys + 1, sizeof(rs->keys[0]));
		if (rc != 0 || (k = calloc(1, sizeof(*k))) == NULL) {
			free(x);
			return -ENOMEM;
		}
		memcpy(k->key, r->key, TSN_ID_LEN);
		memmove(&rs->keys[ki + 1], &rs->keys[ki], (rs->nkeys - ki) * sizeof(rs->keys[0]));
		rs->keys[ki] = k;
		rs->nkeys++;
	}
	if (grow((void **)&k->recs, &k->cap, k->n + 1, sizeof(k->recs[0])) != 0) {
		free(x);
		if (k->n == 0)
			key_remove_at(rs, ki);
		return -ENOMEM;
	}
	k->recs[k->n++] = x;
	k->bytes += len;
	rs->count++;
	rs->bytes += len;
	if (r->expiry_ms < rs->min_expiry)
		rs->min_expiry = r->expiry_ms;
	return 0;
}

size_t
tsn_recstore_get(struct tsn_recstore *rs, uint64_t now_ms, const uint8_t key[TSN_ID_LEN],
                 size_t start, struct tsn_blob *out, size_t max, size_t *total)
{
	struct rs_key *k;
	size_t ki, n = 0;
	bool found;

	*total = 0;
	ki = key_find(rs, key, &found);
	if (!found)
		return 0;
	k = rs->keys[ki];
	key_expire(rs, k, now_ms);
	if (k->n == 0) {
		key_remove_at(rs, ki);
		return 0;
	}
	*total = k->n;
	for (size_t i = start; i < k->n && n < max; i++, n++) {
		out[n].p = k->recs[i]->bytes;
		out[n].len = k->recs[i]->len;
	}
	return n;
}

size_t
tsn_recstore_count(const struct tsn_recstore *rs)
{
	return rs->count;
}

size_t
tsn_recstore_bytes(const struct tsn_recstore *rs)
{
	return rs->bytes;
}

size_t
tsn_recstore_keys(const struct tsn_recstore *rs)
{
	return rs->nkeys;
}

bool
tsn_recstore_next_key(const struct tsn_recstore *rs, const uint8_t *after,
                      uint8_t out[TSN_ID_LEN])
{
	size_t ki = 0;
	bool found = false;

	if (after != NULL) {
		ki = key_find(rs, after, &found);
		if (found)
			ki++;
	}
	if (ki >= rs->nkeys)
		return false;
	memcpy(out, rs->keys[ki]->key, TSN_ID_LEN);
	return true;
}
