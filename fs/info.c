/*
 * info.c: the text of .tsn/status, .tsn/peers and .tsn/stats, generated
 * from snapshots (tsn_node_status, tsn_node_peers, tsn_store_stat) that
 * never wait on the node's loop. One "key value" pair per line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_i.h"
#include "node.h"
#include "util.h"

#define INFO_PEERS_MAX 1024

struct text {
	char *p;
	size_t len, cap;
	int err;
};

static void __attribute__((format(printf, 2, 3)))
say(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n;
		char *p = realloc(t->p, cap);
		if (p == NULL) {
			t->err = -ENOMEM;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
}

static void
status(struct tsn_fs *fs, struct text *t)
{
	struct tsn_node_status st;
	char hex[2 * TSN_ID_LEN + 1], addr[TSN_ADDR_STRLEN];

	if (fs->node == NULL) {
		say(t, "network none\n");
		return;
	}
	tsn_node_status(fs->node, &st);
	tsn_hex(st.id, TSN_ID_LEN, hex);
	say(t, "node %s\n", hex);
	say(t, "address %s\n", tsn_addr_format(&st.addr, addr));
	say(t, "peers %zu\n", st.peers);
	say(t, "replicas %u\n", st.replicas);
	say(t, "records %zu\n", st.records);
	say(t, "connections %zu\n", st.connections);
	say(t, "requests_pending %llu\n", (unsigned long long)st.requests_pending);
	say(t, "pushes_pending %zu\n", fs_push_pending(fs));
	say(t, "timeout_s %u\n", (unsigned)(fs->timeout_ms / 1000));
}

static void
peers(struct tsn_fs *fs, struct text *t)
{
	struct tsn_contact *v;
	char hex[2 * TSN_ID_LEN + 1], addr[TSN_ADDR_STRLEN];
	size_t n;

	if (fs->node == NULL)
		return;
	if ((v = calloc(INFO_PEERS_MAX, sizeof(*v))) == NULL) {
		t->err = -ENOMEM;
		return;
	}
	n = tsn_node_peers(fs->node, v, INFO_PEERS_MAX);
	for (size_t i = 0; i < n; i++) {
		tsn_hex(v[i].id, TSN_ID_LEN, hex);
		say(t, "%s %s\n", hex, tsn_addr_format(&v[i].addr, addr));
	}
	free(v);
}

static void
stats(struct tsn_fs *fs, struct text *t)
{
	static const char *const role[4] = {"pinned", "held", "cached", "pending"};
	struct tsn_store_stat ss;
	struct tsn_node_status st;
	size_t inodes;
	uint64_t timeouts;

	tsn_store_stat(fs->store, &ss);
	for (int i = 0; i < 4; i++)
		say(t, "chunks_%s %llu\nbytes_%s %llu\n", role[i],
		    (unsigned long long)ss.chunks[i], role[i], (unsigned long long)ss.bytes[i]);
	say(t, "quota %llu\n", (unsigned long long)ss.quota);
	say(t, "evicted %llu\n", (unsigned long long)ss.evicted);
	say(t, "store_files %llu\n", (unsigned long long)ss.files);
	pthread_mutex_lock(&fs->mu);
	inodes = fs->tab_n;
	pthread_mutex_unlock(&fs->mu);
	pthread_mutex_lock(&fs->net_mu);
	timeouts = fs->net_timeouts;
	pthread_mutex_unlock(&fs->net_mu);
	say(t, "mount_inodes %zu\n", inodes);
	say(t, "mount_contents %zu\n", fs_pin_files(fs));
	say(t, "pushes_pending %zu\n", fs_push_pending(fs));
	say(t, "read_timeouts %llu\n", (unsigned long long)timeouts);
	if (fs->node == NULL)
		return;
	tsn_node_status(fs->node, &st);
	say(t, "udp_in %llu\nudp_out %llu\n", (unsigned long long)st.udp_in,
	    (unsigned long long)st.udp_out);
	say(t, "tcp_in %llu\ntcp_out %llu\n", (unsigned long long)st.tcp_in,
	    (unsigned long long)st.tcp_out);
	say(t, "chunks_served %llu\nchunks_accepted %llu\n",
	    (unsigned long long)st.chunks_served, (unsigned long long)st.chunks_accepted);
	say(t, "chunks_fetched %llu\nchunks_pushed %llu\n",
	    (unsigned long long)st.chunks_fetched, (unsigned long long)st.chunks_pushed);
	say(t, "repair_passes %llu\nrepair_checked %llu\nrepair_failed %llu\n",
	    (unsigned long long)st.repair_passes, (unsigned long long)st.repair_checked,
	    (unsigned long long)st.repair_failed);
	say(t, "under_replicated %llu\nunder_replicated_seen %llu\n",
	    (unsigned long long)st.repair_under_now, (unsigned long long)st.repair_under);
	say(t, "repair_copies %llu\nrepair_bytes %llu\nrepair_handed %llu\nrepair_expired %llu\n",
	    (unsigned long long)st.repair_copies, (unsigned long long)st.repair_bytes,
	    (unsigned long long)st.repair_handed, (unsigned long long)st.repair_expired);
	say(t, "records_restored %llu\nrecords_restore_failed %llu\n",
	    (unsigned long long)st.records_restored, (unsigned long long)st.records_restore_failed);
}

int
fs_info_render(struct tsn_fs *fs, int which, char **out, size_t *len)
{
	struct text t = {.cap = 512};

	*out = NULL;
	*len = 0;
	if ((t.p = malloc(t.cap)) == NULL)
		return -ENOMEM;
	t.p[0] = '\0';
	if (which == FS_INFO_STATUS)
		status(fs, &t);
	else if (which == FS_INFO_PEERS)
		peers(fs, &t);
	else
		stats(fs, &t);
	if (t.err) {
		free(t.p);
		return t.err;
	}
	*out = t.p;
	*len = t.len;
	return 0;
}
