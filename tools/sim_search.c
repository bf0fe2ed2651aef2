/*
 * sim_search.c: keyword search in the `files` scenario (see sim_i.h).
 *
 * Publishing builds each record as net/publish.c does (publish_item):
 * entry {name, URI} sealed per word with a fresh nonce, slot key
 * tsn_kw_signing_key(owner secret, tsn_kw_salt(uri, name)), record signed
 * by the word's key pair (tsn_record_keyword), seq 1; the owner's core
 * puts it at the k closest nodes to the word's key (with the fast join:
 * stored straight at the true k closest, fast_put, unless --real-publish).
 * Owner secrets, URI keys and nonces come from one generator seeded from
 * --seed. Records live SS_TTL_MS; no republishing (runs are shorter).
 *
 * Searching is net/search.c's: one tsn_dht_get_records per word, started
 * together; each record's entry opened with its word (withdrawn and
 * unopenable entries dropped); when every word's get has ended, the
 * entries every word found, by (root id, name), are the results. The core
 * hands a get's records over when it ends, and the searcher intersects
 * only then, so the first and the last result arrive together (both are
 * reported, for when gets stream). Hops = the highest round at which a
 * word's get got its first VALUES reply; messages = all its gets'.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyword.h"
#include "record.h"
#include "sim_i.h"
#include "wire.h"

#define SS_TTL_MS (12ull * 3600 * 1000)
#define SS_RETRY_MS 100
#define SS_WINDOW 512
#define SS_STREAM 0x5ea4c4u  /* this file's generator stream */

struct ss_key {
	uint64_t root;   /* first 8 bytes of the root id */
	uint32_t doc;
};

struct sim_search {
	struct sim *s;
	const struct sim_doc *docs;
	uint32_t n;
	struct sim_rng rng;
	struct ss_key *idx;        /* by root, for mapping entries back to docs */
	char (*kws)[80];           /* per doc: " w1 w2 ext " (its normalised keywords) */
	/* publishing */
	struct tsn_record *recs;
	uint32_t *rec_doc;
	size_t nrecs;
	unsigned stored;
};

static uint64_t
root64(const uint8_t *id)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 8 | id[i];
	return x;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct ss_key *x = a, *y = b;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* The doc an entry names, UINT32_MAX when none (never made up). */
static uint32_t
doc_of(const struct sim_search *ss, const struct tsn_kw_entry *e)
{
	uint64_t r = root64(e->uri.id);
	size_t lo = 0, hi = ss->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ss->idx[mid].root < r)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ss->n && ss->idx[lo].root == r; lo++) {
		const struct sim_doc *d = &ss->docs[ss->idx[lo].doc];
		if (memcmp(d->root, e->uri.id, TSN_ID_LEN) == 0 && strcmp(d->title, e->name) == 0 &&
		    d->size == e->uri.size)
			return ss->idx[lo].doc;
	}
	return UINT32_MAX;
}

int
sim_search_new(struct sim_search **out, struct sim *s, const struct sim_doc *docs, uint32_t n)
{
	struct sim_search *ss = calloc(1, sizeof(*ss));
	struct tsn_keywords *kw = malloc(sizeof(*kw));

	*out = NULL;
	if (ss == NULL || kw == NULL || sodium_init() < 0 ||
	    (ss->idx = calloc(n ? n : 1, sizeof(ss->idx[0]))) == NULL ||
	    (ss->kws = calloc(n ? n : 1, sizeof(ss->kws[0]))) == NULL) {
		free(kw);
		sim_search_free(ss);
		return -ENOMEM;
	}
	ss->s = s;
	ss->docs = docs;
	ss->n = n;
	sim_rng_seed(&ss->rng, s->cfg.seed, SS_STREAM);
	for (uint32_t i = 0; i < n; i++) {
		size_t len = 1;
		ss->idx[i] = (struct ss_key){.root = root64(docs[i].root), .doc = i};
		tsn_keywords_from_name(kw, docs[i].title, strlen(docs[i].title));
		ss->kws[i][0] = ' ';
		for (size_t w = 0; w < kw->n && len < sizeof(ss->kws[i]); w++)
			len += (size_t)snprintf(ss->kws[i] + len, sizeof(ss->kws[i]) - len, "%s ",
			                        kw->w[w]);
	}
	qsort(ss->idx, n, sizeof(ss->idx[0]), key_cmp);
	free(kw);
	*out = ss;
	return 0;
}

