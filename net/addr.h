/*
 * addr.h: network addresses of peers, as plain values.
 *
 * A struct tsn_addr is an IPv4 or IPv6 address and a port, compared and
 * copied by value. IPv4 uses ip[0..3]; the other 12 bytes are always zero,
 * so two equal addresses are equal byte for byte. IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are turned into IPv4 by every constructor here.
 *
 * Threads: pure functions, any thread. Cost: constant.
 */
#ifndef TSN_NET_ADDR_H
#define TSN_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct sockaddr_storage;

#define TSN_ADDR_V4 4
#define TSN_ADDR_V6 6
/* "[" + inet_ntop's longest IPv6 text (45) + "]:65535" + NUL, rounded up. */
#define TSN_ADDR_STRLEN 56

struct tsn_addr {
	uint8_t family;  /* TSN_ADDR_V4 or TSN_ADDR_V6; anything else is invalid */
	uint8_t ip[16];  /* network byte order; IPv4 in ip[0..3], rest zero */
	uint16_t port;   /* host byte order */
};

/* Fill *a with IPv4 a.b.c.d:port (ip given in network order, 4 bytes). */
void tsn_addr_v4(struct tsn_addr *a, const uint8_t ip[4], uint16_t port);
/* Fill *a with an IPv6 address (16 bytes); a v4-mapped one becomes IPv4. */
void tsn_addr_v6(struct tsn_addr *a, const uint8_t ip[16], uint16_t port);

/* Total order: family, then ip, then port. Returns <0, 0, >0. */
int tsn_addr_cmp(const struct tsn_addr *a, const struct tsn_addr *b);
bool tsn_addr_eq(const struct tsn_addr *a, const struct tsn_addr *b);
/* Same family and ip, any port. */
bool tsn_addr_same_host(const struct tsn_addr *a, const struct tsn_addr *b);

/*
 * "1.2.3.4:5" or "[::1]:5" into out (TSN_ADDR_STRLEN bytes, NUL-terminated).
 * An invalid family prints "?". Returns out.
 */
char *tsn_addr_format(const struct tsn_addr *a, char out[TSN_ADDR_STRLEN]);
/*
 * Parse "HOST:PORT" with a numeric host only (no DNS): "1.2.3.4:5",
 * "[::1]:5". s need not be NUL-terminated beyond len bytes. Port 0..65535.
 * Returns 0 or -EINVAL (*out unchanged on failure).
 */
int tsn_addr_parse(const char *s, size_t len, struct tsn_addr *out);

/* True for 127.0.0.0/8 and ::1. */
bool tsn_addr_is_loopback(const struct tsn_addr *a);
/*
 * True for an address no peer can have (after jech/dht's is_martian): port
 * 0, a family other than 4/6; IPv4 0.0.0.0/8, 127.0.0.0/8 (unless
 * allow_loopback), 224.0.0.0/3 (multicast, reserved, broadcast); IPv6 ::,
 * ::1 (unless allow_loopback), ff00::/8, fe80::/10, ::ffff:0:0/96 (mapped
 * IPv4 must arrive as IPv4).
 */
bool tsn_addr_is_martian(const struct tsn_addr *a, bool allow_loopback);

/*
 * Convert from a struct sockaddr (AF_INET or AF_INET6, len bytes).
 * Returns 0 or -EAFNOSUPPORT / -EINVAL (short len).
 */
int tsn_addr_from_sockaddr(struct tsn_addr *a, const struct sockaddr *sa, size_t len);
/* Convert to a sockaddr; returns its length, or -EAFNOSUPPORT. */
int tsn_addr_to_sockaddr(const struct tsn_addr *a, struct sockaddr_storage *ss);

#endif
