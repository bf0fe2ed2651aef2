/* publish.c: keyword publishing and republishing (publish.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "keyword.h"
#include "node.h"
#include "publish.h"
#include "record.h"
#include "util.h"

#define PUB_VERSION 1
#define PUB_RETRY_MS 2000

struct tsn_publisher {
	struct tsn_store *store;
	struct tsn_node *node;
	uint64_t every_ms, ttl_ms;
	uint8_t secret[32];
	pthread_mutex_t lock; /* stop, and serialises kv read-modify-write */
	pthread_cond_t cond;
	int stop;
	pthread_t thread;
};

/* One saved publication, decoded. */
struct pub_item {
	struct tsn_uri uri;
	char name[TSN_KW_NAME_MAX + 1];
	struct tsn_keywords kw;
};

static void
put_done(void *ud, int status)
{
	(void)ud;
	if (status < 0)
		tsn_log(TSN_LOG_DEBUG, "publish: a keyword record was not stored: %s",
		        strerror(-status));
}

/* Queue one record, retrying a full queue for a bounded time. */
static int
send_record(struct tsn_publisher *p, const struct tsn_record *rec)
{
	int rc = -EAGAIN;

	for (int waited = 0; p->node != NULL && waited <= PUB_RETRY_MS; waited += 20) {
		rc = tsn_node_put_record(p->node, rec, put_done, NULL);
		if (rc != -EAGAIN)
			break;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	return rc;
}

/* Build and queue the records of it (flags: TSN_KW_WITHDRAWN or 0). Returns records queued. */
static int
publish_item(struct tsn_publisher *p, const struct pub_item *it, uint8_t flags, uint64_t seq)
{
	struct tsn_kw_entry e;
	struct tsn_record *rec = NULL;
	uint8_t slot[TSN_KW_SALT_LEN], spk[32], ssk[64], wpk[32], wsk[64], nonce[TSN_KW_NONCE_LEN];
	uint8_t sealed[TSN_KW_ENTRY_MAX];
	uint64_t exp = tsn_wall_ms() + p->ttl_ms;
	int n = 0;

	if (p->node == NULL || (rec = malloc(sizeof(*rec))) == NULL)
		return 0;
	memset(&e, 0, sizeof(e));
	e.flags = flags;
	e.uri = it->uri;
	memcpy(e.name, it->name, sizeof(e.name));
	tsn_kw_salt(&it->uri, it->name, slot);
	tsn_kw_signing_key(p->secret, slot, spk, ssk);
	for (size_t i = 0; i < it->kw.n; i++) {
		long len;
		randombytes_buf(nonce, sizeof(nonce));
		len = tsn_kw_entry_seal(it->kw.w[i], &e, nonce, sealed, sizeof(sealed));
		if (len < 0)
			continue;
		tsn_kw_word_keys(it->kw.w[i], wpk, wsk);
		if (tsn_record_keyword(rec, wsk, ssk, sealed, (size_t)len, seq, exp) == 0 &&
		    send_record(p, rec) == 0)
			n++;
	}
	sodium_memzero(ssk, sizeof(ssk));
	sodium_memzero(wsk, sizeof(wsk));
	free(rec);
	return n;
}

/* kv key: root id | name. */
static size_t
item_key(const struct tsn_uri *uri, const char *name, uint8_t *k)
{
	size_t nl = strlen(name);

	memcpy(k, uri->id, TSN_ID_LEN);
	memcpy(k + TSN_ID_LEN, name, nl);
	return TSN_ID_LEN + nl;
}

static size_t
item_encode(const struct pub_item *it, uint8_t *v)
{
	size_t n = 0;

	v[n++] = PUB_VERSION;
	memcpy(v + n, it->uri.key, TSN_KEY_LEN);
	n += TSN_KEY_LEN;
	tsn_put_be64(v + n, it->uri.size);
	n += 8;
	v[n++] = (uint8_t)it->kw.n;
	for (size_t i = 0; i < it->kw.n; i++) {
		size_t l = strlen(it->kw.w[i]);
		v[n++] = (uint8_t)l;
		memcpy(v + n, it->kw.w[i], l);
		n += l;
	}
	return n;
}

/* Decode a saved item (our own store, still checked with bounds). */
static int
item_decode(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen, struct pub_item *it)
{
	size_t n = 0, nw;

	memset(it, 0, sizeof(*it));
	if (klen <= TSN_ID_LEN || klen - TSN_ID_LEN > TSN_KW_NAME_MAX ||
	    vlen < 1 + TSN_KEY_LEN + 9 || v[0] != PUB_VERSION)
		return -EBADMSG;
	memcpy(it->uri.id, k, TSN_ID_LEN);
	memcpy(it->name, k + TSN_ID_LEN, klen - TSN_ID_LEN);
	n = 1;
	memcpy(it->uri.key, v + n, TSN_KEY_LEN);
	n += TSN_KEY_LEN;
	it->uri.size = tsn_get_be64(v + n);
	n += 8;
	nw = v[n++];
	if (nw > TSN_KW_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < nw; i++) {
		size_t l;
		if (n >= vlen || (l = v[n++]) > TSN_KW_MAX_LEN || l > vlen - n)
			return -EBADMSG;
		memcpy(it->kw.w[i], v + n, l);
		it->kw.w[i][l] = '\0';
		n += l;
	}
	it->kw.n = nw;
	return n == vlen ? 0 : -EBADMSG;
}

int
tsn_publisher_share(struct tsn_publisher *p, const struct tsn_uri *uri, const char *name,
                    const char *extra, size_t len)
{
	struct pub_item *it;
	uint8_t k[TSN_ID_LEN + TSN_KW_NAME_MAX], v[1 + TSN_KEY_LEN + 9 + TSN_KW_MAX * (TSN_KW_MAX_LEN + 1)];
	size_t nl = strlen(name);
	int rc;

	if (nl == 0 || nl > TSN_KW_NAME_MAX || strchr(name, '/') != NULL)
		return -EINVAL;
	if ((it = calloc(1, sizeof(*it))) == NULL)
		return -ENOMEM;
	it->uri = *uri;
	memcpy(it->name, name, nl);
	tsn_keywords_from_name(&it->kw, name, nl);
	if (extra != NULL && len > 0)
		tsn_keywords_add(&it->kw, extra, len);
	if (it->kw.n == 0) {
		rc = -EINVAL;
		goto out;
	}
	pthread_mutex_lock(&p->lock);
	rc = tsn_store_kv_put(p->store, TSN_KV_PUBLISHED, k, item_key(uri, name, k), v,
	                      item_encode(it, v), 0);
	pthread_mutex_unlock(&p->lock);
	if (rc == 0)
		rc = publish_item(p, it, 0, tsn_wall_ms());
out:
	free(it);
	return rc;
}

struct collect {
	const struct tsn_uri *uri;
	const char *name;
	struct pub_item *items;
	size_t n, cap;
};

static int
collect_cb(void *ud, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct collect *c = ud;
	struct pub_item *it;

	if (c->uri != NULL && (klen < TSN_ID_LEN || memcmp(key, c->uri->id, TSN_ID_LEN) != 0))
		return 0;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;
		if (ncap > SIZE_MAX / sizeof(*it) || (it = realloc(c->items, ncap * sizeof(*it))) == NULL)
			return -ENOMEM;
		c->items = it;
		c->cap = ncap;
	}
	it = &c->items[c->n];
	if (item_decode(key, klen, val, vlen, it) != 0) {
		tsn_log(TSN_LOG_WARN, "publish: a saved publication is malformed: skipped");
		return 0;
	}
	if (c->name != NULL && strcmp(it->name, c->name) != 0)
		return 0;
	c->n++;
	return 0;
}

