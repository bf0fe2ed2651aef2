/*
 * node.c: the running node (node.h): start and stop, the loop thread, the
 * clock, block buffers, the status snapshot. Requests, their queue and
 * deadlines and the dht glue live in node_req.c, saved peers in
 * node_peers.c, sockets in node_udp.c and node_tcp.c, chunk transfers in
 * node_chunk.c (push, serving) and node_fetch.c, repair in node_repair.c.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity.h"
#include "node_i.h"
#include "search.h"
#include "util.h"

/* ---- clock ---- */

static uint64_t
mono_ms(void)
{
	return uv_hrtime() / 1000000u;
}

/*
 * Unix time in ms for the dht (record expiries are absolute), never going
 * backwards. When the wall clock steps back, the node's clock goes on at
 * the monotonic rate instead of freezing (a frozen clock would stop every
 * timeout); when it steps forward, the node follows.
 */
uint64_t
node_now(struct tsn_node *n)
{
	struct timespec ts;
	uint64_t wall, mono, t;

	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	mono = mono_ms();
	uv_mutex_lock(&n->clock_mu);
	t = n->clock_last + (mono - n->clock_mono);
	if (wall > t)
		t = wall;
	n->clock_last = t;
	n->clock_mono = mono;
	uv_mutex_unlock(&n->clock_mu);
	return t;
}

/* ---- block buffers (loop thread) ---- */

struct node_blk *
node_blk_new(struct tsn_node *n)
{
	struct node_blk *b = n->blk_free;

	if (b != NULL) {
		n->blk_free = b->next;
		n->nblk_free--;
	} else if ((b = aligned_alloc(TSN_STORE_DIO_ALIGN, sizeof(*b))) == NULL) {
		return NULL;
	}
	b->next = NULL;
	b->refs = 1;
	b->len = 0;
	return b;
}

void
node_blk_unref(struct tsn_node *n, struct node_blk *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	if (n->nblk_free < NODE_BLK_FREE_MAX && !n->stopping) {
		b->next = n->blk_free;
		n->blk_free = b;
		n->nblk_free++;
	} else {
		free(b);
	}
}

/* ---- status ---- */

void
node_publish(struct tsn_node *n, bool peers)
{
	struct tsn_dht_stats ds;

	if (n->dht == NULL)
		return;
	tsn_dht_stats(n->dht, &ds);
	uv_mutex_lock(&n->s_mu);
	if (ds.peers != n->snap.peers)
		peers = true; /* the list changed: show it at once */
	n->snap = n->st;
	n->snap.dht = ds;
	n->snap.peers = ds.peers;
	n->snap.records = ds.records;
	n->snap.connections = n->nconns;
	if (peers)
		n->snap_npeers = tsn_dht_peers(n->dht, n->snap_peers, NODE_PEERS_SNAP_MAX);
	uv_mutex_unlock(&n->s_mu);
}

static void
house_cb(uv_timer_t *t)
{
	struct tsn_node *n = t->data;
	uint64_t now;

	if (n->stopping)
		return;
	node_publish(n, true);
	now = node_now(n);
	if (now >= n->next_save && !n->saving) {
		n->next_save = now + NODE_SAVE_EVERY_MS;
		node_peers_save(n);
	}
}

/* ---- the loop thread ---- */

