/*
 * control.h: the control socket of a running node, DATADIR/control.sock.
 *
 * The `tsn` command talks to the node that owns a data dir through it (put,
 * get, ls, rm, gc, stat, status, peers); the FUSE mount may embed the same
 * server. The protocol (docs/control.md) is versioned and length-framed:
 *
 *   u32 length (big endian; counts the type byte and the payload)
 *   u8  type
 *   payload (length - 1 bytes, at most TSN_CTL_PAYLOAD_MAX; per type less)
 *
 * The server side (tsn_control_*) is an accept thread and one thread per
 * connection (at most max_conns), each closed after idle_ms without a frame.
 * It uses the store directly and the node through its thread-safe API
 * (node.h). A malformed frame (bad length, unknown type, wrong size for its
 * type, a frame out of turn) closes the connection with a log line; request
 * failures are answered with ERR and the connection goes on.
 *
 * The frame helpers (tsn_ctl_*) are shared by the server and the client
 * (tools/tsn_remote.c): blocking I/O on a stream socket with a deadline per
 * frame, and the codecs of the fixed payloads, each bounded (exact or
 * capped lengths, checked before any read).
 */
#ifndef TSN_NET_CONTROL_H
#define TSN_NET_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "block.h"
#include "id.h"
#include "store.h"
#include "uri.h"

struct tsn_node;

/* Version 2 appends the repair figures to STATUS and the records to LEAVE's
 * answer; a session speaks the lower of the two sides' versions. */
#define TSN_CTL_VERSION 2
#define TSN_CTL_VERSION_MIN 1
#define TSN_CTL_MAGIC "TSNC"
#define TSN_CTL_SOCKET "control.sock"
#define TSN_CTL_HDR 5                        /* u32 length, u8 type */
#define TSN_CTL_DATA_MAX TSN_CHUNK_MAX       /* payload of one DATA frame */
#define TSN_CTL_SMALL_MAX 4096               /* payload of any other frame */
#define TSN_CTL_PAYLOAD_MAX TSN_CTL_DATA_MAX
#define TSN_CTL_NAME_MAX 255                 /* file name in PUT and FILE */
#define TSN_CTL_TEXT_MAX 1024                /* text of an ERR */
#define TSN_CTL_CONNS_DEFAULT 8
#define TSN_CTL_IDLE_DEFAULT_MS 120000
#define TSN_CTL_READAHEAD 16                 /* chunk fetches in flight ahead of a GET */
#define TSN_CTL_PUSH_WINDOW 16               /* chunk pushes in flight during a PUT */

/* Frame types. The numbers index bounds-checked tables; 0 is invalid. */
enum tsn_ctl_type {
	TSN_CTL_HELLO = 1,  /* both ways, first: "TSNC" u16 version */
	TSN_CTL_PUT = 2,    /* u8 flags, u8 name length, name; then DATA..., END */
	TSN_CTL_GET = 3,    /* URI text (128 bytes) */
	TSN_CTL_LS = 4,     /* empty */
	TSN_CTL_RM = 5,     /* URI text */
	TSN_CTL_GC = 6,     /* empty */
	TSN_CTL_STAT = 7,   /* empty */
	TSN_CTL_STATUS = 8, /* empty */
	TSN_CTL_PEERS = 9,  /* empty */
	TSN_CTL_DATA = 10,  /* both ways: file bytes (1..TSN_CTL_DATA_MAX) */
	TSN_CTL_END = 11,   /* both ways: end of DATA or of a listing (empty) */
	TSN_CTL_OK = 12,    /* server: a request succeeded; payload per request */
	TSN_CTL_ERR = 13,   /* server: u32 errno (positive), one line of text */
	TSN_CTL_FILE = 14,  /* server: one LS entry */
	TSN_CTL_PEER = 15,  /* server: one PEERS entry */
	TSN_CTL_SEARCH = 16, /* u32 timeout_ms | query text (1..TSN_CTL_QUERY_MAX) */
	TSN_CTL_RESULT = 17, /* server: one search result: URI text | name */
	TSN_CTL_LEAVE = 18,  /* empty: hand everything on, then the node stops */
	TSN_CTL_TYPE_END
};

#define TSN_CTL_PUT_PRIVATE 0x01u /* PUT flag: encode under the data dir's secret */
#define TSN_CTL_PUT_KEYWORDS 0x02u /* PUT flag: extra keywords follow the name */
#define TSN_CTL_KEYWORDS_MAX 255   /* bytes of extra keywords in a PUT */
#define TSN_CTL_QUERY_MAX 1024     /* bytes of a SEARCH query */

