/* addr.c: peer addresses: compare, format, parse, martian filter. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t zeroes[16];

void
tsn_addr_v4(struct tsn_addr *a, const uint8_t ip[4], uint16_t port)
{
	uint8_t copy[4];

	memcpy(copy, ip, 4); /* ip may point into *a */
	memset(a, 0, sizeof(*a));
	a->family = TSN_ADDR_V4;
	memcpy(a->ip, copy, 4);
	a->port = port;
}

void
tsn_addr_v6(struct tsn_addr *a, const uint8_t ip[16], uint16_t port)
{
	uint8_t copy[16];

	memcpy(copy, ip, 16); /* ip may point into *a */
	if (memcmp(copy, v4mapped, 12) == 0) {
		tsn_addr_v4(a, copy + 12, port);
		return;
	}
	memset(a, 0, sizeof(*a));
	a->family = TSN_ADDR_V6;
	memcpy(a->ip, copy, 16);
	a->port = port;
}

int
tsn_addr_cmp(const struct tsn_addr *a, const struct tsn_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->ip, b->ip, 16);
	if (c != 0)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return 0;
}

bool
tsn_addr_eq(const struct tsn_addr *a, const struct tsn_addr *b)
{
	return tsn_addr_cmp(a, b) == 0;
}

bool
tsn_addr_same_host(const struct tsn_addr *a, const struct tsn_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

char *
tsn_addr_format(const struct tsn_addr *a, char out[TSN_ADDR_STRLEN])
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == TSN_ADDR_V4 && inet_ntop(AF_INET, a->ip, ip, sizeof(ip)) != NULL)
		snprintf(out, TSN_ADDR_STRLEN, "%s:%u", ip, (unsigned)a->port);
	else if (a->family == TSN_ADDR_V6 && inet_ntop(AF_INET6, a->ip, ip, sizeof(ip)) != NULL)
		snprintf(out, TSN_ADDR_STRLEN, "[%s]:%u", ip, (unsigned)a->port);
	else
		snprintf(out, TSN_ADDR_STRLEN, "?");
	return out;
}

static int
parse_port(const char *s, size_t len, uint16_t *port)
{
	uint32_t v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int
tsn_addr_parse(const char *s, size_t len, struct tsn_addr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon = NULL;
	size_t hlen;
	uint8_t ip[16];
	uint16_t port;

	if (s == NULL || len == 0)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL || (size_t)(close - s) + 1 >= len || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - s) - 1;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (parse_port(close + 2, len - (size_t)(close - s) - 2, &port) != 0 ||
		    inet_pton(AF_INET6, host, ip) != 1)
			return -EINVAL;
		tsn_addr_v6(out, ip, port);
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (colon == NULL)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen == 0 || hlen >= sizeof(host) || memchr(s, ':', hlen) != NULL)
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (parse_port(colon + 1, len - hlen - 1, &port) != 0 ||
	    inet_pton(AF_INET, host, ip) != 1)
		return -EINVAL;
	tsn_addr_v4(out, ip, port);
	return 0;
}

bool
tsn_addr_is_loopback(const struct tsn_addr *a)
{
	if (a->family == TSN_ADDR_V4)
		return a->ip[0] == 127;
	if (a->family == TSN_ADDR_V6)
		return memcmp(a->ip, zeroes, 15) == 0 && a->ip[15] == 1;
	return false;
}

bool
tsn_addr_is_martian(const struct tsn_addr *a, bool allow_loopback)
{
	if (a->port == 0)
		return true;
	switch (a->family) {
	case TSN_ADDR_V4:
		if (a->ip[0] == 127)
			return !allow_loopback;
		return a->ip[0] == 0 || (a->ip[0] & 0xe0) == 0xe0;
	case TSN_ADDR_V6:
		if (tsn_addr_is_loopback(a))
			return !allow_loopback;
		return a->ip[0] == 0xff ||
		       (a->ip[0] == 0xfe && (a->ip[1] & 0xc0) == 0x80) ||
		       memcmp(a->ip, zeroes, 16) == 0 ||
		       memcmp(a->ip, v4mapped, 12) == 0;
	default:
		return true;
	}
}

int
tsn_addr_from_sockaddr(struct tsn_addr *a, const struct sockaddr *sa, size_t len)
{
	if (len < sizeof(sa->sa_family))
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;
		if (len < sizeof(sin))
			return -EINVAL;
		memcpy(&sin, sa, sizeof(sin));
		tsn_addr_v4(a, (const uint8_t *)&sin.sin_addr, ntohs(sin.sin_port));
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		if (len < sizeof(sin6))
			return -EINVAL;
		memcpy(&sin6, sa, sizeof(sin6));
		tsn_addr_v6(a, (const uint8_t *)&sin6.sin6_addr, ntohs(sin6.sin6_port));
		return 0;
	}
	return -EAFNOSUPPORT;
}

int
tsn_addr_to_sockaddr(const struct tsn_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == TSN_ADDR_V4) {
		struct sockaddr_in sin = {0};
		sin.sin_family = AF_INET;
		sin.sin_port = htons(a->port);
		memcpy(&sin.sin_addr, a->ip, 4);
		memcpy(ss, &sin, sizeof(sin));
		return (int)sizeof(sin);
	}
	if (a->family == TSN_ADDR_V6) {
		struct sockaddr_in6 sin6 = {0};
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(a->port);
		memcpy(&sin6.sin6_addr, a->ip, 16);
		memcpy(ss, &sin6, sizeof(sin6));
		return (int)sizeof(sin6);
	}
	return -EAFNOSUPPORT;
}