static void
loop_stop(struct tsn_node *n)
{
	struct node_req *q;

	n->stopping = true;
	uv_mutex_lock(&n->q_mu);
	q = n->q_head;
	n->q_head = n->q_tail = NULL;
	uv_mutex_unlock(&n->q_mu);
	node_repair_close(n);
	node_req_cancel_all(n, q);
	node_peers_take_final(n);
	node_publish(n, true);
	tsn_dht_free(n->dht); /* its operations end now: their requests are done */
	n->dht = NULL;
	node_tcp_close_all(n);
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
async_cb(uv_async_t *a)
{
	struct tsn_node *n = a->data;
	struct node_req *q;
	bool stop;

	if (n->stopping)
		return;
	uv_mutex_lock(&n->q_mu);
	q = n->q_head;
	n->q_head = n->q_tail = NULL;
	stop = n->stop_asked;
	uv_mutex_unlock(&n->q_mu);
	node_req_accept(n, q);
	if (stop) {
		loop_stop(n);
		uv_walk(&n->loop, close_walk, NULL);
	}
}

static void
loop_main(void *arg)
{
	struct tsn_node *n = arg;

	uv_run(&n->loop, UV_RUN_DEFAULT);
}

/* ---- start and stop ---- */

static void
node_free(struct tsn_node *n)
{
	struct node_blk *b;

	if (n == NULL)
		return;
	while ((b = n->blk_free) != NULL) {
		n->blk_free = b->next;
		free(b);
	}
	node_repair_free(n);
	free(n->snap_peers);
	free(n->final_peers);
	uv_mutex_destroy(&n->clock_mu);
	uv_mutex_destroy(&n->q_mu);
	uv_mutex_destroy(&n->s_mu);
	free(n);
}

/* Close every handle and run the loop until they are closed (start failed, or stop). */
static void
loop_close(struct tsn_node *n)
{
	int rc;

	uv_walk(&n->loop, close_walk, NULL);
	uv_run(&n->loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&n->loop)) != 0)
		tsn_log(TSN_LOG_ERROR, "node: loop not closed: %s", uv_strerror(rc));
}