/* Who may send a frame type (for tsn_ctl_frame_check). */
#define TSN_CTL_FROM_CLIENT 1
#define TSN_CTL_FROM_SERVER 2

/* ---- the server ---- */

struct tsn_control;

struct tsn_control_opts {
	struct tsn_store *store; /* required, borrowed for the server's life */
	struct tsn_node *node;   /* borrowed; NULL: no network (STATUS, PEERS fail
	                            with ENOTCONN; GET reads the store only) */
	unsigned max_conns;      /* connections served at once; 0 = TSN_CTL_CONNS_DEFAULT */
	uint32_t idle_ms;        /* close after this long without a frame; 0 = default */
	unsigned threads;        /* encoder threads per PUT; 0 = online cores (max 8) */
	struct tsn_publisher *publisher; /* borrowed; NULL: PUT and RM publish no keywords */
	/* Called (from a connection thread) after a LEAVE was answered: the
	 * process should stop now. NULL: LEAVE is refused with EOPNOTSUPP. */
	void (*on_leave)(void *ud);
	void *leave_ud;
};

/*
 * Start serving DATADIR/control.sock (DATADIR = tsn_store_path(store)),
 * mode 0600: bound in a new 0700 directory, chmod'ed, then renamed into
 * place, so no other user can reach it at any moment (the process umask is
 * not touched). An existing socket file is replaced only after a connect
 * to it failed (a stale one); if a server answers there: -EADDRINUSE.
 * Returns 0 or -errno; on failure *out is NULL and err (errlen bytes) says
 * what and why in one line.
 */
int tsn_control_start(struct tsn_control **out, const struct tsn_control_opts *opts, char *err,
                      size_t errlen);
/*
 * Stop: no new connections; running requests stop at their next chunk
 * (waiting at most for the node requests they have in flight, each bounded
 * by the node's deadline); every thread is joined, the socket file removed.
 * Call before stopping the node and closing the store. NULL is a no-op.
 */
void tsn_control_stop(struct tsn_control *c);

/* ---- frames (server and client) ---- */

/*
 * Check a frame header: type known, sent by `from` (TSN_CTL_FROM_*), and
 * payload length within that type's bounds. Returns 0 or -EBADMSG with *why
 * (if not NULL) a static reason.
 */
int tsn_ctl_frame_check(uint8_t type, uint32_t plen, int from, const char **why);
/*
 * Send one frame (header and payload; plen within the type's bounds) on a
 * blocking stream socket, waiting at most timeout_ms for the peer to take
 * it. Returns 0, -ETIMEDOUT, -EPIPE/-ECONNRESET (peer gone), -EINVAL.
 */
int tsn_ctl_send(int fd, uint8_t type, const void *payload, size_t plen, int timeout_ms);
/*
 * Receive one frame sent by `from` (TSN_CTL_FROM_CLIENT on the server's
 * side) into buf (cap bytes). The header is checked (tsn_ctl_frame_check)
 * before a byte of the payload is read. Waits at most timeout_ms for the
 * whole frame (< 0: forever). When stop_fd >= 0 becomes readable the wait
 * ends with -ECANCELED. Returns the payload length and *type, or
 * -ETIMEDOUT, -ENOTCONN (peer closed between frames), -ECONNRESET (closed
 * inside one), -EBADMSG (bad header; *why set), -EMSGSIZE (payload over
 * cap), -errno of the read.
 */
long tsn_ctl_recv(int fd, int from, uint8_t *type, uint8_t *buf, size_t cap, int timeout_ms,
                  int stop_fd, const char **why);
/*
 * Path of DATADIR's socket into out (outlen bytes). When the path is too
 * long for a sockaddr_un, *dirfd gets an O_PATH descriptor of DATADIR and
 * out is "/proc/self/fd/N/control.sock" (close *dirfd after the bind or
 * connect); otherwise *dirfd is -1. Returns 0 or -errno.
 */
int tsn_ctl_socket_path(const char *datadir, char *out, size_t outlen, int *dirfd);
/*
 * Connect to DATADIR's control socket and exchange HELLO (timeout_ms for
 * each step). Returns the connected fd, or -ENOENT / -ECONNREFUSED (no node
 * runs there: the socket file is absent or stale), -EPROTONOSUPPORT (the
 * node speaks another version; err says which), -errno. err (errlen bytes)
 * says why on failure.
 */
int tsn_ctl_connect(const char *datadir, int timeout_ms, char *err, size_t errlen);

