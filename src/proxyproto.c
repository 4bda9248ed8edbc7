/*
 * proxyproto: the PROXY protocol header, versions 1 and 2.
 *
 * The parser is one forward scan from the start of the buffer.  Each byte is
 * judged when it is reached and the scan stops at the end of the input with
 * NEED_MORE; no check looks at how many bytes there are beyond "is the next
 * one here".  That gives the invariants the tests and the fuzzer hold us
 * to: a prefix of a valid header is NEED_MORE; a prefix that errs errs with
 * the same reason as any longer input; once DONE or ERROR, appending bytes
 * changes nothing; nothing is read outside [buf, buf + len).
 */
#include "snid/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t pp_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define PP_V1_PREFIX		"PROXY "
#define PP_V1_PREFIX_LEN	6
#define PP_V1_ADDR4_MAX		15	/* 255.255.255.255 */
#define PP_V1_ADDR6_MAX		45	/* INET6_ADDRSTRLEN - 1: ffff:...:ffff:255.255.255.255 */
#define PP_V1_PORT_MAX		5

#define PP_V2_VERSION		0x2
#define PP_V2_CMD_LOCAL		0x0
#define PP_V2_CMD_PROXY		0x1
/* Byte 14: family in the high nibble, transport in the low one. */
#define PP_V2_UNSPEC		0x00
#define PP_V2_TCP4		0x11
#define PP_V2_UDP4		0x12
#define PP_V2_TCP6		0x21
#define PP_V2_UDP6		0x22
#define PP_V2_UNIX_STREAM	0x31
#define PP_V2_UNIX_DGRAM	0x32
#define PP_V2_ADDR4_LEN		12	/* 2 * 4 + 2 * 2 */
#define PP_V2_ADDR6_LEN		36	/* 2 * 16 + 2 * 2 */
#define PP_V2_ADDRUNIX_LEN	216	/* 2 * 108 */
#define PP_V2_TLV_HEADER	3	/* type, 2-byte length */

/* A partial answer inside the scan: keep going, stop for more input, or fail. */
enum pp_step { PP_OK, PP_MORE, PP_FAIL };

struct pp_scan {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 pos;
	const char	*error;
};

static enum proxyproto_status
pp_fail(struct proxyproto *out, const char *why)
{
	/* On ERROR only error means something: drop half-filled fields. */
	memset(out, 0, sizeof(*out));
	out->error = why;
	return PROXYPROTO_ERROR;
}

static enum pp_step
pp_scan_fail(struct pp_scan *s, const char *why)
{
	s->error = why;
	return PP_FAIL;
}

/*
 * The next byte of a v1 line, or PP_MORE at the end of the input.  The
 * 107-byte bound is checked here, on the position alone, so that it is
 * found on the same byte whatever the length of the input, and as early as
 * the 107th byte (not the 108th).
 */
static enum pp_step
pp_v1_next(struct pp_scan *s, uint8_t *c)
{
	if (s->pos >= PROXYPROTO_V1_MAX)
		return pp_scan_fail(s, "v1 line has no CRLF within 107 bytes");
	if (s->pos >= s->len)
		return PP_MORE;
	*c = s->buf[s->pos++];
	/* The 107th byte can only be the LF that ends the line. */
	if (s->pos == PROXYPROTO_V1_MAX && *c != '\n')
		return pp_scan_fail(s, "v1 line has no CRLF within 107 bytes");
	return PP_OK;
}

/* CRLF; a lone CR or LF is refused (spec 2.1). */
static enum pp_step
pp_v1_crlf_after_cr(struct pp_scan *s)
{
	enum pp_step	st;
	uint8_t		c;

	if ((st = pp_v1_next(s, &c)) != PP_OK)
		return st;
	if (c != '\n')
		return pp_scan_fail(s, "v1 line has a CR not followed by LF");
	return PP_OK;
}

/*
 * An address field ending in a single space.  Characters are checked as
 * they arrive; the address itself is checked when the space arrives.
 */