static int
parse_host(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return -EINVAL;
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Bind UDP and TCP to the same port; with port 0, retry when TCP finds it taken. */
static int
bind_both(struct tsn_node *n, const char *host, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_storage ss, got;
	int rc = 0, len;

	if (parse_host(host, port, &ss) != 0) {
		snprintf(err, errlen, "bad host address \"%s\" (numeric IPv4 or IPv6 only)", host);
		return -EINVAL;
	}
	for (int tries = 0; tries < 16; tries++) {
		set_port(&ss, port);
		if ((rc = node_udp_bind(n, (struct sockaddr *)&ss)) != 0) {
			snprintf(err, errlen, "cannot bind UDP %s:%u: %s", host, port, uv_strerror(rc));
			return rc;
		}
		len = sizeof(got);
		if ((rc = uv_udp_getsockname(&n->udp, (struct sockaddr *)&got, &len)) != 0 ||
		    (rc = tsn_addr_from_sockaddr(&n->addr, (struct sockaddr *)&got, (size_t)len)) != 0) {
			snprintf(err, errlen, "cannot read the UDP address: %s", uv_strerror(rc));
			return rc;
		}
		set_port(&ss, n->addr.port);
		if ((rc = node_tcp_bind(n, (struct sockaddr *)&ss)) == 0)
			return 0;
		if (rc != UV_EADDRINUSE || port != 0) {
			snprintf(err, errlen, "cannot bind TCP %s:%u: %s", host, n->addr.port,
			         uv_strerror(rc));
			return rc;
		}
		/* the UDP port's TCP twin is taken: another port */
		uv_walk(&n->loop, close_walk, NULL);
		uv_run(&n->loop, UV_RUN_NOWAIT);
	}
	snprintf(err, errlen, "cannot find a port free for both UDP and TCP on %s", host);
	return rc;
}

/* Refuse contacts at our own addresses (the bound one; all interfaces for a wildcard). */
static void
add_own_addrs(struct tsn_node *n)
{
	static const uint8_t lo4[4] = {127, 0, 0, 1};
	uv_interface_address_t *ifs;
	struct tsn_addr a;
	bool wildcard = true;
	int nifs;

	(void)tsn_dht_add_own_addr(n->dht, &n->addr);
	for (int i = 0; i < 16; i++)
		if (n->addr.ip[i] != 0)
			wildcard = false;
	if (!wildcard)
		return;
	tsn_addr_v4(&a, lo4, n->addr.port);
	(void)tsn_dht_add_own_addr(n->dht, &a);
	if (uv_interface_addresses(&ifs, &nifs) != 0)
		return;
	for (int i = 0; i < nifs; i++) {
		if (tsn_addr_from_sockaddr(&a, (const struct sockaddr *)&ifs[i].address.address4,
		                           sizeof(ifs[i].address)) != 0)
			continue;
		a.port = n->addr.port;
		if (tsn_dht_add_own_addr(n->dht, &a) != 0)
			break;
	}
	uv_free_interface_addresses(ifs, nifs);
}

int
tsn_node_start(struct tsn_node **out, const struct tsn_node_opts *opts, char *err, size_t errlen)
{
	struct tsn_dht_cb cb;
	struct tsn_dht_opts dopts;
	struct tsn_identity ident;
	const char *host;
	struct tsn_node *n;
	char path[4096], where[TSN_ADDR_STRLEN];
	uint64_t now;
	int rc;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (opts == NULL || opts->store == NULL || opts->datadir == NULL ||
	    opts->nbootstrap > TSN_NODE_BOOTSTRAP_MAX) {
		snprintf(err, errlen, "bad node options");
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	host = opts->host != NULL ? opts->host : "0.0.0.0";
	if ((n = calloc(1, sizeof(*n))) == NULL)
		goto nomem;
	if (uv_mutex_init(&n->clock_mu) != 0) {
		free(n);
		goto nomem;
	}
	if (uv_mutex_init(&n->q_mu) != 0) {
		uv_mutex_destroy(&n->clock_mu);
		free(n);
		goto nomem;
	}
	if (uv_mutex_init(&n->s_mu) != 0) {
		uv_mutex_destroy(&n->q_mu);
		uv_mutex_destroy(&n->clock_mu);
		free(n);
		goto nomem;
	}
	n->store = opts->store;
	n->replicas = opts->replicas != 0 ? opts->replicas : TSN_NODE_REPLICAS_DEFAULT;
	if (n->replicas > TSN_WIRE_NODES_MAX)
		n->replicas = TSN_WIRE_NODES_MAX;
	n->timeout_ms = opts->timeout_ms != 0 ? opts->timeout_ms : TSN_NODE_TIMEOUT_DEFAULT_MS;
	n->repair_interval_ms = opts->repair_interval_ms ? opts->repair_interval_ms :
	                        TSN_NODE_REPAIR_DEFAULT_MS;
	if (n->repair_interval_ms < TSN_NODE_REPAIR_MIN_MS)
		n->repair_interval_ms = TSN_NODE_REPAIR_MIN_MS;
	n->republish_interval_ms = opts->republish_interval_ms ? opts->republish_interval_ms :
	                           TSN_NODE_REPUBLISH_DEFAULT_MS;
	if (n->republish_interval_ms < n->repair_interval_ms)
		n->republish_interval_ms = n->repair_interval_ms;
	n->held_ttl_ms = opts->held_ttl_ms ? opts->held_ttl_ms : TSN_NODE_HELD_TTL_DEFAULT_MS;
	n->records_interval_ms = opts->records_interval_ms ? opts->records_interval_ms :
	                         TSN_NODE_RECORDS_DEFAULT_MS;
	if (n->records_interval_ms < TSN_NODE_REPAIR_MIN_MS)
		n->records_interval_ms = TSN_NODE_REPAIR_MIN_MS;
	n->clock_mono = mono_ms();
	now = node_now(n);
	if ((n->snap_peers = calloc(NODE_PEERS_SNAP_MAX, sizeof(*n->snap_peers))) == NULL) {
		node_free(n);
		goto nomem;
	}

	if (snprintf(path, sizeof(path), "%s/identity", opts->datadir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "data dir path too long");
		node_free(n);
		return -ENAMETOOLONG;
	}
	if ((rc = tsn_identity_load_or_create(path, &ident)) != 0) {
		snprintf(err, errlen, "cannot load or create the identity %s: %s", path,
		         strerror(-rc));
		node_free(n);
		return rc;
	}
	memcpy(n->id, ident.id, TSN_ID_LEN);
	tsn_identity_wipe(&ident);

	if ((rc = uv_loop_init(&n->loop)) != 0) {
		snprintf(err, errlen, "cannot create the event loop: %s", uv_strerror(rc));
		node_free(n);
		return rc;
	}
	n->loop.data = n;
	if ((rc = bind_both(n, host, opts->port, err, errlen)) != 0)
		goto fail;
	n->allow_loopback = opts->allow_loopback || tsn_addr_is_loopback(&n->addr);

	node_dht_callbacks(&cb);
	tsn_dht_opts_default(&dopts);
	memcpy(dopts.id, n->id, TSN_ID_LEN);
	dopts.table.allow_loopback = n->allow_loopback;
	dopts.max_ops = NODE_DHT_MAX_OPS;
	dopts.max_get_records = TSN_SEARCH_HITS_MAX; /* a keyword's entries */
	dopts.op_timeout_ms = n->timeout_ms;
	if ((rc = tsn_dht_new(&n->dht, &dopts, &cb, n, now)) != 0) {
		snprintf(err, errlen, "cannot create the DHT: %s", strerror(-rc));
		goto fail;
	}
	add_own_addrs(n);

	if ((rc = uv_async_init(&n->loop, &n->async, async_cb)) != 0 ||
	    (rc = uv_timer_init(&n->loop, &n->tick)) != 0 ||
	    (rc = uv_timer_init(&n->loop, &n->deadline)) != 0 ||
	    (rc = uv_timer_init(&n->loop, &n->house)) != 0 ||
	    (rc = uv_timer_init(&n->loop, &n->hedge)) != 0 ||
	    (rc = node_repair_init(n)) != 0 ||
	    (rc = node_udp_start(n)) != 0) {
		snprintf(err, errlen, "cannot start the node: %s", uv_strerror(rc));
		goto fail;
	}
	n->async.data = n->tick.data = n->deadline.data = n->house.data = n->hedge.data = n;
	uv_timer_start(&n->house, house_cb, NODE_HOUSEKEEP_MS, NODE_HOUSEKEEP_MS);
	n->next_save = now + NODE_SAVE_FIRST_MS;

	for (size_t i = 0; i < opts->nbootstrap; i++) {
		rc = tsn_dht_bootstrap(n->dht, now, &opts->bootstrap[i]);
		if (rc != 0)
			tsn_log(TSN_LOG_WARN, "node: bootstrap %s: %s",
			        tsn_addr_format(&opts->bootstrap[i], where), strerror(-rc));
	}
	node_peers_load(n, now);
	node_kick(n);
	node_publish(n, true);

	if ((rc = uv_thread_create(&n->thread, loop_main, n)) != 0) {
		snprintf(err, errlen, "cannot start the loop thread: %s", uv_strerror(rc));
		goto fail;
	}
	n->thread_started = true;
	tsn_log(TSN_LOG_INFO, "node: listening on %s (UDP and TCP)", tsn_addr_format(&n->addr, where));
	*out = n;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
fail:
	n->stopping = true;
	tsn_dht_free(n->dht);
	n->dht = NULL;
	loop_close(n);
	node_free(n);
	return rc;
}

void
tsn_node_stop(struct tsn_node *n)
{
	int rc;

	if (n == NULL)
		return;
	uv_mutex_lock(&n->q_mu);
	n->q_closed = true;
	n->stop_asked = true;
	uv_async_send(&n->async);
	uv_mutex_unlock(&n->q_mu);
	uv_thread_join(&n->thread);
	/* The loop has returned: every handle is closed. */
	if ((rc = uv_loop_close(&n->loop)) != 0)
		tsn_log(TSN_LOG_ERROR, "node: loop not closed: %s", uv_strerror(rc));
	node_peers_save_final(n);
	node_free(n);
}

uint16_t
tsn_node_port(const struct tsn_node *n)
{
	return n->addr.port;
}

const uint8_t *
tsn_node_id(const struct tsn_node *n)
{
	return n->id;
}

/* ---- snapshots ---- */

void
tsn_node_status(struct tsn_node *n, struct tsn_node_status *out)
{
	uv_mutex_lock(&n->s_mu);
	*out = n->snap;
	uv_mutex_unlock(&n->s_mu);
	memcpy(out->id, n->id, TSN_ID_LEN);
	out->addr = n->addr;
	out->replicas = n->replicas;
	uv_mutex_lock(&n->q_mu);
	out->requests_pending = n->outstanding;
	uv_mutex_unlock(&n->q_mu);
}

size_t
tsn_node_peers(struct tsn_node *n, struct tsn_contact *out, size_t max)
{
	size_t k;

	uv_mutex_lock(&n->s_mu);
	k = n->snap_npeers < max ? n->snap_npeers : max;
	memcpy(out, n->snap_peers, k * sizeof(*out));
	uv_mutex_unlock(&n->s_mu);
	return k;
}