void
sim_search_free(struct sim_search *ss)
{
	if (ss == NULL)
		return;
	free(ss->idx);
	free(ss->kws);
	free(ss->recs);
	free(ss->rec_doc);
	free(ss);
}

/* ---- publishing ---- */

/* Append the records of doc i (secret: its owner's). Returns records added. */
static size_t
build_doc(struct sim_search *ss, uint32_t i, const uint8_t secret[32], struct tsn_keywords *kw)
{
	const struct sim_doc *d = &ss->docs[i];
	struct tsn_kw_entry e;
	uint8_t slot[TSN_KW_SALT_LEN], spk[32], ssk[64], wpk[32], wsk[64], nonce[TSN_KW_NONCE_LEN];
	uint8_t sealed[TSN_KW_ENTRY_MAX];
	size_t added = 0;

	memset(&e, 0, sizeof(e));
	e.uri.size = d->size;
	memcpy(e.uri.id, d->root, TSN_ID_LEN);
	sim_rng_bytes(&ss->rng, e.uri.key, sizeof(e.uri.key));
	snprintf(e.name, sizeof(e.name), "%s", d->title);
	tsn_kw_salt(&e.uri, e.name, slot);
	tsn_kw_signing_key(secret, slot, spk, ssk);
	tsn_keywords_from_name(kw, d->title, strlen(d->title));
	for (size_t w = 0; w < kw->n; w++) {
		long len;
		sim_rng_bytes(&ss->rng, nonce, sizeof(nonce));
		len = tsn_kw_entry_seal(kw->w[w], &e, nonce, sealed, sizeof(sealed));
		if (len < 0)
			continue;
		tsn_kw_word_keys(kw->w[w], wpk, wsk);
		if (tsn_record_keyword(&ss->recs[ss->nrecs], wsk, ssk, sealed, (size_t)len, 1,
		                       ss->s->now + SS_TTL_MS) == 0) {
			ss->rec_doc[ss->nrecs++] = i;
			added++;
		}
	}
	sodium_memzero(ssk, sizeof(ssk));
	sodium_memzero(wsk, sizeof(wsk));
	return added;
}

static bool
put_setup(struct sim *s, struct sim_batch *b, size_t i, uint32_t *origin,
          uint8_t target[TSN_ID_LEN], const struct tsn_record **rec)
{
	struct sim_search *ss = b->ud;

	(void)s;
	(void)target;
	*origin = ss->docs[ss->rec_doc[i]].owner;
	*rec = &ss->recs[i];
	return true;
}

static void
put_result(struct sim *s, struct sim_batch *b, size_t i, struct sim_op *op)
{
	struct sim_search *ss = b->ud;

	(void)s;
	(void)i;
	if (op->status > 0)
		ss->stored++;
}

/*
 * Fast publish (with the fast join): each record goes straight into the
 * record stores of the k live nodes closest to its key, from the global
 * view, through tsn_recstore_put (signatures checked as a STORE would):
 * where a converged put lands it, without its lookup and 20 STOREs (a
 * real publish of 70,000 records at 10,000 nodes did not end in 15 min).
 * A holder keeps kw_per_key entries per word and, all expiries being equal
 * here, evicts the earliest inserted (docs/formats.md, "Storers' limits"):
 * of a word's records only its last kw_per_key in publishing order are
 * stored, which leaves every store as storing them all would, at a
 * fraction of the signature checks (the rest count as stored: a put of
 * them succeeds, and the next evicts them).
 */