static enum pp_step
pp_v1_addr(struct pp_scan *s, int family, struct sockaddr_storage *ss)
{
	char	text[PP_V1_ADDR6_MAX + 1];
	size_t	n = 0, max = family == AF_INET ? PP_V1_ADDR4_MAX : PP_V1_ADDR6_MAX;

	for (;;) {
		enum pp_step st;
		uint8_t c;
		bool ok;

		if ((st = pp_v1_next(s, &c)) != PP_OK)
			return st;
		if (c == ' ')
			break;
		if (family == AF_INET)
			ok = (c >= '0' && c <= '9') || c == '.';
		else
			ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			    (c >= 'A' && c <= 'F') || c == ':' || c == '.';
		if (!ok)
			return pp_scan_fail(s, family == AF_INET ?
			    "v1 TCP4 address has a character not in an IPv4 address" :
			    "v1 TCP6 address has a character not in an IPv6 address");
		if (n == max)
			return pp_scan_fail(s, "v1 address is too long");
		text[n++] = (char)c;
	}
	if (n == 0)
		return pp_scan_fail(s, "v1 address is empty (two spaces?)");
	text[n] = '\0';

	if (family == AF_INET) {
		struct sockaddr_in sin;
		unsigned parts = 0, v = 0, digits = 0;
		uint8_t a[4];
		size_t i;

		/*
		 * Exactly four decimal numbers 0..255, no leading zeros (spec
		 * 2.1: "to avoid any possible confusion with octal numbers").
		 * inet_aton would take "1.2.3", "0x7f.1" and "010.0.0.1".
		 */
		memset(&sin, 0, sizeof(sin));
		for (i = 0; i <= n; i++) {
			char c = text[i];

			if (c == '.' || c == '\0') {
				if (digits == 0 || parts == 4)
					return pp_scan_fail(s,
					    "v1 TCP4 address is not a dotted quad");
				a[parts++] = (uint8_t)v;
				v = 0;
				digits = 0;
				continue;
			}
			if (digits == 1 && v == 0)
				return pp_scan_fail(s, "v1 TCP4 address has a leading zero");
			v = v * 10 + (unsigned)(c - '0');
			digits++;
			if (v > 255)
				return pp_scan_fail(s, "v1 TCP4 address has a number above 255");
		}
		if (parts != 4)
			return pp_scan_fail(s, "v1 TCP4 address is not a dotted quad");
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, a, sizeof(a));
		memcpy(ss, &sin, sizeof(sin));
	} else {
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof(sin6));
		if (inet_pton(AF_INET6, text, &sin6.sin6_addr) != 1)
			return pp_scan_fail(s, "v1 TCP6 address is not an IPv6 address");
		sin6.sin6_family = AF_INET6;
		memcpy(ss, &sin6, sizeof(sin6));
	}
	return PP_OK;
}

/* A port 0..65535 without leading zeros, ending in term (a space, or CR for the last). */
static enum pp_step
pp_v1_port(struct pp_scan *s, uint8_t term, uint16_t *port)
{
	unsigned	v = 0, digits = 0;

	for (;;) {
		enum pp_step st;
		uint8_t c;

		if ((st = pp_v1_next(s, &c)) != PP_OK)
			return st;
		if (c == term && digits > 0)
			break;
		if (c < '0' || c > '9')
			return pp_scan_fail(s, term == ' ' ?
			    "v1 source port is not a number followed by one space" :
			    "v1 destination port is not a number followed by CRLF");
		if (digits == 1 && v == 0)
			return pp_scan_fail(s, "v1 port has a leading zero");
		v = v * 10 + (unsigned)(c - '0');
		if (++digits > PP_V1_PORT_MAX || v > 65535)
			return pp_scan_fail(s, "v1 port is above 65535");
	}
	*port = (uint16_t)v;
	return PP_OK;
}

static void
pp_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in	sin;

		memcpy(&sin, ss, sizeof(sin));
		sin.sin_port = htons(port);
		memcpy(ss, &sin, sizeof(sin));
	} else {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, ss, sizeof(sin6));
		sin6.sin6_port = htons(port);
		memcpy(ss, &sin6, sizeof(sin6));
	}
}

