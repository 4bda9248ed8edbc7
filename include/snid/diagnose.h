/*
 * diagnose: `snid -diagnose NAME`.  With the configuration a run would
 * have (flags and -config), check step by step what a client asking for
 * NAME meets, and print one line per step to stdout:
 *
 *	LEVEL STEP: what was found[: what to fix]
 *
 * LEVEL is "ok", "WARN" (worth knowing, the exit status stays 0) or
 * "FAIL"; STEP is one of the words below, in this order:
 *
 *	name	NAME is a valid host name (what the daemon calls bad-name)
 *	dns	the lookup through snid's DNS servers (-dns-server)
 *	a	the A records are addresses snid listens on (else IPv4 clients
 *		never reach it); WARN only when this host looks NATed (no
 *		public IPv4 address of its own) and the address is public,
 *		or a proxy: listener has a load balancer in front
 *	aaaa	the backend addresses (AAAA; A inside an IPv4 -backend-cidr)
 *		lie inside -backend-cidr and are not snid itself
 *	port	the backend port is one snid may connect to (-backend-ports)
 *	socket	unix mode: DIR/NAME or DIR/_.PARENT exists
 *	nat46	nat46 mode: -nat46-prefix is routed to this host (local)
 *	route	the route to the backend: interface, gateway; none is a FAIL
 *	connect	a TCP (unix) connect within -connect-timeout
 *	hello	a ClientHello of DIAGNOSE_HELLO_SIZE bytes (a post-quantum
 *		key share's size) with SNI NAME, after the PROXY header the
 *		daemon would send, gets a ServerHello within -connect-timeout;
 *		no answer at all after a good connect is the mark of an MTU
 *		blackhole on the way.  A TLS alert is a WARN: the path works.
 *
 * After a FAIL the steps that depend on it are not run (a and the backend
 * path are independent).  Exit status 0 when no step failed, else 1.
 * Nothing here runs in the daemon.
 */
#ifndef SNID_DIAGNOSE_H
#define SNID_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/* Run every step for cfg->diagnose; returns the exit status (0 or 1). */
int	diagnose_run(const struct config *cfg);

/* Bytes on the wire of the probe ClientHello (record header included). */
#define DIAGNOSE_HELLO_SIZE	2000

/*
 * Build the probe ClientHello for sni (at most HOSTNAME_MAX bytes) into
 * out: one TLS record of DIAGNOSE_HELLO_SIZE bytes (padding extension),
 * TLS 1.3 and 1.2, key shares X25519MLKEM768 (1216 bytes, a well-formed
 * ML-KEM-768 encapsulation key) and X25519, the randomness from the
 * splitmix64 state *rng.  Pure.  Returns the length, or 0 when cap is
 * smaller than DIAGNOSE_HELLO_SIZE or sni too long.
 */
size_t	diagnose_hello_build(const char *sni, uint64_t *rng, uint8_t *out,
	    size_t cap);

enum diagnose_reply {
	DIAGNOSE_REPLY_MORE,		/* too few bytes yet to tell */
	DIAGNOSE_REPLY_SERVER_HELLO,	/* a handshake record, ServerHello */
	DIAGNOSE_REPLY_ALERT,		/* a TLS alert: *alert its description */
	DIAGNOSE_REPLY_OTHER,		/* not a TLS answer to a ClientHello */
};

/* Judge the first bytes a backend answered with.  Pure. */
enum diagnose_reply	diagnose_reply_parse(const uint8_t *buf, size_t len,
			    uint8_t *alert);

/* The name of a TLS alert description ("unrecognized_name"), or "?". */
const char	*diagnose_alert_name(uint8_t desc);

/*
 * Whether IPv4 address a (network byte order) is one a NATed host has
 * instead of a public one: RFC 1918, shared 100.64.0.0/10, link-local,
 * loopback.  Pure.
 */
bool	diagnose_ipv4_private(uint32_t a);

#endif
