/*
 * sim.h: an in-memory network of DHT cores for tests: a virtual clock, a
 * queue of datagrams with seeded latency, no sockets, no threads. Node i
 * listens on 127.0.0.1:(SIM_PORT0 + i). Deterministic for a given seed.
 */
#ifndef TSN_TEST_SIM_H
#define TSN_TEST_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "dht.h"

#define SIM_PORT0 20000
#define SIM_T0 UINT64_C(1700000000000) /* virtual Unix ms at start */
/* A raw endpoint (not a dht) whose received datagrams tests can read. */
#define SIM_RAW_PORT 19999

struct sim;

/* What an operation's completion callback left (op_ud of every sim op). */
struct sim_op {
	unsigned calls;        /* completions seen: must end at exactly 1 */
	int status;
	size_t n;
	struct tsn_contact nodes[TSN_WIRE_NODES_MAX];
	struct tsn_record *recs; /* n records (malloc'ed copy), get only */
	uint8_t id[TSN_ID_LEN];  /* ping only */
};

struct sim_opts {
	unsigned nodes;
	uint64_t seed;
	unsigned lat_min_ms, lat_max_ms;   /* per datagram, uniform */
	unsigned loss_pct;                 /* datagrams lost at random, 0..100 */
	const struct tsn_dht_opts *dht;    /* NULL: defaults + allow_loopback */
};

struct sim *sim_new(const struct sim_opts *o);
void sim_free(struct sim *s);
uint64_t sim_now(const struct sim *s);
unsigned sim_count(const struct sim *s);
struct tsn_dht *sim_dht(struct sim *s, unsigned i);
const uint8_t *sim_id(const struct sim *s, unsigned i);
struct tsn_addr sim_addr(unsigned i);
/* Take node i off the network (datagrams to and from it vanish) or back. */
void sim_set_down(struct sim *s, unsigned i, bool down);
/* Call after starting an operation on node i: its deadline may have moved. */
void sim_kick(struct sim *s, unsigned i);
/* Run events until virtual time `until` (absolute). */
void sim_run_until(struct sim *s, uint64_t until);
/* Run until op completed or `for_ms` passed; returns op->calls == 1. */
bool sim_wait(struct sim *s, struct sim_op *op, uint64_t for_ms);
/* Deliver a raw datagram to node i now (as from `from`). Returns receive's rc. */
int sim_inject(struct sim *s, unsigned i, const struct tsn_addr *from, const uint8_t *buf,
               size_t len);
/* Datagrams that reached SIM_RAW_PORT: count, and a copy of the last one. */
unsigned sim_raw_count(const struct sim *s);
size_t sim_raw_last(const struct sim *s, uint8_t *buf, size_t cap);
/* Datagrams sent in total. */
uint64_t sim_sent(const struct sim *s);
/*
 * Node 0 starts alone; node i (i >= 1) bootstraps from a random earlier node,
 * one every stagger_ms; then the network runs settle_ms more.
 */
void sim_join_all(struct sim *s, unsigned stagger_ms, uint64_t settle_ms);
/* The n ids closest to target among live nodes other than `except`, closest first. */
size_t sim_true_closest(const struct sim *s, const uint8_t target[TSN_ID_LEN], int except,
                        uint8_t (*out)[TSN_ID_LEN], size_t n);
/* A deterministic random id from the sim's generator. */
void sim_random_id(struct sim *s, uint8_t id[TSN_ID_LEN]);
/* Free the records of a finished op. */
void sim_op_clear(struct sim_op *op);

#endif