/* The protocol word: TCP4, TCP6 or UNKNOWN, checked as a prefix byte by byte. */
static enum pp_step
pp_v1_proto(struct pp_scan *s, int *family, uint8_t *term)
{
	static const char *const words[] = { "TCP4", "TCP6", "UNKNOWN" };
	static const int	families[] = { AF_INET, AF_INET6, AF_UNSPEC };
	char			w[8];
	size_t			n = 0, i;

	for (;;) {
		enum pp_step st;
		bool prefix = false;
		uint8_t c;

		if ((st = pp_v1_next(s, &c)) != PP_OK)
			return st;
		if (c == ' ' || c == '\r') {
			for (i = 0; i < 3; i++) {
				if (strlen(words[i]) == n && memcmp(words[i], w, n) == 0) {
					/* Only UNKNOWN may end the line right there. */
					if (c == '\r' && families[i] != AF_UNSPEC)
						break;
					*family = families[i];
					*term = c;
					return PP_OK;
				}
			}
			return pp_scan_fail(s, "v1 protocol is not TCP4, TCP6 or UNKNOWN");
		}
		if (n == sizeof(w) - 1)
			return pp_scan_fail(s, "v1 protocol is not TCP4, TCP6 or UNKNOWN");
		w[n++] = (char)c;
		for (i = 0; i < 3; i++)
			if (strlen(words[i]) >= n && memcmp(words[i], w, n) == 0)
				prefix = true;
		if (!prefix)
			return pp_scan_fail(s, "v1 protocol is not TCP4, TCP6 or UNKNOWN");
	}
}

static enum pp_step
pp_v1(struct pp_scan *s, struct proxyproto *out)
{
	uint16_t	sport, dport;
	enum pp_step	st;
	uint8_t		term, c;
	int		family = AF_UNSPEC;

	while (s->pos < PP_V1_PREFIX_LEN) {
		if ((st = pp_v1_next(s, &c)) != PP_OK)
			return st;
		if (c != (uint8_t)PP_V1_PREFIX[s->pos - 1])
			return pp_scan_fail(s,
			    "not a PROXY header (neither \"PROXY \" nor the v2 signature)");
	}
	if ((st = pp_v1_proto(s, &family, &term)) != PP_OK)
		return st;
	out->version = 1;
	out->command = PROXYPROTO_CMD_PROXY;

	if (family == AF_UNSPEC) {
		/* Spec 2.1: the receiver must ignore anything before the CRLF. */
		while (term != '\r') {
			if ((st = pp_v1_next(s, &c)) != PP_OK)
				return st;
			if (c == '\r')
				break;
			if (c < 0x20 || c > 0x7e)
				return pp_scan_fail(s,
				    "v1 UNKNOWN line has a byte that is not printable ASCII");
		}
		return pp_v1_crlf_after_cr(s);
	}

	if ((st = pp_v1_addr(s, family, &out->src)) != PP_OK ||
	    (st = pp_v1_addr(s, family, &out->dst)) != PP_OK ||
	    (st = pp_v1_port(s, ' ', &sport)) != PP_OK ||
	    (st = pp_v1_port(s, '\r', &dport)) != PP_OK ||
	    (st = pp_v1_crlf_after_cr(s)) != PP_OK)
		return st;
	pp_set_port(&out->src, sport);
	pp_set_port(&out->dst, dport);
	out->has_addresses = true;
	return PP_OK;
}

static bool
pp_v2_family_known(uint8_t fam)
{
	switch (fam) {
	case PP_V2_UNSPEC:
	case PP_V2_TCP4:
	case PP_V2_UDP4:
	case PP_V2_TCP6:
	case PP_V2_UDP6:
	case PP_V2_UNIX_STREAM:
	case PP_V2_UNIX_DGRAM:
		return true;
	}
	return false;
}

/*
 * The first 16 bytes: signature, version, command, family, length.  Each
 * is judged as soon as it is here.  Sets *cmd, *fam, *alen (the size of the
 * family's address block, 0 when not fixed) and *end (where the header
 * ends).
 */
