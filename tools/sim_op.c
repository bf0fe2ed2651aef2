/*
 * sim_op.c: measured operations. The core does not say how a lookup went,
 * so the simulator watches the datagrams of the node that started it:
 *
 *   - a FIND_NODE or FIND_VALUE for the operation's target leaving that
 *     node is one of its queries; its round is 1 when the contact came from
 *     the node's own table (the k closest it knew at the start), else one
 *     more than the round of the query whose reply first named the contact;
 *   - a NODES, VALUES or STORE_ACK arriving with the txid of one of its
 *     queries from the node it was sent to is that query's reply.
 *
 * rounds = the highest round queried (the lookup's depth: the number of
 * sequential steps, the final confirmations included); the round of the
 * query that reached a given node (sim_op_round_of) gives hops to it.
 * msgs = requests sent (STOREs of a put included) + replies received.
 * Observing costs one extra decode of those datagrams, for the watched
 * nodes only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_i.h"

#define EMPTY UINT32_MAX

static uint16_t *
depth_slot(struct sim_op *op, uint32_t node, bool add)
{
	size_t mask, i;

	if (op->dcap == 0 || (add && op->dn * 2 >= op->dcap)) {
		size_t cap = op->dcap ? op->dcap * 2 : 256;
		uint32_t *dk = malloc(cap * sizeof(dk[0]));
		uint16_t *dv = malloc(cap * sizeof(dv[0]));
		if (dk == NULL || dv == NULL) {
			free(dk);
			free(dv);
			return NULL;
		}
		memset(dk, 0xff, cap * sizeof(dk[0]));
		for (size_t j = 0; j < op->dcap; j++) {
			if (op->dk[j] == EMPTY)
				continue;
			for (i = op->dk[j] & (cap - 1); dk[i] != EMPTY; i = (i + 1) & (cap - 1))
				;
			dk[i] = op->dk[j];
			dv[i] = op->dv[j];
		}
		free(op->dk);
		free(op->dv);
		op->dk = dk;
		op->dv = dv;
		op->dcap = cap;
	}
	mask = op->dcap - 1;
	for (i = node & mask; op->dk[i] != EMPTY; i = (i + 1) & mask)
		if (op->dk[i] == node)
			return &op->dv[i];
	if (!add)
		return NULL;
	op->dk[i] = node;
	op->dv[i] = UINT16_MAX;
	op->dn++;
	return &op->dv[i];
}

/* The contact `node` was named by a reply of round `round` (0: own table). */
static void
learned(struct sim_op *op, uint32_t node, unsigned round)
{
	uint16_t *v = depth_slot(op, node, true);

	if (v != NULL && round < *v)
		*v = (uint16_t)round;
}

static void
unlink_op(struct sim_node *nd, struct sim_op *op)
{
	for (struct sim_op **pp = &nd->ops; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	}
	op->next = NULL;
	op->running = false;
}

int
sim_op_start(struct sim *s, struct sim_op *op, uint8_t kind, uint32_t origin,
             const uint8_t target[TSN_ID_LEN], const struct tsn_record *rec,
             sim_op_done_fn done, void *ud)
{
	struct sim_node *nd = &s->nodes[origin];
	struct tsn_contact near[TSN_WIRE_NODES_MAX];
	size_t n;
	int rc;

	if (nd->dht == NULL)
		return -ENETDOWN;
	op->kind = kind;
	op->origin = origin;
	memcpy(op->target, kind == SIM_OP_PUT ? rec->key : target, TSN_ID_LEN);
	op->done = done;
	op->ud = ud;
	op->start_ms = op->end_ms = s->now;
	op->status = 0;
	op->msgs = op->rounds = op->value_round = 0;
	op->nres = op->nrecs = op->nq = op->dn = 0;
	if (op->dk != NULL)
		memset(op->dk, 0xff, op->dcap * sizeof(op->dk[0]));
	/* the same k closest the core starts from (its table is unchanged until the call) */
	n = tsn_table_closest(tsn_dht_table(nd->dht), op->target, NULL, false, near, s->dopts.k);
	for (size_t i = 0; i < n; i++) {
		uint32_t j;
		if (sim_net_index(s, &near[i].addr, &j))
			learned(op, j, 0);
	}
	op->running = true;
	op->next = nd->ops;
	nd->ops = op;
	switch (kind) {
	case SIM_OP_LOOKUP:
		rc = tsn_dht_lookup(nd->dht, s->now, op->target, op);
		break;
	case SIM_OP_GET:
		rc = tsn_dht_get_records(nd->dht, s->now, op->target, 0, op);
		break;
	case SIM_OP_PUT:
		rc = tsn_dht_put_record(nd->dht, s->now, rec, op);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc != 0) {
		unlink_op(nd, op);
		return rc;
	}
	sim_kick(s, origin);
	return 0;
}

