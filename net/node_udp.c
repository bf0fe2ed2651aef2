/*
 * node_udp.c: the UDP socket of a node: datagrams in to tsn_dht_receive,
 * datagrams out for the dht (its send callback). A datagram is sent at once
 * with uv_udp_try_send (no copy); only when the socket buffer is full is it
 * copied and queued, at most NODE_UDP_QUEUE_MAX of them, else dropped
 * (the dht counts a send error; UDP may lose it anyway).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_i.h"
#include "util.h"

struct udp_send {
	uv_udp_send_t req;
	struct tsn_node *n;
	size_t len;
	uint8_t data[];
};

int
node_udp_bind(struct tsn_node *n, const struct sockaddr *sa)
{
	int rc;

	if ((rc = uv_udp_init(&n->loop, &n->udp)) != 0)
		return rc;
	n->udp.data = n;
	return uv_udp_bind(&n->udp, sa, 0);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tsn_node *n = h->data;

	(void)suggested;
	buf->base = (char *)n->udp_rbuf;
	buf->len = sizeof(n->udp_rbuf);
}

static void
recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *sa,
        unsigned flags)
{
	struct tsn_node *n = h->data;
	struct tsn_addr from;

	if (nread < 0) {
		tsn_log(TSN_LOG_DEBUG, "node: UDP receive: %s", uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || sa == NULL || n->stopping)
		return;
	n->st.udp_in += (uint64_t)nread;
	if (flags & UV_UDP_PARTIAL)
		return; /* over the buffer, so over TSN_WIRE_MTU: malformed anyway */
	if (tsn_addr_from_sockaddr(&from, sa, sa->sa_family == AF_INET6 ?
	                                      sizeof(struct sockaddr_in6) :
	                                      sizeof(struct sockaddr_in)) != 0)
		return;
	(void)tsn_dht_receive(n->dht, node_now(n), &from, (const uint8_t *)buf->base, (size_t)nread);
	node_kick(n);
}

int
node_udp_start(struct tsn_node *n)
{
	return uv_udp_recv_start(&n->udp, alloc_cb, recv_cb);
}

static void
send_cb(uv_udp_send_t *req, int status)
{
	struct udp_send *s = req->data;

	s->n->udp_queued--;
	if (status == 0)
		s->n->st.udp_out += s->len;
	free(s);
}

/* The destination in the socket's family (an IPv6 socket reaches IPv4 peers mapped). */
static int
dest(const struct tsn_node *n, const struct tsn_addr *to, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	int rc;

	if (n->addr.family == TSN_ADDR_V6 && to->family == TSN_ADDR_V4) {
		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(to->port);
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], to->ip, 4);
		return 0;
	}
	if (n->addr.family != to->family)
		return -EAFNOSUPPORT;
	rc = tsn_addr_to_sockaddr(to, ss);
	return rc < 0 ? rc : 0;
}

int
node_udp_send(void *ud, const struct tsn_addr *to, const uint8_t *buf, size_t len)
{
	struct tsn_node *n = ud;
	struct sockaddr_storage ss;
	struct udp_send *s;
	uv_buf_t b;
	int rc;

	if (n->stopping)
		return -ECANCELED;
	if ((rc = dest(n, to, &ss)) != 0)
		return rc;
	b = uv_buf_init((char *)buf, (unsigned)len);
	rc = uv_udp_try_send(&n->udp, &b, 1, (const struct sockaddr *)&ss);
	if (rc >= 0) {
		n->st.udp_out += len;
		return 0;
	}
	if (rc != UV_EAGAIN && rc != UV_ENOBUFS)
		return rc;
	if (n->udp_queued >= NODE_UDP_QUEUE_MAX)
		return -EAGAIN;
	if ((s = malloc(sizeof(*s) + len)) == NULL)
		return -ENOMEM;
	memcpy(s->data, buf, len);
	s->n = n;
	s->len = len;
	s->req.data = s;
	b = uv_buf_init((char *)s->data, (unsigned)len);
	if ((rc = uv_udp_send(&s->req, &n->udp, &b, 1, (const struct sockaddr *)&ss, send_cb)) != 0) {
		free(s);
		return rc;
	}
	n->udp_queued++;
	return 0;
}