static enum pp_step
pp_v2_head(struct pp_scan *s, uint8_t *cmd, uint8_t *fam, size_t *alen,
    size_t *end)
{
	const uint8_t	*b = s->buf;
	size_t		i, plen;

	for (i = 0; i < sizeof(pp_v2_sig); i++) {
		if (i >= s->len)
			return PP_MORE;
		if (b[i] != pp_v2_sig[i])
			return pp_scan_fail(s,
			    "not a PROXY header (neither \"PROXY \" nor the v2 signature)");
	}
	if (s->len < 13)
		return PP_MORE;
	if (b[12] >> 4 != PP_V2_VERSION)
		return pp_scan_fail(s, "v2 version is not 2");
	*cmd = b[12] & 0x0f;
	if (*cmd != PP_V2_CMD_LOCAL && *cmd != PP_V2_CMD_PROXY)
		return pp_scan_fail(s, "v2 command is neither LOCAL nor PROXY");
	if (s->len < 14)
		return PP_MORE;
	*fam = b[13];
	if (!pp_v2_family_known(*fam))
		return pp_scan_fail(s, "v2 family/transport byte is not one the spec defines");
	*alen = 0;
	if (*cmd == PP_V2_CMD_PROXY) {
		if (*fam == PP_V2_UDP4 || *fam == PP_V2_UDP6 || *fam == PP_V2_UNIX_DGRAM)
			return pp_scan_fail(s,
			    "v2 header announces a datagram transport on a stream connection");
		*alen = *fam == PP_V2_TCP4 ? PP_V2_ADDR4_LEN :
		    *fam == PP_V2_TCP6 ? PP_V2_ADDR6_LEN :
		    *fam == PP_V2_UNIX_STREAM ? PP_V2_ADDRUNIX_LEN : 0;
	}
	if (s->len < PROXYPROTO_V2_HEADER)
		return PP_MORE;
	plen = (size_t)b[14] << 8 | b[15];
	if (plen > PROXYPROTO_V2_MAX_LEN)
		return pp_scan_fail(s, "v2 length is above 2048 bytes (PROXYPROTO_V2_MAX_LEN)");
	if (plen < *alen)
		return pp_scan_fail(s, "v2 length is shorter than the family's address block");
	*end = PROXYPROTO_V2_HEADER + plen;
	return PP_OK;
}

/*
 * TLVs (spec 2.2): skipped, but each must fit inside the header, so that a
 * sender that disagrees with us about where the header ends is refused
 * instead of having its last bytes taken for the client's.  Only where the
 * family fixes the address block's size (alen > 0); UNSPEC and LOCAL blocks
 * are opaque.  A TLV's header is judged as soon as its three bytes are
 * here; its value need not be.
 */
static enum pp_step
pp_v2_tlvs(struct pp_scan *s, size_t alen, size_t end)
{
	const uint8_t	*b = s->buf;
	size_t		off, tlen;

	if (alen == 0)
		return PP_OK;
	off = PROXYPROTO_V2_HEADER + alen;
	while (off < end) {
		if (end - off < PP_V2_TLV_HEADER)
			return pp_scan_fail(s, "v2 TLV header overruns the header length");
		if (s->len < off + PP_V2_TLV_HEADER)
			return PP_MORE;
		tlen = (size_t)b[off + 1] << 8 | b[off + 2];
		if (tlen > end - off - PP_V2_TLV_HEADER)
			return pp_scan_fail(s, "v2 TLV value overruns the header length");
		off += PP_V2_TLV_HEADER + tlen;
	}
	return PP_OK;
}

/* The addresses of a whole PROXY-command header of family fam into out. */
static void
pp_v2_addresses(const uint8_t *b, uint8_t fam, struct proxyproto *out)
{
	if (fam == PP_V2_TCP4) {
		struct sockaddr_in	sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, b + 16, 4);
		memcpy(&sin.sin_port, b + 24, 2);
		memcpy(&out->src, &sin, sizeof(sin));
		memcpy(&sin.sin_addr, b + 20, 4);
		memcpy(&sin.sin_port, b + 26, 2);
		memcpy(&out->dst, &sin, sizeof(sin));
		out->has_addresses = true;
	} else if (fam == PP_V2_TCP6) {
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, b + 16, 16);
		memcpy(&sin6.sin6_port, b + 48, 2);
		memcpy(&out->src, &sin6, sizeof(sin6));
		memcpy(&sin6.sin6_addr, b + 32, 16);
		memcpy(&sin6.sin6_port, b + 50, 2);
		memcpy(&out->dst, &sin6, sizeof(sin6));
		out->has_addresses = true;
	}
	/* AF_UNIX paths are not kept: no part of snid could use one as a client address. */
}