/* ---- payloads (fixed layouts, big endian; see docs/control.md) ---- */

/* HELLO: "TSNC" u16 version. */
#define TSN_CTL_HELLO_LEN 6
void tsn_ctl_hello_encode(uint8_t out[TSN_CTL_HELLO_LEN], uint16_t version);
/* Returns the version, or -EBADMSG (bad magic or length). Trailing bytes ignored. */
int tsn_ctl_hello_decode(const uint8_t *p, size_t len);

/* ERR: u32 errno (> 0) | text (no NUL, at most TSN_CTL_TEXT_MAX). */
size_t tsn_ctl_err_encode(uint8_t *out, size_t cap, int err, const char *text);
/* *err gets -errno; text (textcap bytes) the NUL-terminated line, control
 * characters replaced. Returns 0 or -EBADMSG. */
int tsn_ctl_err_decode(const uint8_t *p, size_t len, int *err, char *text, size_t textcap);

/*
 * PUT request: u8 flags | u8 name length n | name (n bytes, no NUL or '/')
 * | (flag TSN_CTL_PUT_KEYWORDS) extra keywords (the rest, 1..255 bytes, no
 * NUL). kw NULL or empty: no flag. Returns the length or 0 (too long).
 */
size_t tsn_ctl_put_encode(uint8_t *out, size_t cap, unsigned flags, const char *name,
                          const char *kw);
/* name, kw: NUL-terminated (TSN_CTL_NAME_MAX + 1, TSN_CTL_KEYWORDS_MAX + 1
 * bytes; kw empty without the flag). Returns 0 or -EBADMSG. */
int tsn_ctl_put_decode(const uint8_t *p, size_t len, unsigned *flags,
                       char name[TSN_CTL_NAME_MAX + 1], char kw[TSN_CTL_KEYWORDS_MAX + 1]);
/* SEARCH request: u32 timeout_ms | query. Returns the length or 0. */
size_t tsn_ctl_search_encode(uint8_t *out, size_t cap, uint32_t timeout_ms, const char *query);
/* query: NUL-terminated (TSN_CTL_QUERY_MAX + 1 bytes). Returns 0 or -EBADMSG (a NUL). */
int tsn_ctl_search_decode(const uint8_t *p, size_t len, uint32_t *timeout_ms,
                          char query[TSN_CTL_QUERY_MAX + 1]);
/* RESULT: URI text (TSN_URI_STRLEN) | name (1..TSN_CTL_NAME_MAX, no NUL or '/'). */
size_t tsn_ctl_result_encode(uint8_t *out, size_t cap, const struct tsn_uri *uri,
                             const char *name);
/* Returns 0 or -EBADMSG (bad URI or name). name: TSN_CTL_NAME_MAX + 1 bytes. */
int tsn_ctl_result_decode(const uint8_t *p, size_t len, struct tsn_uri *uri,
                          char name[TSN_CTL_NAME_MAX + 1]);

/* PUT reply (OK). */
struct tsn_ctl_put_result {
	struct tsn_uri uri;
	uint32_t chunks;        /* blocks pushed (data and index) */
	uint32_t short_;        /* pushes that left fewer than `wanted` copies */
	uint16_t min_replicas;  /* fewest nodes holding a block afterwards */
	uint16_t max_replicas;  /* most */
	uint16_t wanted;        /* the node's replicas setting (r) */
};
#define TSN_CTL_PUT_OK_LEN (TSN_URI_STRLEN + 14)
void tsn_ctl_put_ok_encode(uint8_t out[TSN_CTL_PUT_OK_LEN], const struct tsn_ctl_put_result *r);
int tsn_ctl_put_ok_decode(const uint8_t *p, size_t len, struct tsn_ctl_put_result *r);

/* GET and RM requests: the URI text. Returns 0 or -EINVAL (*why set). */
int tsn_ctl_uri_decode(const uint8_t *p, size_t len, struct tsn_uri *uri, const char **why);

/* GC reply: u64 chunks | u64 bytes. */
#define TSN_CTL_GC_OK_LEN 16
/*
 * LEAVE reply: u64 chunks handed on | u64 short of r copies | u64 not placed
 * (version 1: 24 bytes) | u64 records handed on | u64 records not (version
 * 2: 40 bytes).
 */