int
tsn_publisher_withdraw(struct tsn_publisher *p, const struct tsn_uri *uri, const char *name)
{
	struct collect c = {.uri = uri, .name = name};
	uint8_t k[TSN_ID_LEN + TSN_KW_NAME_MAX];
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = tsn_store_kv_list(p->store, TSN_KV_PUBLISHED, collect_cb, &c);
	for (size_t i = 0; rc == 0 && i < c.n; i++)
		rc = tsn_store_kv_delete(p->store, TSN_KV_PUBLISHED, k,
		                         item_key(&c.items[i].uri, c.items[i].name, k));
	pthread_mutex_unlock(&p->lock);
	if (rc == 0) {
		/* +1: above a publish in the same millisecond */
		uint64_t seq = tsn_wall_ms() + 1;
		for (size_t i = 0; i < c.n; i++)
			publish_item(p, &c.items[i], TSN_KW_WITHDRAWN, seq);
		rc = (int)c.n;
	}
	free(c.items);
	return rc < 0 ? -EIO : rc;
}

long
tsn_publisher_republish(struct tsn_publisher *p)
{
	struct collect c = {0};
	uint64_t seq = tsn_wall_ms();
	long n = 0;
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = tsn_store_kv_list(p->store, TSN_KV_PUBLISHED, collect_cb, &c);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		pthread_mutex_lock(&p->lock);
		rc = p->stop ? -ECANCELED : 0;
		pthread_mutex_unlock(&p->lock);
		if (rc == 0)
			n += publish_item(p, &c.items[i], 0, seq);
	}
	free(c.items);
	return n;
}

static void *
run(void *arg)
{
	struct tsn_publisher *p = arg;
	uint64_t wait = 5000;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec ts;
		uint64_t until;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		until = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + wait;
		ts.tv_sec = (time_t)(until / 1000);
		ts.tv_nsec = (long)(until % 1000) * 1000000;
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT && !p->stop) {
			long n;
			pthread_mutex_unlock(&p->lock);
			n = tsn_publisher_republish(p);
			tsn_log(TSN_LOG_DEBUG, "publish: republished %ld keyword records", n);
			pthread_mutex_lock(&p->lock);
			wait = p->every_ms;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int
tsn_publisher_new(struct tsn_publisher **out, const struct tsn_publisher_opts *o)
{
	struct tsn_publisher *p;
	struct tsn_secret sec;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->store = o->store;
	p->node = o->node;
	p->every_ms = o->republish_ms ? o->republish_ms : TSN_PUBLISH_EVERY_DEFAULT_MS;
	p->ttl_ms = o->ttl_ms ? o->ttl_ms : TSN_PUBLISH_TTL_DEFAULT_MS;
	if ((rc = tsn_store_private_secret(o->store, &sec)) != 0)
		goto fail0;
	crypto_generichash(p->secret, sizeof(p->secret), (const uint8_t *)"tsn/kwpub", 9, sec.b,
	                   sizeof(sec.b));
	sodium_memzero(&sec, sizeof(sec));
	rc = -ENOMEM;
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		goto fail0;
	if (pthread_condattr_init(&ca) != 0)
		goto fail1;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&p->cond, &ca) != 0 ? -ENOMEM : 0;
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		goto fail1;
	if ((rc = -pthread_create(&p->thread, NULL, run, p)) != 0)
		goto fail2;
	*out = p;
	return 0;

fail2:
	pthread_cond_destroy(&p->cond);
fail1:
	pthread_mutex_destroy(&p->lock);
fail0:
	sodium_memzero(p->secret, sizeof(p->secret));
	free(p);
	return rc;
}

void
tsn_publisher_free(struct tsn_publisher *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	sodium_memzero(p->secret, sizeof(p->secret));
	free(p);
}