unsigned
sim_op_round_of(const struct sim_op *op, uint32_t node)
{
	unsigned best = 0;

	for (size_t i = 0; i < op->nq; i++)
		if (op->q[i].to == node && op->q[i].round > 0 && (best == 0 || op->q[i].round < best))
			best = op->q[i].round;
	return best;
}

void
sim_op_clear(struct sim_op *op)
{
	free(op->q);
	free(op->dk);
	free(op->dv);
	op->q = NULL;
	op->dk = NULL;
	op->dv = NULL;
	op->nq = op->capq = op->dcap = op->dn = 0;
}

static uint64_t
txid_of(const uint8_t *buf)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 8 | buf[2 + i];
	return x;
}

void
sim_op_on_send(struct sim *s, uint32_t from, uint32_t to, const uint8_t *buf, size_t len)
{
	struct tsn_msg *m = s->scratch;
	const uint8_t *key;
	uint8_t type;

	if (len < TSN_WIRE_HDR_LEN)
		return;
	type = buf[1];
	if (type != TSN_MSG_FIND_NODE && type != TSN_MSG_FIND_VALUE && type != TSN_MSG_STORE)
		return;
	if (tsn_wire_decode(buf, len, m) != 0)
		return;
	key = type == TSN_MSG_FIND_NODE ? m->u.find_node.target
	      : type == TSN_MSG_FIND_VALUE ? m->u.find_value.key : m->u.store.rec.key;
	for (struct sim_op *op = s->nodes[from].ops; op != NULL; op = op->next) {
		uint16_t *d;
		unsigned round;
		if (memcmp(op->target, key, TSN_ID_LEN) != 0)
			continue;
		if (op->nq == op->capq) {
			size_t cap = op->capq ? op->capq * 2 : 64;
			struct sim_q *q = realloc(op->q, cap * sizeof(q[0]));
			if (q == NULL)
				return;
			op->q = q;
			op->capq = cap;
		}
		d = depth_slot(op, to, false);
		round = type == TSN_MSG_STORE ? 0 : (d != NULL && *d != UINT16_MAX ? *d : 0) + 1u;
		op->q[op->nq++] = (struct sim_q){.txid = m->h.txid, .to = to, .round = (uint16_t)round};
		op->msgs++;
		if (round > op->rounds)
			op->rounds = round;
		return;
	}
}

void
sim_op_on_deliver(struct sim *s, uint32_t to, uint32_t from, const uint8_t *buf, size_t len)
{
	struct tsn_msg *m = s->scratch;
	uint64_t txid;
	uint8_t type;

	if (len < TSN_WIRE_HDR_LEN)
		return;
	type = buf[1];
	if (type != TSN_MSG_NODES && type != TSN_MSG_VALUES && type != TSN_MSG_STORE_ACK)
		return;
	txid = txid_of(buf);
	for (struct sim_op *op = s->nodes[to].ops; op != NULL; op = op->next) {
		for (size_t i = 0; i < op->nq; i++) {
			const struct sim_q *q = &op->q[i];
			if (q->txid != txid || q->to != from)
				continue;
			op->msgs++;
			if (type == TSN_MSG_VALUES && op->value_round == 0)
				op->value_round = q->round;
			if (type == TSN_MSG_NODES && tsn_wire_decode(buf, len, m) == 0) {
				for (unsigned c = 0; c < m->u.nodes.n; c++) {
					uint32_t j;
					if (sim_net_index(s, &m->u.nodes.nodes[c].addr, &j))
						learned(op, j, q->round);
				}
			}
			return;
		}
	}
}

static void
op_task(struct sim *s, void *p, uint32_t arg)
{
	struct sim_op *op = p;

	(void)arg;
	op->done(s, op);
}

/* The core completed op on node nd: detach it and run its done function soon. */
static void
finish(struct sim_node *nd, struct sim_op *op, int status)
{
	struct sim *s = nd->s;

	unlink_op(nd, op);
	op->status = status;
	op->end_ms = s->now;
	if (!s->closing)
		sim_task(s, s->now, op_task, op, 0);
}

void
sim_op_lookup_done(void *ud, void *op_ud, int status, const struct tsn_contact *nodes, size_t n)
{
	struct sim_node *nd = ud;
	struct sim_op *op = op_ud;

	op->nres = 0;
	for (size_t i = 0; i < n && op->nres < TSN_WIRE_NODES_MAX; i++) {
		uint32_t j;
		if (sim_net_index(nd->s, &nodes[i].addr, &j))
			op->res[op->nres++] = j;
	}
	finish(nd, op, status);
}

void
sim_op_get_done(void *ud, void *op_ud, int status, const struct tsn_record *recs, size_t n)
{
	struct sim_node *nd = ud;
	struct sim_op *op = op_ud;

	op->nrecs = n;
	if (op->recs_fn != NULL && n > 0 && !nd->s->closing)
		op->recs_fn(nd->s, op, recs, n);
	finish(nd, op, status);
}

void
sim_op_put_done(void *ud, void *op_ud, int status)
{
	finish(ud, op_ud, status);
}