struct ss_order {
	const uint8_t *key;
	size_t i;
};

static int
order_cmp(const void *a, const void *b)
{
	const struct ss_order *x = a, *y = b;
	int c = memcmp(x->key, y->key, TSN_ID_LEN);

	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
fast_put(struct sim_search *ss)
{
	struct sim *s = ss->s;
	struct ss_order *ord = malloc((ss->nrecs ? ss->nrecs : 1) * sizeof(*ord));
	uint32_t near[TSN_WIRE_NODES_MAX];
	size_t k = s->dopts.k ? s->dopts.k : 20, cap = s->dopts.records.kw_per_key, n;
	struct tsn_recstore_opts def;

	if (ord == NULL)
		return -ENOMEM;
	tsn_recstore_opts_default(&def);
	if (cap == 0)
		cap = def.kw_per_key;
	if (k > TSN_WIRE_NODES_MAX)
		k = TSN_WIRE_NODES_MAX;
	for (size_t i = 0; i < ss->nrecs; i++)
		ord[i] = (struct ss_order){.key = ss->recs[i].key, .i = i};
	qsort(ord, ss->nrecs, sizeof(ord[0]), order_cmp);
	for (size_t g = 0, e; g < ss->nrecs; g = e) {
		for (e = g; e < ss->nrecs && memcmp(ord[e].key, ord[g].key, TSN_ID_LEN) == 0; e++)
			;
		n = sim_view_closest(s, ord[g].key, UINT32_MAX, near, k);
		/* sorted by index within a key: the put order */
		for (size_t x = g; x < e; x++) {
			const struct tsn_record *r = &ss->recs[ord[x].i];
			unsigned held = 0;
			if (e - x > cap) {
				ss->stored += n > 0;
				continue;
			}
			for (size_t j = 0; j < n; j++)
				held += tsn_recstore_put(tsn_dht_records(s->nodes[near[j]].dht), s->now,
				                         r) == 0;
			ss->stored += held > 0;
		}
	}
	free(ord);
	return 0;
}

int
sim_search_publish(struct sim_search *ss, struct sim_report *rep, FILE *out)
{
	struct sim *s = ss->s;
	struct sim_batch b = {.kind = SIM_OP_PUT, .window = SS_WINDOW, .setup = put_setup,
	                      .result = put_result, .ud = ss};
	struct tsn_keywords *kw = malloc(sizeof(*kw));
	uint8_t (*secret)[32] = calloc(s->n ? s->n : 1, 32);
	size_t cap = (size_t)ss->n * TSN_KW_MAX;
	int rc = -ENOMEM;

	if (kw == NULL || secret == NULL ||
	    (ss->recs = malloc((cap ? cap : 1) * sizeof(ss->recs[0]))) == NULL ||
	    (ss->rec_doc = malloc((cap ? cap : 1) * sizeof(ss->rec_doc[0]))) == NULL)
		goto done;
	for (uint32_t i = 0; i < s->n; i++)
		sim_rng_bytes(&ss->rng, secret[i], 32);
	ss->nrecs = 0;
	for (uint32_t i = 0; i < ss->n; i++)
		build_doc(ss, i, secret[ss->docs[i].owner], kw);
	b.n = ss->nrecs;
	ss->stored = 0;
	if (s->real_join || s->cfg.real_publish) {
		if ((rc = sim_batch_run(s, &b, 24ull * 3600 * 1000)) != 0)
			goto done;
	} else if ((rc = fast_put(ss)) != 0) {
		goto done;
	}
	for (size_t i = 0; i < ss->nrecs; i++)
		sim_report_count(rep, "kwput", i < ss->stored);
	fprintf(out, "keywords: %zu records for %u files %s, %.2f%% stored\n", ss->nrecs, ss->n,
	        s->real_join || s->cfg.real_publish ? "put by their owners"
	                                            : "stored at the true k closest (fast publish)",
	        ss->nrecs ? 100.0 * ss->stored / (double)ss->nrecs : 100.0);
done:
	if (secret != NULL)
		sodium_memzero(secret, (size_t)s->n * 32);
	free(secret);
	free(kw);
	free(ss->recs);
	free(ss->rec_doc);
	ss->recs = NULL;
	ss->rec_doc = NULL;
	return rc;
}

/* ---- searching ---- */

struct ss_run;

struct ss_word {
	struct sim_op op;
	struct ss_run *r;
	uint32_t *hits;            /* docs this word's get found */
	size_t n, cap;
	unsigned w;
	bool failed;
};

struct ss_run {
	struct sim_search *ss;
	struct tsn_keywords kw;
	struct ss_word word[SIM_SEARCH_WORDS_MAX];
	uint32_t from;
	uint64_t start;
	unsigned left, foreign;
	bool done;
	struct sim_search_out o;
	void (*on_done)(struct ss_run *r);  /* NULL: the caller waits on done */
	void *ud;                           /* the batch's */
	unsigned idx;
};

static bool
hits_has(const struct ss_word *wd, uint32_t doc)
{
	for (size_t i = 0; i < wd->n; i++)
		if (wd->hits[i] == doc)
			return true;
	return false;
}

static void
hits_add(struct ss_word *wd, uint32_t doc)
{
	if (hits_has(wd, doc))
		return;
	if (wd->n == wd->cap) {
		size_t cap = wd->cap ? wd->cap * 2 : 16;
		uint32_t *h = realloc(wd->hits, cap * sizeof(h[0]));
		if (h == NULL)
			return;
		wd->hits = h;
		wd->cap = cap;
	}
	wd->hits[wd->n++] = doc;
}

static void
got_recs(struct sim *s, struct sim_op *op, const struct tsn_record *recs, size_t n)
{
	struct ss_word *wd = op->ud;
	struct tsn_kw_entry e;

	(void)s;
	for (size_t i = 0; i < n; i++) {
		const struct tsn_record *r = &recs[i];
		uint32_t doc;
		if (r->type != TSN_REC_KEYWORD || r->value_len <= TSN_REC_KW_SLOT_LEN ||
		    tsn_kw_entry_open(wd->r->kw.w[wd->w], r->value + TSN_REC_KW_SLOT_LEN,
		                      r->value_len - TSN_REC_KW_SLOT_LEN, &e) != 0 ||
		    (e.flags & TSN_KW_WITHDRAWN))
			continue;
		if ((doc = doc_of(wd->r->ss, &e)) == UINT32_MAX)
			wd->r->foreign++;
		else
			hits_add(wd, doc);
	}
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Does doc's keyword list hold every query word? */
static bool
doc_matches(const struct sim_search *ss, uint32_t doc, const struct tsn_keywords *kw)
{
	char pat[TSN_KW_MAX_LEN + 3];

	for (size_t w = 0; w < kw->n; w++) {
		snprintf(pat, sizeof(pat), " %s ", kw->w[w]);
		if (strstr(ss->kws[doc], pat) == NULL)
			return false;
	}
	return true;
}

static void
run_end(struct sim *s, struct ss_run *r)
{
	struct sim_search *ss = r->ss;
	struct sim_search_out *o = &r->o;
	const struct ss_word *w0 = &r->word[0];
	bool failed = false;

	o->docs = malloc((w0->n ? w0->n : 1) * sizeof(o->docs[0]));
	o->n = 0;
	for (size_t i = 0; o->docs != NULL && i < w0->n; i++) {
		bool all = true;
		for (unsigned w = 1; w < r->kw.n && all; w++)
			all = hits_has(&r->word[w], w0->hits[i]);
		if (all)
			o->docs[o->n++] = w0->hits[i];
	}
	if (o->docs != NULL)
		qsort(o->docs, o->n, sizeof(o->docs[0]), u32_cmp);
	o->truth = o->missed = o->extra = 0;
	for (uint32_t d = 0; d < ss->n; d++) {
		bool want = doc_matches(ss, d, &r->kw);
		bool got = o->docs != NULL && bsearch(&d, o->docs, o->n, sizeof(d), u32_cmp) != NULL;
		o->truth += want;
		o->missed += want && !got;
		o->extra += got && !want;
	}
	for (unsigned w = 0; w < r->kw.n; w++) {
		failed |= r->word[w].failed;
		free(r->word[w].hits);
		r->word[w].hits = NULL;
		sim_op_clear(&r->word[w].op);
	}
	o->last_ms = s->now - r->start;
	o->first_ms = o->n > 0 ? o->last_ms : 0;
	o->ok = o->docs != NULL && !failed && o->missed == 0 && o->extra == 0 && r->foreign == 0;
	r->done = true;
	if (r->on_done != NULL)
		r->on_done(r);
}

static void word_start(struct sim *s, struct ss_word *wd);

static void
word_end(struct sim *s, struct ss_word *wd)
{
	struct ss_run *r = wd->r;

	if (--r->left == 0)
		run_end(s, r);
}

static void
word_done(struct sim *s, struct sim_op *op)
{
	struct ss_word *wd = op->ud;
	struct ss_run *r = wd->r;

	r->o.msgs += op->msgs;
	if (op->value_round > r->o.hops)
		r->o.hops = op->value_round;
	if (op->status != 0 && op->status != -ENOENT)
		wd->failed = true;
	word_end(s, wd);
}

static void
word_retry(struct sim *s, void *p, uint32_t arg)
{
	(void)arg;
	word_start(s, p);
}

static void
word_start(struct sim *s, struct ss_word *wd)
{
	struct ss_run *r = wd->r;
	uint8_t key[TSN_ID_LEN];
	int rc;

	tsn_keyword_key(r->kw.w[wd->w], key);
	wd->op.recs_fn = got_recs;
	rc = sim_op_start(s, &wd->op, SIM_OP_GET, r->from, key, NULL, word_done, wd);
	if (rc == -EAGAIN) { /* the node's max_ops: again in 100 ms */
		sim_task(s, s->now + SS_RETRY_MS, word_retry, wd, 0);
		return;
	}
	if (rc != 0) {
		wd->failed = true;
		word_end(s, wd);
	}
}

/* Parse query into r; 0 or -EINVAL. */
static int
run_init(struct sim_search *ss, struct ss_run *r, uint32_t from, const char *query)
{
	memset(r, 0, sizeof(*r));
	r->ss = ss;
	r->from = from;
	if (tsn_keywords_add(&r->kw, query, strlen(query)) == 0 ||
	    r->kw.n > SIM_SEARCH_WORDS_MAX)
		return -EINVAL;
	r->o.words = (unsigned)r->kw.n;
	return 0;
}

static void
run_start(struct sim *s, struct ss_run *r)
{
	r->start = s->now;
	r->left = (unsigned)r->kw.n;
	for (unsigned w = 0; w < r->kw.n; w++) {
		r->word[w].r = r;
		r->word[w].w = w;
	}
	for (unsigned w = 0; w < r->kw.n; w++)
		word_start(s, &r->word[w]);
}

int
sim_search_one(struct sim_search *ss, uint32_t from, const char *query, struct sim_search_out *o)
{
	struct ss_run *r = malloc(sizeof(*r));
	int rc;

	memset(o, 0, sizeof(*o));
	if (r == NULL)
		return -ENOMEM;
	if ((rc = run_init(ss, r, from, query)) != 0) {
		free(r);
		return rc;
	}
	run_start(ss->s, r);
	if (!sim_run_until_set(ss->s, &r->done, ss->s->now + 3600u * 1000)) {
		fprintf(stderr, "tsn-sim: a search did not finish in virtual time\n");
		exit(1); /* the cores broke their deadlines: a bug, not a figure */
	}
	*o = r->o;
	free(r);
	return o->docs != NULL ? 0 : -ENOMEM;
}

/* ---- the batch ---- */

struct ss_batch {
	struct sim_search *ss;
	struct sim_report *rep;
	struct ss_run *runs;
	unsigned count, finished;
	bool all_done;
};

static void
batch_done(struct ss_run *r)
{
	struct ss_batch *B = r->ud;
	const struct sim_search_out *o = &r->o;

	sim_report_count(B->rep, "search", o->ok);
	if (o->n > 0) {
		sim_report_add(B->rep, "search", "search.first_ms", (double)o->first_ms);
		sim_report_add(B->rep, "search", "search.last_ms", (double)o->last_ms);
	}
	if (o->truth > 0) /* recall: the share of the matching files it found */
		sim_report_add(B->rep, "search", "search.found_pct",
		               100.0 * (double)(o->truth - o->missed) / (double)o->truth);
	sim_report_add(B->rep, "search", "search.hops", o->hops);
	sim_report_add(B->rep, "search", "search.msgs", o->msgs);
	sim_report_row(B->rep, "search", r->idx, r->from, r->start, o->last_ms, o->words, o->hops,
	               o->msgs, o->ok, (long long)o->n);
	free(r->o.docs);
	r->o.docs = NULL;
	if (++B->finished == B->count)
		B->all_done = true;
}

static void
batch_start(struct sim *s, void *p, uint32_t j)
{
	struct ss_batch *B = p;
	struct sim_search *ss = B->ss;
	struct ss_run *r = &B->runs[j];
	uint32_t from = sim_random_up(s, &s->rng_work);
	uint32_t doc = (uint32_t)sim_rng_below(&s->rng_work, ss->n);
	struct tsn_keywords *kw = &r->kw; /* scratch: run_init clears it */
	char query[2 * (TSN_KW_MAX_LEN + 1)];
	size_t words;

	/* the title's words, the extension (the last keyword) left out */
	memset(kw, 0, sizeof(*kw));
	words = tsn_keywords_from_name(kw, ss->docs[doc].title, strlen(ss->docs[doc].title));
	words = words > 1 ? words - 1 : words;
	if (j % 2 == 1 || words < 2) {
		snprintf(query, sizeof(query), "%s", kw->w[sim_rng_below(&s->rng_work, words)]);
	} else {
		size_t a = (size_t)sim_rng_below(&s->rng_work, words);
		size_t b = (a + 1 + (size_t)sim_rng_below(&s->rng_work, words - 1)) % words;
		snprintf(query, sizeof(query), "%s %s", kw->w[a], kw->w[b]);
	}
	(void)run_init(ss, r, from, query); /* words of a title: never fails */
	r->on_done = batch_done;
	r->ud = B;
	r->idx = j;
	run_start(s, r);
}

int
sim_search_batch(struct sim_search *ss, struct sim_report *rep, unsigned count, FILE *out)
{
	struct sim *s = ss->s;
	struct ss_batch B = {.ss = ss, .rep = rep, .count = ss->n ? count : 0};

	B.all_done = B.count == 0;
	if ((B.runs = calloc(B.count ? B.count : 1, sizeof(B.runs[0]))) == NULL)
		return -ENOMEM;
	for (unsigned j = 0; j < B.count; j++)
		sim_task(s, s->now + (uint64_t)((double)j * 1000.0 / s->cfg.rate), batch_start, &B, j);
	fprintf(out, "searches: %u by random live nodes for one or two words of a random title "
	        "(alternately), %.0f per second\n", B.count, s->cfg.rate);
	if (!sim_run_until_set(s, &B.all_done, s->now + 24u * 3600 * 1000)) {
		fprintf(stderr, "tsn-sim: searches did not finish in virtual time\n");
		exit(1); /* the cores broke their deadlines: a bug, not a figure */
	}
	free(B.runs);
	return 0;
}