static enum pp_step
pp_v2(struct pp_scan *s, struct proxyproto *out)
{
	size_t		alen = 0, end = 0;
	uint8_t		cmd = 0, fam = 0;
	enum pp_step	st;

	if ((st = pp_v2_head(s, &cmd, &fam, &alen, &end)) != PP_OK)
		return st;
	if ((st = pp_v2_tlvs(s, alen, end)) != PP_OK)
		return st;
	if (s->len < end)
		return PP_MORE;

	out->version = 2;
	out->command = cmd == PP_V2_CMD_PROXY ? PROXYPROTO_CMD_PROXY : PROXYPROTO_CMD_LOCAL;
	s->pos = end;
	if (cmd == PP_V2_CMD_PROXY)
		pp_v2_addresses(s->buf, fam, out);
	return PP_OK;
}

enum proxyproto_status
proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto *out)
{
	struct pp_scan	s = { buf, len, 0, NULL };
	enum pp_step	st;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return PROXYPROTO_NEED_MORE;
	/* The first byte decides the version: 'P' or the signature's CR. */
	if (buf[0] == pp_v2_sig[0])
		st = pp_v2(&s, out);
	else
		st = pp_v1(&s, out);
	switch (st) {
	case PP_MORE:
		memset(out, 0, sizeof(*out));
		return PROXYPROTO_NEED_MORE;
	case PP_FAIL:
		return pp_fail(out, s.error);
	case PP_OK:
		break;
	}
	out->header_len = s.pos;
	return PROXYPROTO_DONE;
}

/*
 * sa, with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) made the AF_INET
 * address it stands for, into *out; other families are copied as they are
 * (as much of them as a sockaddr_storage holds).  A dual-stack socket (an
 * fd: listener without IPV6_V6ONLY) reports IPv4 clients so; the backend is
 * told TCP4, as haproxy does, since ::ffff:a.b.c.d in a TCP6 header is an
 * address many receivers log or match as IPv6.
 */
static void
pp_unmap(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	struct sockaddr_in6	s6;
	struct sockaddr_in	s4;

	memset(out, 0, sizeof(*out));
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET6) {
		memcpy(&s6, sa, sizeof(s6));
		if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) {
			memset(&s4, 0, sizeof(s4));
			s4.sin_family = AF_INET;
			s4.sin_port = s6.sin6_port;
			memcpy(&s4.sin_addr, &s6.sin6_addr.s6_addr[12], 4);
			memcpy(out, &s4, sizeof(s4));
			return;
		}
		memcpy(out, &s6, sizeof(s6));
	} else if (sa->sa_family == AF_INET)
		memcpy(out, sa, sizeof(struct sockaddr_in));
	else
		out->ss_family = sa->sa_family;
}

/*
 * The family pair both builders share, with the addresses to send in *s
 * and *d: AF_INET when both are IPv4 once unmapped (pp_unmap), else the
 * addresses as they are when both are AF_INET or both AF_INET6 (a TCP6
 * pair with one mapped address stays TCP6, whole), else AF_UNSPEC.
 */
static int
pp_pair_family(const struct sockaddr *src, const struct sockaddr *dst,
    struct sockaddr_storage *s, struct sockaddr_storage *d)
{
	pp_unmap(src, s);
	pp_unmap(dst, d);
	if (src == NULL || dst == NULL)
		return AF_UNSPEC;
	if (s->ss_family == AF_INET && d->ss_family == AF_INET)
		return AF_INET;
	if (src->sa_family != AF_INET6 || dst->sa_family != AF_INET6)
		return AF_UNSPEC;
	memcpy(s, src, sizeof(struct sockaddr_in6));
	memcpy(d, dst, sizeof(struct sockaddr_in6));
	return AF_INET6;
}

