/*
 * control_i.h: what the files of the control server share (control.c: the
 * socket, threads and dispatch; control_put.c, control_get.c,
 * control_info.c: the requests). Internal to net/control*.c.
 */
#ifndef TSN_NET_CONTROL_I_H
#define TSN_NET_CONTROL_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"

struct tsn_control;

/* One client connection, served by its own thread. */
struct ctl_conn {
	struct tsn_control *srv;
	int fd;           /* -1 once closed (changed under srv->lock) */
	unsigned id;      /* for log lines */
	int version;      /* of the session: the lower of the client's and ours */
	pthread_t thread;
	int used;         /* slot taken: thread running or not yet joined */
	int finished;     /* the thread has ended; join it (under srv->lock) */
	uint8_t *buf;     /* TSN_CTL_PAYLOAD_MAX bytes: payloads received, data sent */
};

struct tsn_control {
	struct tsn_store *store;
	struct tsn_node *node;     /* NULL: no network */
	unsigned max_conns;
	uint32_t idle_ms;
	unsigned threads;          /* encoder threads per PUT */
	struct tsn_publisher *publisher; /* NULL: no keyword publishing */
	void (*on_leave)(void *ud);  /* NULL: LEAVE refused */
	void *leave_ud;
	char path[256];            /* the socket's path as bound */
	int dirfd;                 /* O_PATH of the data dir when path goes through it */
	int lfd;                   /* listening socket */
	int stop_pipe[2];          /* readable once stopping */
	atomic_int stopping;
	pthread_t accept_thread;
	pthread_mutex_t lock;      /* conns[].fd/used/finished, puts_active */
	unsigned puts_active;      /* PUT requests encoding now */
	unsigned next_id;
	struct ctl_conn *conns;    /* max_conns slots */
};

/* Nonzero once tsn_control_stop began: requests give up at their next step. */
int ctl_stopping(struct tsn_control *s);
/* Send one frame to the client (deadline: idle_ms). Returns 0 or -errno. */
int ctl_send(struct ctl_conn *c, uint8_t type, const void *p, size_t len);
/* Send ERR(err, text). Returns 0 or -errno of the send. */
int ctl_send_err(struct ctl_conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Receive the next client frame into c->buf (deadline: idle_ms, ends early
 * when stopping). Returns its payload length and *type, or -errno; a
 * malformed frame or a broken connection is logged here.
 */
long ctl_recv(struct ctl_conn *c, uint8_t *type);

/*
 * Request handlers, on the connection's thread, payload p (len bytes, in
 * c->buf: consumed before the next ctl_recv). Each sends exactly one reply
 * (OK, ERR, or a DATA/FILE/PEER sequence ending in END or ERR). Returns 0
 * to go on with the connection, or -errno to close it (malformed input or
 * the connection broke; logged).
 */
int ctl_do_put(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_get(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_ls(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_rm(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_gc(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_stat(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_status(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_peers(struct ctl_conn *c, const uint8_t *p, size_t len);
int ctl_do_search(struct ctl_conn *c, const uint8_t *p, size_t len);
/* LEAVE: hand on what this node holds (tsn_node_leave), answer, then on_leave. */
int ctl_do_leave(struct ctl_conn *c, const uint8_t *p, size_t len);

#endif
