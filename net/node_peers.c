/*
 * node_peers.c: the peers a node remembers across restarts, in the store's
 * kv table TSN_KV_PEERS under "peers": u8 version (1) | u16 n | n times
 * (u8 family | ip[4 or 16] | u16 port | id[32]), at most
 * NODE_PEERS_SAVE_MAX contacts. Read at start (the caller's thread, before
 * the loop runs), written on the pool 10 s after start and then every
 * minute when they changed (never an empty list: a node cut off keeps what
 * it knew), and at stop (the stopping thread, synchronously).
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cursor_i.h"
#include "node_i.h"
#include "util.h"

#define PEERS_KEY "peers"
#define PEERS_VERSION 1
#define PEERS_VALUE_MAX (3 + NODE_PEERS_SAVE_MAX * (1 + 16 + 2 + TSN_ID_LEN))

static size_t
peers_encode(const struct tsn_contact *c, size_t nc, uint8_t *buf, size_t cap)
{
	struct wcur w;

	if (nc > NODE_PEERS_SAVE_MAX)
		nc = NODE_PEERS_SAVE_MAX;
	wcur_init(&w, buf, cap);
	wcur_u8(&w, PEERS_VERSION);
	wcur_u16(&w, (uint16_t)nc);
	for (size_t i = 0; i < nc; i++) {
		wcur_u8(&w, c[i].addr.family);
		wcur_bytes(&w, c[i].addr.ip, c[i].addr.family == TSN_ADDR_V4 ? 4 : 16);
		wcur_u16(&w, c[i].addr.port);
		wcur_bytes(&w, c[i].id, TSN_ID_LEN);
	}
	return w.err == 0 ? w.len : 0;
}

/* Returns the number of contacts decoded; 0 for a value of another version or malformed. */
static size_t
peers_decode(const uint8_t *buf, size_t len, struct tsn_contact *out, size_t max)
{
	struct rcur r;
	size_t nc, got = 0;

	rcur_init(&r, buf, len);
	if (rcur_u8(&r) != PEERS_VERSION)
		return 0;
	nc = rcur_u16(&r);
	for (size_t i = 0; i < nc && r.err == 0; i++) {
		struct tsn_contact c;
		uint8_t fam = rcur_u8(&r), ip[16] = {0};
		uint16_t port;

		if (fam != TSN_ADDR_V4 && fam != TSN_ADDR_V6)
			return 0;
		rcur_bytes(&r, ip, fam == TSN_ADDR_V4 ? 4 : 16);
		port = rcur_u16(&r);
		rcur_bytes(&r, c.id, TSN_ID_LEN);
		if (r.err != 0)
			return 0;
		if (fam == TSN_ADDR_V4)
			tsn_addr_v4(&c.addr, ip, port);
		else
			tsn_addr_v6(&c.addr, ip, port);
		if (got < max)
			out[got++] = c;
	}
	return r.err == 0 ? got : 0;
}

struct save_work {
	uv_work_t w;
	struct tsn_node *n;
	size_t len;
	int rc;
	uint8_t buf[PEERS_VALUE_MAX];
};

static void
save_run(uv_work_t *w)
{
	struct save_work *s = w->data;

	s->rc = tsn_store_kv_put(s->n->store, TSN_KV_PEERS, PEERS_KEY, strlen(PEERS_KEY), s->buf,
	                         s->len, 0);
}

static void
save_after(uv_work_t *w, int status)
{
	struct save_work *s = w->data;

	s->n->saving = false;
	if (status == 0 && s->rc != 0)
		tsn_log(TSN_LOG_WARN, "node: cannot save peers: %s", strerror(-s->rc));
	free(s);
}

/* Save the peers on the pool when they changed (never an empty list). */
void
node_peers_save(struct tsn_node *n)
{
	struct tsn_contact c[NODE_PEERS_SAVE_MAX];
	struct save_work *s;
	uint8_t sig[crypto_generichash_BYTES_MIN];
	size_t nc;

	nc = tsn_dht_peers(n->dht, c, NODE_PEERS_SAVE_MAX);
	if (nc == 0 || (s = malloc(sizeof(*s))) == NULL)
		return;
	s->w.data = s;
	s->n = n;
	s->len = peers_encode(c, nc, s->buf, sizeof(s->buf));
	if (s->len == 0 || crypto_generichash(sig, sizeof(sig), s->buf, s->len, NULL, 0) != 0 ||
	    memcmp(sig, n->peers_sig, sizeof(sig)) == 0 ||
	    uv_queue_work(&n->loop, &s->w, save_run, save_after) != 0) {
		free(s);
		return;
	}
	memcpy(n->peers_sig, sig, sizeof(sig));
	n->saving = true;
}

/* Ping the peers saved last time (start, caller's thread, before the loop runs). */
void
node_peers_load(struct tsn_node *n, uint64_t now)
{
	struct tsn_contact *c;
	uint8_t *buf;
	long len;
	size_t nc;

	buf = malloc(PEERS_VALUE_MAX);
	c = calloc(NODE_PEERS_SAVE_MAX, sizeof(*c));
	if (buf == NULL || c == NULL)
		goto out;
	len = tsn_store_kv_get(n->store, TSN_KV_PEERS, PEERS_KEY, strlen(PEERS_KEY), buf,
	                       PEERS_VALUE_MAX);
	if (len == -ENOENT)
		goto out;
	if (len < 0) {
		tsn_log(TSN_LOG_WARN, "node: cannot read saved peers: %s", strerror((int)-len));
		goto out;
	}
	nc = peers_decode(buf, (size_t)len, c, NODE_PEERS_SAVE_MAX);
	if (nc == 0)
		tsn_log(TSN_LOG_WARN, "node: saved peers unreadable (another version?), ignored");
	for (size_t i = 0; i < nc; i++)
		(void)tsn_dht_bootstrap(n->dht, now, &c[i].addr);
	tsn_log(TSN_LOG_INFO, "node: %zu saved peers", nc);
out:
	free(c);
	free(buf);
}

void
node_peers_take_final(struct tsn_node *n)
{
	n->final_peers = calloc(NODE_PEERS_SAVE_MAX, sizeof(*n->final_peers));
	if (n->final_peers != NULL)
		n->nfinal_peers = tsn_dht_peers(n->dht, n->final_peers, NODE_PEERS_SAVE_MAX);
}

void
node_peers_save_final(struct tsn_node *n)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (n->nfinal_peers == 0 || (buf = malloc(PEERS_VALUE_MAX)) == NULL)
		return;
	len = peers_encode(n->final_peers, n->nfinal_peers, buf, PEERS_VALUE_MAX);
	if (len > 0 && (rc = tsn_store_kv_put(n->store, TSN_KV_PEERS, PEERS_KEY, strlen(PEERS_KEY),
	                                      buf, len, 1)) != 0)
		tsn_log(TSN_LOG_WARN, "node: cannot save peers: %s", strerror(-rc));
	free(buf);
}
