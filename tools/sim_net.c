/*
 * sim_net.c: the simulated network between the cores.
 *
 * Node i is 20.x.y.1:4000 with x.y.z... made of i (see sim_net_addr): one
 * /24 per node, as peers on the Internet mostly are, so the routing table's
 * subnet limit plays no part. A datagram from a to b:
 *   - is dropped when no node has the address, when a partition separates
 *     a and b, at random with probability cfg.loss, or when cfg.max_pkts
 *     datagrams are already in flight (counted: queue_full);
 *   - leaves when a's uplink is free (cfg.bandwidth_kbps; 0 = at once) and
 *     arrives after the link's latency: a log-normal draw (median
 *     cfg.lat_median_ms, sigma cfg.lat_sigma) fixed per link by a hash of
 *     (seed, a, b), symmetric, clamped to 1..10000 ms;
 *   - is dropped on arrival when b is down.
 * Datagrams are not reordered on one link beyond what equal latencies give;
 * the core does not depend on order.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

void
sim_net_addr(uint32_t i, struct tsn_addr *a)
{
	uint8_t ip[4] = {(uint8_t)(20 + (i >> 16)), (uint8_t)(i >> 8), (uint8_t)i, 1};

	tsn_addr_v4(a, ip, SIM_PORT);
}

bool
sim_net_index(const struct sim *s, const struct tsn_addr *a, uint32_t *i)
{
	uint32_t x;

	if (a->family != TSN_ADDR_V4 || a->port != SIM_PORT || a->ip[3] != 1 || a->ip[0] < 20)
		return false;
	x = ((uint32_t)(a->ip[0] - 20) << 16) | ((uint32_t)a->ip[1] << 8) | a->ip[2];
	if (x >= s->n)
		return false;
	*i = x;
	return true;
}

uint32_t
sim_net_latency(const struct sim *s, uint32_t a, uint32_t b)
{
	uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
	double ms = sim_lognormal_of(sim_hash3(s->link_key, lo, hi), s->cfg.lat_median_ms,
	                             s->cfg.lat_sigma);

	if (!(ms >= 1.0))
		ms = 1.0;
	if (ms > 10000.0)
		ms = 10000.0;
	return (uint32_t)lround(ms);
}

bool
sim_net_cut(const struct sim *s, uint32_t a, uint32_t b)
{
	uint64_t from, to;

	if (s->cfg.part_frac <= 0 || s->nodes[a].part == s->nodes[b].part)
		return false;
	from = s->t_measure + (uint64_t)llround(s->cfg.part_start_s * 1000.0);
	to = from + (uint64_t)llround(s->cfg.part_dur_s * 1000.0);
	return s->now >= from && s->now < to;
}

/* When a datagram of len bytes sent by node i now leaves its uplink (ms). */
static uint64_t
depart(struct sim *s, struct sim_node *nd, uint64_t bytes)
{
	uint64_t now_us = s->now * 1000, start;

	if (s->cfg.bandwidth_kbps == 0)
		return s->now;
	start = nd->tx_free_us > now_us ? nd->tx_free_us : now_us;
	nd->tx_free_us = start + bytes * 8000 / s->cfg.bandwidth_kbps;
	return (nd->tx_free_us + 999) / 1000;
}

uint64_t
sim_net_transfer_ms(struct sim *s, uint32_t from, uint32_t to, uint64_t bytes)
{
	uint64_t rtt = 2 * (uint64_t)sim_net_latency(s, from, to);

	/* the request reaches the holder after one latency; its uplink then sends */
	return depart(s, &s->nodes[from], bytes) - s->now + rtt;
}

int
sim_net_send(void *ud, const struct tsn_addr *to, const uint8_t *buf, size_t len)
{
	struct sim_node *nd = ud;
	struct sim *s = nd->s;
	struct sim_ev e = {0};
	struct sim_pkt *p;
	uint32_t dst;

	if (len > TSN_WIRE_MTU)
		return -EMSGSIZE; /* the core promises never to: the query fails */
	if (s->mute)
		return 0;
	s->net.sent++;
	s->net.bytes += len;
	if (len >= 2 && buf[1] < TSN_MSG_TYPE_END)
		s->net.by_type[buf[1]]++;
	if (!sim_net_index(s, to, &dst)) {
		s->net.lost++;
		return 0;
	}
	if (nd->ops != NULL)
		sim_op_on_send(s, nd->idx, dst, buf, len);
	if (sim_net_cut(s, nd->idx, dst)) {
		s->net.cut++;
		return 0;
	}
	if (s->cfg.loss > 0 && sim_rng_unit(&s->rng_net) < s->cfg.loss) {
		s->net.lost++;
		return 0;
	}
	if (s->pkts >= s->cfg.max_pkts || (p = malloc(sizeof(*p) + len)) == NULL) {
		s->net.queue_full++;
		return 0;
	}
	p->from = nd->idx;
	p->to = dst;
	p->len = (uint32_t)len;
	memcpy(p->buf, buf, len);
	e.kind = SIM_EV_PKT;
	e.at = depart(s, nd, len) + sim_net_latency(s, nd->idx, dst);
	e.p = p;
	if (sim_evq_push(&s->q, &e) != 0) {
		free(p);
		s->net.queue_full++;
		return 0;
	}
	s->pkts++;
	return 0;
}

void
sim_net_deliver(struct sim *s, struct sim_pkt *p)
{
	struct sim_node *nd = &s->nodes[p->to];
	uint32_t to = p->to;
	struct tsn_addr from;

	s->pkts--;
	if (nd->dht == NULL) {
		s->net.to_down++;
	} else if (sim_net_cut(s, p->from, p->to)) {
		s->net.cut++; /* cut off while in flight */
	} else {
		s->net.delivered++;
		if (nd->ops != NULL)
			sim_op_on_deliver(s, to, p->from, p->buf, p->len);
		sim_net_addr(p->from, &from);
		(void)tsn_dht_receive(nd->dht, s->now, &from, p->buf, p->len);
		free(p);
		sim_kick(s, to);
		return;
	}
	free(p);
}

int
sim_net_partition(struct sim *s)
{
	struct sim_rng r;
	uint32_t *perm, m;

	if (s->cfg.part_frac <= 0)
		return 0;
	m = (uint32_t)lround(s->cfg.part_frac * s->n);
	perm = malloc((size_t)s->n * sizeof(perm[0]));
	if (perm == NULL)
		return -ENOMEM;
	sim_rng_seed(&r, s->cfg.seed, 7);
	for (uint32_t i = 0; i < s->n; i++)
		perm[i] = i;
	for (uint32_t i = 0; i < m && i < s->n; i++) {
		uint32_t j = i + (uint32_t)sim_rng_below(&r, s->n - i), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
		s->nodes[perm[i]].part = true;
	}
	free(perm);
	return 0;
}