size_t
proxyproto_build_v1(const struct sockaddr *src, const struct sockaddr *dst,
    char *out, size_t outlen)
{
	char			sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	unsigned		sport = 0, dport = 0;
	struct sockaddr_storage	us, ud;
	int			family = pp_pair_family(src, dst, &us, &ud), n;

	src = (const struct sockaddr *)&us;
	dst = (const struct sockaddr *)&ud;

	if (family == AF_INET) {
		struct sockaddr_in s4, d4;

		memcpy(&s4, src, sizeof(s4));
		memcpy(&d4, dst, sizeof(d4));
		if (inet_ntop(AF_INET, &s4.sin_addr, sa, sizeof(sa)) == NULL ||
		    inet_ntop(AF_INET, &d4.sin_addr, da, sizeof(da)) == NULL)
			return 0;
		sport = ntohs(s4.sin_port);
		dport = ntohs(d4.sin_port);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 s6, d6;

		memcpy(&s6, src, sizeof(s6));
		memcpy(&d6, dst, sizeof(d6));
		if (inet_ntop(AF_INET6, &s6.sin6_addr, sa, sizeof(sa)) == NULL ||
		    inet_ntop(AF_INET6, &d6.sin6_addr, da, sizeof(da)) == NULL)
			return 0;
		sport = ntohs(s6.sin6_port);
		dport = ntohs(d6.sin6_port);
	}
	if (family == AF_UNSPEC)
		n = snprintf(out, outlen, "PROXY UNKNOWN\r\n");
	else
		n = snprintf(out, outlen, "PROXY %s %s %s %u %u\r\n",
		    family == AF_INET ? "TCP4" : "TCP6", sa, da, sport, dport);
	if (n < 0 || (size_t)n >= outlen)
		return 0;
	return (size_t)n;
}

size_t
proxyproto_build_v2(const struct sockaddr *src, const struct sockaddr *dst,
    uint8_t *out, size_t outlen)
{
	struct sockaddr_storage	us, ud;
	int			family = pp_pair_family(src, dst, &us, &ud);
	size_t			alen;

	src = (const struct sockaddr *)&us;
	dst = (const struct sockaddr *)&ud;

	alen = family == AF_INET ? PP_V2_ADDR4_LEN : family == AF_INET6 ? PP_V2_ADDR6_LEN : 0;
	if (outlen < PROXYPROTO_V2_HEADER + alen)
		return 0;
	memcpy(out, pp_v2_sig, sizeof(pp_v2_sig));
	/*
	 * Without addresses to carry, LOCAL rather than PROXY with UNSPEC,
	 * as haproxy itself sends: both tell the receiver to use the
	 * connection's own addresses, but haproxy 2.6 (Debian 12) refuses
	 * PROXY with UNSPEC or UNIX ("invalid PROXY protocol header": it walks
	 * TLVs from the wrong offset for families it does not parse), and a
	 * backend behind snid may well be haproxy.
	 */
	out[12] = PP_V2_VERSION << 4 | (family == AF_UNSPEC ? PP_V2_CMD_LOCAL : PP_V2_CMD_PROXY);
	out[13] = family == AF_INET ? PP_V2_TCP4 : family == AF_INET6 ? PP_V2_TCP6 : PP_V2_UNSPEC;
	out[14] = 0;
	out[15] = (uint8_t)alen;
	if (family == AF_INET) {
		struct sockaddr_in s4, d4;

		memcpy(&s4, src, sizeof(s4));
		memcpy(&d4, dst, sizeof(d4));
		memcpy(out + 16, &s4.sin_addr, 4);
		memcpy(out + 20, &d4.sin_addr, 4);
		memcpy(out + 24, &s4.sin_port, 2);
		memcpy(out + 26, &d4.sin_port, 2);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 s6, d6;

		memcpy(&s6, src, sizeof(s6));
		memcpy(&d6, dst, sizeof(d6));
		memcpy(out + 16, &s6.sin6_addr, 16);
		memcpy(out + 32, &d6.sin6_addr, 16);
		memcpy(out + 48, &s6.sin6_port, 2);
		memcpy(out + 50, &d6.sin6_port, 2);
	}
	return PROXYPROTO_V2_HEADER + alen;
}

const char *
proxyproto_status_str(enum proxyproto_status st)
{
	switch (st) {
	case PROXYPROTO_NEED_MORE:
		return "need_more";
	case PROXYPROTO_DONE:
		return "done";
	case PROXYPROTO_ERROR:
		return "error";
	}
	return "unknown";
}