struct tsn_ctl_leave_result {
	uint16_t version;        /* the layout: 1 (no records) or 2 */
	uint64_t handed, short_, failed;
	uint64_t records_handed, records_failed;
};
#define TSN_CTL_LEAVE_OK_V1_LEN 24
#define TSN_CTL_LEAVE_OK_LEN 40
/* Encode in the layout of `version` (1 or 2). Returns the length. */
size_t tsn_ctl_leave_ok_encode(uint8_t out[TSN_CTL_LEAVE_OK_LEN],
                               const struct tsn_ctl_leave_result *r, int version);
/* A version 1 reply (exactly 24 bytes) or version 2 and later (40 bytes or
 * more; what follows is ignored). r->version says which. Returns 0 or
 * -EBADMSG (any other length). */
int tsn_ctl_leave_ok_decode(const uint8_t *p, size_t len, struct tsn_ctl_leave_result *r);

/* STAT reply, and the tail of STATUS: the store's figures and free disk. */
struct tsn_ctl_stat {
	struct tsn_store_stat st;
	uint64_t disk_free;      /* bytes; UINT64_MAX when unknown */
};
#define TSN_CTL_STAT_LEN (8 * 12)
void tsn_ctl_stat_encode(uint8_t out[TSN_CTL_STAT_LEN], const struct tsn_ctl_stat *s);
int tsn_ctl_stat_decode(const uint8_t *p, size_t len, struct tsn_ctl_stat *s);

/* STATUS reply. */
struct tsn_ctl_status {
	uint16_t version;        /* the layout: 1 (no repair figures) or 2 */
	uint8_t id[TSN_ID_LEN];
	struct tsn_addr addr;
	uint32_t replicas;
	uint64_t peers, records;
	uint64_t udp_in, udp_out, tcp_in, tcp_out;
	uint64_t chunks_served, chunks_accepted, chunks_fetched, chunks_pushed;
	uint64_t requests_pending, connections;
	/* datagrams in and out, and those dropped, by reason (dht.h stats) */
	uint64_t dgram_in, dgram_out, malformed, bad_version, bad_type, rate_limited;
	uint64_t unsolicited, timeouts;
	struct tsn_ctl_stat store;
	/* version 2: repair (node.h struct tsn_node_status) */
	uint64_t repair_passes, repair_checked, repair_under, repair_under_now;
	uint64_t repair_copies, repair_handed, repair_expired, repair_failed, repair_bytes;
	uint64_t records_restored, records_restore_failed;
};
#define TSN_CTL_ADDR_LEN 19 /* u8 family, ip[16], u16 port */
#define TSN_CTL_STATUS_U64 20
#define TSN_CTL_STATUS_V1_LEN (TSN_ID_LEN + TSN_CTL_ADDR_LEN + 4 + 8 * TSN_CTL_STATUS_U64 + \
                               TSN_CTL_STAT_LEN)
#define TSN_CTL_STATUS_REPAIR_U64 11
#define TSN_CTL_STATUS_LEN (TSN_CTL_STATUS_V1_LEN + 8 * TSN_CTL_STATUS_REPAIR_U64)
/* Encode in the layout of `version` (1: without the repair figures, 2).
 * Returns the length (TSN_CTL_STATUS_V1_LEN or TSN_CTL_STATUS_LEN). */
size_t tsn_ctl_status_encode(uint8_t out[TSN_CTL_STATUS_LEN], const struct tsn_ctl_status *s,
                             int version);
/* A version 1 reply (exactly TSN_CTL_STATUS_V1_LEN bytes; the repair
 * figures are 0) or version 2 and later (TSN_CTL_STATUS_LEN bytes or more:
 * later versions append, the rest is ignored); s->version says which.
 * Returns 0 or -EBADMSG (any other length, a bad address). */
int tsn_ctl_status_decode(const uint8_t *p, size_t len, struct tsn_ctl_status *s);

/* PEER entry: id[32] | address (19). */
#define TSN_CTL_PEER_LEN (TSN_ID_LEN + TSN_CTL_ADDR_LEN)
void tsn_ctl_peer_encode(uint8_t out[TSN_CTL_PEER_LEN], const struct tsn_contact *c);
int tsn_ctl_peer_decode(const uint8_t *p, size_t len, struct tsn_contact *c);

/* FILE entry: URI text | u64 mtime | u8 flags (bit 0 private) | name (rest). */
#define TSN_CTL_FILE_MIN (TSN_URI_STRLEN + 9)
size_t tsn_ctl_file_encode(uint8_t *out, size_t cap, const struct tsn_file_info *f);
int tsn_ctl_file_decode(const uint8_t *p, size_t len, struct tsn_file_info *f);

#endif
