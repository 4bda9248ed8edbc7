/*
 * proxyproto: the PROXY protocol header (haproxy's doc/proxy-protocol.txt,
 * versions 1 and 2), parsed incrementally on a connection accepted from a
 * load balancer and built for a connection to a backend.
 *
 * The parser follows clienthello's contract: the caller feeds every byte
 * received so far (from the start of the connection); the parser keeps no
 * state between calls, allocates nothing and never reads outside
 * [buf, buf + len).  Every byte is checked as it arrives, so input that
 * cannot become a valid header is refused on the shortest prefix that shows
 * it (a TLS hello on its first byte, an HTTP request on its first bytes), and a
 * prefix of a valid header is always NEED_MORE.
 */
#ifndef SNID_PROXYPROTO_H
#define SNID_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A v1 line, "PROXY" to CRLF included, is at most 107 bytes (spec 2.1). */
#define PROXYPROTO_V1_MAX	107
/* The fixed part of a v2 header: signature, ver_cmd, fam, len. */
#define PROXYPROTO_V2_HEADER	16
/*
 * Largest v2 length field (address block + TLVs) accepted.  The 216-byte
 * AF_UNIX block plus every registered TLV at a generous size (unique ID
 * <= 128, authority <= 255, SSL with its sub-TLVs, ALPN, AWS/Azure/GCP
 * endpoint IDs of a few dozen bytes) stays well under it; more is a
 * misbehaving sender, refused after 16 bytes rather than buffered.
 */
#define PROXYPROTO_V2_MAX_LEN	2048
/*
 * Most bytes the caller ever needs to buffer: once this many have arrived
 * the parser has answered DONE or ERROR, never NEED_MORE.
 */
#define PROXYPROTO_MAX		(PROXYPROTO_V2_HEADER + PROXYPROTO_V2_MAX_LEN)

/* Buffer sizes for the builders: v1 is NUL-terminated, v2 carries no TLVs. */
#define PROXYPROTO_V1_BUILD_MAX	(PROXYPROTO_V1_MAX + 1)
#define PROXYPROTO_V2_BUILD_MAX	(PROXYPROTO_V2_HEADER + 36)

enum proxyproto_status {
	PROXYPROTO_NEED_MORE,	/* a valid prefix so far: feed more bytes */
	PROXYPROTO_DONE,	/* a complete header: result filled */
	PROXYPROTO_ERROR,	/* not a valid header: close the connection */
};

enum proxyproto_command {
	PROXYPROTO_CMD_LOCAL,	/* v2 LOCAL (a health check): use the real peer */
	PROXYPROTO_CMD_PROXY,	/* relayed; v1 is always PROXY */
};

struct proxyproto {
	const char		*error;		/* on ERROR: static reason for logs */
	int			 version;	/* on DONE: 1 or 2 */
	enum proxyproto_command	 command;
	/*
	 * True only for TCP over IPv4 or IPv6 with the PROXY command: then
	 * src is the client and dst the address it connected to, ports in
	 * network order.  False for v1 UNKNOWN, v2 LOCAL, v2 UNSPEC and v2
	 * AF_UNIX: the caller uses the real connection's addresses, as the
	 * spec says.
	 */
	bool			 has_addresses;
	struct sockaddr_storage	 src;
	struct sockaddr_storage	 dst;
	/* On DONE: bytes of buf the header spans; what follows is the client's. */
	size_t			 header_len;
};

/*
 * Parse buf[0..len).  Always fills *out (zeroed first).  Both versions are
 * accepted; the first byte tells them apart.  Strictness, beyond the spec's
 * MUSTs:
 * - v1: single spaces, CRLF only, addresses of the announced family (IPv4
 *   as four decimal numbers without leading zeros; IPv6 as inet_pton(3)
 *   takes it), ports 0..65535 without leading zeros.  After "UNKNOWN" the
 *   rest of the line is ignored but must be printable ASCII.
 * - v2: version 2; command LOCAL or PROXY.  With PROXY the family must be
 *   UNSPEC, TCP over IPv4/IPv6 or UNIX stream: a UDP header on a TCP
 *   connection is a misconfigured sender and is refused rather than
 *   silently treated as UNSPEC.  The length must cover the family's
 *   address block and be at most PROXYPROTO_V2_MAX_LEN; the TLVs after the
 *   address block are skipped but each must fit inside the header.  With
 *   LOCAL the family byte must be one of the seven the spec defines and
 *   the whole block is skipped unread (the spec says to discard it).
 */
enum proxyproto_status	proxyproto_parse(const uint8_t *buf, size_t len,
    struct proxyproto *out);

/*
 * Build a v1 line for a connection from src to dst into out (NUL-terminated;
 * PROXYPROTO_V1_BUILD_MAX bytes always suffice).  Two AF_INET addresses give
 * TCP4, two AF_INET6 give TCP6; an IPv4-mapped IPv6 address counts as the
 * IPv4 address it maps when the other one is IPv4 too (a dual-stack
 * socket's IPv4 client is sent as TCP4, as haproxy does).  Anything else
 * (mixed families, AF_UNIX, NULL) gives "PROXY UNKNOWN\r\n", so the
 * receiver uses the connection's own addresses.
 * Returns the length without the NUL, or 0 if outlen is too small.
 */
size_t	proxyproto_build_v1(const struct sockaddr *src, const struct sockaddr *dst,
    char *out, size_t outlen);

/*
 * Build a v2 header (no TLVs) into out; the families as for v1: command
 * PROXY with TCP over IPv4 or IPv6, and in place of UNKNOWN command LOCAL
 * with UNSPEC and an empty address block.  (The spec suggests PROXY with
 * UNSPEC there; LOCAL means the same to a receiver, use the connection's
 * own addresses, and is what haproxy sends and accepts: haproxy 2.6 refuses
 * PROXY with UNSPEC.)  Returns the length, or 0 if outlen is too small.
 */
size_t	proxyproto_build_v2(const struct sockaddr *src, const struct sockaddr *dst,
    uint8_t *out, size_t outlen);

/* Short name of a status, for logs and tests. */
const char	*proxyproto_status_str(enum proxyproto_status st);

#endif
