/* search.c: keyword search (search.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node.h"
#include "record.h"
#include "search.h"
#include "util.h"

struct hits {
	struct tsn_kw_entry *e;
	size_t n, cap;
};

struct srch;

struct word_op {
	struct srch *s;
	size_t w;
};

/* Shared with the get callbacks on the loop thread; freed by the last reference. */
struct srch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	int changed;
	struct tsn_keywords kw;
	int done[TSN_KW_MAX];
	struct hits hits[TSN_KW_MAX];
	struct word_op ops[TSN_KW_MAX];
};

static void
srch_unref(struct srch *s)
{
	int last;

	pthread_mutex_lock(&s->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	for (size_t i = 0; i < TSN_KW_MAX; i++)
		free(s->hits[i].e);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static bool
same_hit(const struct tsn_kw_entry *a, const struct tsn_kw_entry *b)
{
	return memcmp(a->uri.id, b->uri.id, TSN_ID_LEN) == 0 && strcmp(a->name, b->name) == 0;
}

static bool
hits_has(const struct hits *h, const struct tsn_kw_entry *e)
{
	for (size_t i = 0; i < h->n; i++)
		if (same_hit(&h->e[i], e))
			return true;
	return false;
}

static void
hits_add(struct hits *h, const struct tsn_kw_entry *e)
{
	if (h->n == TSN_SEARCH_HITS_MAX || hits_has(h, e))
		return;
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 8;
		struct tsn_kw_entry *p = realloc(h->e, ncap * sizeof(*p));
		if (p == NULL)
			return;
		h->e = p;
		h->cap = ncap;
	}
	h->e[h->n++] = *e;
}

/* Loop thread: open each record with the word, keep live entries. */
static void
got_records(void *ud, int status, const struct tsn_record *recs, size_t n)
{
	struct word_op *op = ud;
	struct srch *s = op->s;
	struct tsn_kw_entry e;

	(void)status;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		const struct tsn_record *r = &recs[i];
		if (r->type != TSN_REC_KEYWORD || r->value_len <= TSN_REC_KW_SLOT_LEN)
			continue;
		if (tsn_kw_entry_open(s->kw.w[op->w], r->value + TSN_REC_KW_SLOT_LEN,
		                      r->value_len - TSN_REC_KW_SLOT_LEN, &e) != 0 ||
		    (e.flags & TSN_KW_WITHDRAWN))
			continue;
		hits_add(&s->hits[op->w], &e);
	}
	s->done[op->w] = 1;
	s->changed = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	srch_unref(s);
}

/* Under s->lock: the results every word found, not yet reported, into out. */
static size_t
ready_results(struct srch *s, struct hits *reported, struct tsn_kw_entry *out, size_t max)
{
	size_t n = 0;

	for (size_t w = 0; w < s->kw.n; w++)
		if (!s->done[w])
			return 0;
	for (size_t i = 0; i < s->hits[0].n && n < max; i++) {
		const struct tsn_kw_entry *e = &s->hits[0].e[i];
		bool all = true;
		for (size_t w = 1; w < s->kw.n && all; w++)
			all = hits_has(&s->hits[w], e);
		if (all && !hits_has(reported, e)) {
			hits_add(reported, e);
			out[n++] = *e;
		}
	}
	return n;
}

long
tsn_search_run(struct tsn_node *n, const char *query, size_t len, uint32_t timeout_ms,
               tsn_search_fn cb, void *ud)
{
	struct hits reported = {0};
	struct tsn_kw_entry *batch = NULL;
	struct srch *s;
	uint64_t deadline = tsn_mono_ms() + (timeout_ms ? timeout_ms : TSN_SEARCH_TIMEOUT_DEFAULT_MS);
	long count = 0;
	int rc = 0, stop = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if (tsn_keywords_add(&s->kw, query, len) == 0) {
		free(s);
		return -EINVAL;
	}
	if ((batch = calloc(TSN_SEARCH_HITS_MAX, sizeof(*batch))) == NULL) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->refs = 1;
	for (size_t w = 0; w < s->kw.n; w++) {
		uint8_t key[TSN_ID_LEN];
		s->ops[w].s = s;
		s->ops[w].w = w;
		tsn_keyword_key(s->kw.w[w], key);
		pthread_mutex_lock(&s->lock);
		s->refs++;
		pthread_mutex_unlock(&s->lock);
		if ((rc = tsn_node_get_records(n, key, 0, got_records, &s->ops[w])) != 0) {
			pthread_mutex_lock(&s->lock);
			s->refs--;
			pthread_mutex_unlock(&s->lock);
			break;
		}
	}
	pthread_mutex_lock(&s->lock);
	while (rc == 0 && !stop) {
		size_t k = ready_results(s, &reported, batch, TSN_SEARCH_HITS_MAX);
		bool all = true;
		for (size_t w = 0; w < s->kw.n; w++)
			all = all && s->done[w];
		s->changed = 0;
		if (k > 0) {
			pthread_mutex_unlock(&s->lock);
			for (size_t i = 0; i < k && !stop; i++, count++)
				stop = cb(ud, &batch[i]) != 0;
			pthread_mutex_lock(&s->lock);
		}
		if (all || stop)
			break;
		while (!s->changed && !stop) {
			uint64_t now = tsn_mono_ms(), step;
			struct timespec ts;
			if (now >= deadline) {
				stop = 1;
				break;
			}
			step = deadline - now < 100 ? deadline - now : 100;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)step * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT && !s->changed) {
				pthread_mutex_unlock(&s->lock);
				stop = cb(ud, NULL) != 0;
				pthread_mutex_lock(&s->lock);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	srch_unref(s);
	free(reported.e);
	free(batch);
	return rc != 0 ? rc : count;
}
