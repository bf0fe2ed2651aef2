/*
 * control_info.c: the small requests: LS, RM, GC, STAT, STATUS, PEERS.
 * Each answers from the store or from a snapshot of the node's figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "control_i.h"
#include "publish.h"
#include "node.h"
#include "util.h"

#define PEERS_MAX 5120 /* 256 buckets of 20: every contact a table can hold */

static int
send_file(void *ud, const struct tsn_file_info *f)
{
	struct ctl_conn *c = ud;
	uint8_t out[TSN_CTL_FILE_MIN + TSN_CTL_NAME_MAX];
	size_t n = tsn_ctl_file_encode(out, sizeof(out), f);

	return ctl_send(c, TSN_CTL_FILE, out, n);
}

int
ctl_do_ls(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	int rc;

	(void)p, (void)len;
	rc = tsn_store_file_list(c->srv->store, send_file, c);
	if (rc == 0)
		return ctl_send(c, TSN_CTL_END, NULL, 0);
	/* An error of the send is the connection's: close it. */
	if (rc == -EPIPE || rc == -ECONNRESET || rc == -ETIMEDOUT)
		return rc;
	return ctl_send_err(c, rc, "cannot list the files of %s: %s", tsn_store_path(c->srv->store),
	                    strerror(-rc));
}

int
ctl_do_rm(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	struct tsn_uri uri;
	const char *why = NULL;
	int rc;

	if (tsn_ctl_uri_decode(p, len, &uri, &why) != 0)
		return ctl_send_err(c, -EINVAL, "malformed URI: %s", why ? why : "invalid");
	rc = tsn_store_file_remove(c->srv->store, &uri);
	if (rc == 0 && c->srv->publisher != NULL)
		tsn_publisher_withdraw(c->srv->publisher, &uri, NULL);
	if (rc == -ENOENT)
		return ctl_send_err(c, rc, "%.40s...: not one of your files (see `tsn ls`)",
		                    (const char *)p);
	if (rc != 0)
		return ctl_send_err(c, rc, "%.40s...: %s", (const char *)p, strerror(-rc));
	return ctl_send(c, TSN_CTL_OK, NULL, 0);
}

int
ctl_do_gc(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	uint8_t out[TSN_CTL_GC_OK_LEN];
	uint64_t bytes = 0;
	long n;

	(void)p, (void)len;
	if ((n = tsn_store_gc(c->srv->store, &bytes)) < 0)
		return ctl_send_err(c, (int)n, "%s", strerror((int)-n));
	tsn_put_be64(out, (uint64_t)n);
	tsn_put_be64(out + 8, bytes);
	return ctl_send(c, TSN_CTL_OK, out, sizeof(out));
}

static void
store_figures(struct tsn_control *s, struct tsn_ctl_stat *st)
{
	struct statvfs vfs;

	tsn_store_stat(s->store, &st->st);
	st->disk_free = UINT64_MAX;
	if (statvfs(tsn_store_path(s->store), &vfs) == 0)
		st->disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

int
ctl_do_stat(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	uint8_t out[TSN_CTL_STAT_LEN];
	struct tsn_ctl_stat st;

	(void)p, (void)len;
	store_figures(c->srv, &st);
	tsn_ctl_stat_encode(out, &st);
	return ctl_send(c, TSN_CTL_OK, out, sizeof(out));
}

int
ctl_do_status(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	uint8_t out[TSN_CTL_STATUS_LEN];
	struct tsn_node_status ns;
	struct tsn_ctl_status st;

	(void)p, (void)len;
	if (c->srv->node == NULL)
		return ctl_send_err(c, -ENOTCONN, "this process runs no node");
	memset(&st, 0, sizeof(st));
	tsn_node_status(c->srv->node, &ns);
	memcpy(st.id, ns.id, TSN_ID_LEN);
	st.addr = ns.addr;
	st.replicas = ns.replicas;
	st.peers = ns.peers;
	st.records = ns.records;
	st.udp_in = ns.udp_in;
	st.udp_out = ns.udp_out;
	st.tcp_in = ns.tcp_in;
	st.tcp_out = ns.tcp_out;
	st.chunks_served = ns.chunks_served;
	st.chunks_accepted = ns.chunks_accepted;
	st.chunks_fetched = ns.chunks_fetched;
	st.chunks_pushed = ns.chunks_pushed;
	st.requests_pending = ns.requests_pending;
	st.connections = ns.connections;
	st.dgram_in = ns.dht.rx;
	st.dgram_out = ns.dht.tx;
	st.malformed = ns.dht.malformed;
	st.bad_version = ns.dht.bad_version;
	st.bad_type = ns.dht.bad_type;
	st.rate_limited = ns.dht.rate_limited;
	st.unsolicited = ns.dht.unsolicited + ns.dht.mismatched;
	st.timeouts = ns.dht.timeouts;
	st.repair_passes = ns.repair_passes;
	st.repair_checked = ns.repair_checked;
	st.repair_under = ns.repair_under;
	st.repair_under_now = ns.repair_under_now;
	st.repair_copies = ns.repair_copies;
	st.repair_handed = ns.repair_handed;
	st.repair_expired = ns.repair_expired;
	st.repair_failed = ns.repair_failed;
	st.repair_bytes = ns.repair_bytes;
	st.records_restored = ns.records_restored;
	st.records_restore_failed = ns.records_restore_failed;
	store_figures(c->srv, &st.store);
	return ctl_send(c, TSN_CTL_OK, out, tsn_ctl_status_encode(out, &st, c->version));
}

int
ctl_do_peers(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	uint8_t out[TSN_CTL_PEER_LEN];
	struct tsn_contact *peers;
	size_t n;
	int rc = 0;

	(void)p, (void)len;
	if (c->srv->node == NULL)
		return ctl_send_err(c, -ENOTCONN, "this process runs no node");
	if ((peers = calloc(PEERS_MAX, sizeof(*peers))) == NULL)
		return ctl_send_err(c, -ENOMEM, "out of memory");
	n = tsn_node_peers(c->srv->node, peers, PEERS_MAX);
	for (size_t i = 0; i < n && rc == 0; i++) {
		tsn_ctl_peer_encode(out, &peers[i]);
		rc = ctl_send(c, TSN_CTL_PEER, out, sizeof(out));
	}
	free(peers);
	return rc != 0 ? rc : ctl_send(c, TSN_CTL_END, NULL, 0);
}
