/*
 * testnet: socket-address helpers shared by the tests of the I/O modules
 * (included after cmocka.h).  Header-only and static, like testutil.h.
 */
#ifndef SNID_TESTNET_H
#define SNID_TESTNET_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "snid/sock.h"

/* The socket address of a textual IPv4 or IPv6 address and a port. */
static inline union sockaddr_inet
addr(const char *a, uint16_t port)
{
	union sockaddr_inet	s;

	memset(&s, 0, sizeof(s));
	if (strchr(a, ':') != NULL) {
		s.in6.sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, a, &s.in6.sin6_addr), 1);
		s.in6.sin6_port = htons(port);
	} else {
		s.in.sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, a, &s.in.sin_addr), 1);
		s.in.sin_port = htons(port);
	}
	return s;
}

#endif
