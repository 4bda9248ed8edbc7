/*
 * conn_hello: the reading phases of a connection, each a state of its own
 * (see conn.h): a PROXY header on a proxy: listener (PROXY_HDR), then the
 * request head on an http: listener (HTTP_HEAD) or the ClientHello
 * (HELLO); and the routing of the name they yield, by mode.  The bytes go
 * to one buffer that conn_buf_read fills and that is forwarded, as it is,
 * once a backend is connected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "snid/cidr.h"
#include "snid/clienthello.h"
#include "snid/dial.h"
#include "snid/hostname.h"
#include "snid/httphost.h"
#include "snid/log.h"
#include "snid/proxyproto.h"
#include "snid/resolver.h"
#include "snid/sock.h"
#include "snid/util.h"
#include "snid/worker.h"

#include "conn_int.h"

/* First size of the hello buffer; most ClientHellos fit, big ones grow it. */
#define CONN_HELLO_INITIAL	2048

static void	conn_route(struct conn *, const char *);

/* Make room in the buffer: start small, double up to the largest hello. */
static void
conn_buf_grow(struct conn *c)
{
	uint32_t	cap = c->cap == 0 ? CONN_HELLO_INITIAL : c->cap * 2;

	if (cap > CLIENTHELLO_MAX_WIRE)
		cap = CLIENTHELLO_MAX_WIRE;
	c->buf = xrealloc(c->buf, cap);
	c->cap = cap;
}

ssize_t
conn_buf_read(struct conn *c)
{
	ssize_t	n;

	if (c->len == c->cap) {
		if (c->cap >= CLIENTHELLO_MAX_WIRE) {
			errno = ENOBUFS;
			return -1;
		}
		conn_buf_grow(c);
	}
	do
		n = recv(c->cio.fd, c->buf + c->len, c->cap - c->len, 0);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		c->len += (uint32_t)n;
	return n;
}

/*
 * How many bytes must be buffered before parsing again can tell more than
 * NEED_MORE: the end of the first incomplete TLS record, or the end of the
 * next record header.  Without this a client trickling a 16 KiB hello one
 * byte per segment would make us re-parse the whole buffer per byte.
 * Anything not starting like a handshake record is parsed at once.
 */
static uint32_t
conn_hello_parse_at(const uint8_t *b, uint32_t len)
{
	uint32_t	pos = 0, end;

	if (len == 0 || b[0] != 0x16)
		return len + 1;
	while (pos + 5 <= len) {
		end = pos + 5 + ((uint32_t)b[pos + 3] << 8 | b[pos + 4]);
		if (end > len)
			return end;
		pos = end;
	}
	return pos + 5;
}

/*
 * SRV by ALPN (XEP-0368, as the Go snid does): a hello that offers exactly
 * one protocol, xmpp-client or xmpp-server, is routed by the
 * _xmpps-client._tcp / _xmpps-server._tcp SRV records of its name.  Only a
 * sole protocol counts: a client offering "h2,xmpp-client" may well speak
 * h2, so it takes the plain AAAA path.  (The Go snid looks at the first
 * protocol only.)
 */
static const char *
conn_srv_service(const struct clienthello *h)
{
	if (h->alpn_count != 1)
		return NULL;
	if (h->alpn_len[0] == 11 && memcmp(h->alpn[0], "xmpp-client", 11) == 0)
		return "xmpps-client";
	if (h->alpn_len[0] == 11 && memcmp(h->alpn[0], "xmpp-server", 11) == 0)
		return "xmpps-server";
	return NULL;
}

/* The hello is complete: pick the name and route it by mode. */
static void
conn_hello_done(struct conn *c)
{
	struct worker			*w = c->w;
	const struct config		*cfg = w->cfg;
	const struct clienthello	*h = &w->hello;
	char				 name[HOSTNAME_MAX + 1];
	char				 s[LOG_SNI_MAX + 1];
	const char			*why;

	if (h->has_sni) {
		log_sanitize(h->sni, h->sni_len, s, sizeof(s));
		c->sni = xstrdup(s);
		why = hostname_canonicalize(h->sni, h->sni_len, name);
		if (why != NULL) {
			log_debug("SNI %s refused: %s", s, why);
			conn_close(c, OUTCOME_BAD_NAME);
			return;
		}
	} else if (cfg->default_hostname[0] != '\0')
		memcpy(name, cfg->default_hostname, sizeof(name));
	else {
		conn_close(c, OUTCOME_NO_SNI);
		return;
	}
	c->srv = conn_srv_service(h);
	conn_route(c, name);
}

/*
 * Route name (canonical) by mode, the same way for an SNI and for an HTTP
 * Host: unix has no DNS; nat46 needs the client's IPv4 address.
 */
static void
conn_route(struct conn *c, const char *name)
{
	struct worker		*w = c->w;
	const struct config	*cfg = w->cfg;
	struct resolver_result	 now;

	if (cfg->mode == MODE_UNIX) {
		conn_dial_unix(c, name);
		return;
	}
	if (cfg->mode == MODE_NAT46) {
		struct sockaddr_in6	src;

		if (!dial_nat46_source(cfg, &c->client.sa, &src)) {
			log_info("nat46: refusing a client without an IPv4 "
			    "address: let IPv6 clients connect to the backend "
			    "directly (its AAAA record), not through snid");
			conn_close(c, OUTCOME_IPV6_CLIENT);
			return;
		}
	}

	conn_set_state(c, CONN_RESOLVE);
	conn_timer_arm(c, cfg->dns_timeout);
	if (c->srv != NULL) {
		/* One bound, -dns-timeout, for the SRV query and its targets' addresses. */
		char	qname[HOSTNAME_MAX + 32];

		snprintf(qname, sizeof(qname), "_%s._tcp.%s", c->srv, name);
		log_debug("SRV lookup %s", qname);
		c->lookup = resolver_lookup_srv(w->resolver, qname,
		    cidr_list_has_ipv4(cfg->backend_cidrs,
		    cfg->n_backend_cidrs), conn_resolved, c, &now);
	} else
		c->lookup = resolver_lookup(w->resolver, name,
		    cidr_list_has_ipv4(cfg->backend_cidrs,
		    cfg->n_backend_cidrs), conn_resolved, c, &now);
	if (c->lookup == NULL)		/* cached, or failed at once */
		conn_resolved(c, &now);
}

/*
 * HTTP_HEAD (an http: listener): judge the request head received so far
 * (fresh: how many of its bytes just arrived), and route its Host like an
 * SNI.  Returns false while more is needed; true when c has been routed or
 * closed (the caller returns at once).  Only the first request of a
 * keep-alive connection is read: later ones go, unread, to the same
 * backend.
 */
static bool
conn_http_head(struct conn *c, uint32_t fresh)
{
	struct worker		*w = c->w;
	const struct config	*cfg = w->cfg;
	struct httphost		 h;
	char			 s[LOG_SNI_MAX + 1];
	const char		*name;

	enum httphost_status	 st;

	/*
	 * The parser resumes at the start of the line it stopped in
	 * (c->http_resume), so the head costs O(n) however it is cut up; and
	 * it runs on the first bytes at once (a TLS ClientHello is refused on
	 * its first byte), then only when a LF arrived or at the size bound,
	 * so that a line trickled byte by byte is not rescanned per byte
	 * either.  A head completes only at a LF, and a refusal is delayed at
	 * most to the end of its line (or the hello timeout, for a client
	 * that never ends it).
	 */
	if (fresh > c->len)
		fresh = c->len;
	if (fresh < c->len && c->len < HTTPHOST_MAX_HEAD &&
	    memchr(c->buf + c->len - fresh, '\n', fresh) == NULL)
		return false;
	if (c->http_resume == NULL)
		c->http_resume = xcalloc(1, sizeof(*c->http_resume));
	st = httphost_parse_resume(c->buf, c->len, c->http_resume, &h);
	if (st == HTTPHOST_NEED_MORE)
		return false;
	free(c->http_resume);
	c->http_resume = NULL;
	switch (st) {
	case HTTPHOST_DONE:
		break;
	case HTTPHOST_NEED_MORE:
	case HTTPHOST_ERROR:
	default:
		c->http_status = (uint16_t)h.status;
		log_debug("bad HTTP request head: %s",
		    h.error != NULL ? h.error : "?");
		conn_close(c, OUTCOME_BAD_REQUEST);
		return true;
	}
	if (h.has_host) {
		/* The log's sni= is the Host as sent, port removed. */
		log_sanitize((const char *)c->buf + h.host_off, h.host_len, s,
		    sizeof(s));
		c->sni = xstrdup(s);
		if (h.name_error != NULL) {
			log_debug("Host %s refused: %s", s, h.name_error);
			conn_close(c, OUTCOME_BAD_NAME);
			return true;
		}
		name = h.name;
	} else if (cfg->default_hostname[0] != '\0')
		name = cfg->default_hostname;	/* HTTP/1.0 without Host */
	else {
		conn_close(c, OUTCOME_NO_SNI);
		return true;
	}
	conn_route(c, name);	/* c->srv stays NULL: no ALPN, no SRV */
	return true;
}

/*
 * PROXY_HDR (a proxy: listener), before anything else: the PROXY header
 * (v1 or v2) that the load balancer in front sends first.  The hello
 * timeout, armed at accept, covers it.  Once complete, the header is cut from the
 * buffer (the backend never sees it) and what follows is the client's.
 * The addresses it carries replace the real ones wherever the client
 * address is used (access log, nat46 source, PROXY out), as does the port
 * the client connected to for the default backend port; the LOCAL command
 * (a health check) and headers without TCP addresses (v1 UNKNOWN, v2
 * UNSPEC or UNIX) keep the real peer, as the spec says.  Returns false
 * when c has been closed (an invalid header: no alert, the peer is not a
 * TLS client); else the header may still be incomplete (c->state is still
 * CONN_PROXY_HDR) or c is in the next phase, HTTP_HEAD or HELLO.
 */
static bool
conn_proxy_in(struct conn *c)
{
	struct proxyproto	pp;
	uint16_t		dport;

	if (c->len < c->parse_at)
		return true;
	switch (proxyproto_parse(c->buf, c->len, &pp)) {
	case PROXYPROTO_NEED_MORE:
		/*
		 * A v2 header's fixed part gives its whole length: parse again
		 * only once it is all there, so one trickled byte at a time
		 * costs no re-parse of up to 2 KiB per byte.  (A v1 line is
		 * at most 107 bytes: re-parsing it is cheap.)
		 */
		if (c->len >= PROXYPROTO_V2_HEADER && c->buf[0] == 0x0d)
			c->parse_at = PROXYPROTO_V2_HEADER +
			    ((uint32_t)c->buf[14] << 8 | c->buf[15]);
		return true;
	case PROXYPROTO_DONE:
		break;
	case PROXYPROTO_ERROR:
	default:
		log_debug("bad PROXY header: %s",
		    pp.error != NULL ? pp.error : "?");
		conn_close(c, OUTCOME_BAD_PROXY);
		return false;
	}
	if (pp.command == PROXYPROTO_CMD_PROXY && pp.has_addresses) {
		memset(&c->client, 0, sizeof(c->client));
		memset(&c->local, 0, sizeof(c->local));
		memcpy(&c->client, &pp.src,
		    sock_addr_len((const struct sockaddr *)&pp.src));
		memcpy(&c->local, &pp.dst,
		    sock_addr_len((const struct sockaddr *)&pp.dst));
		dport = sock_addr_port(&c->local.sa);
		/* "The port the client connected to" is the one it sent to the load balancer. */
		if ((c->w->cfg->backend_port == 0 || (c->flags & CONN_F_HTTP)) &&
		    dport != 0)
			c->port = dport;
	}
	c->len -= (uint32_t)pp.header_len;
	memmove(c->buf, c->buf + pp.header_len, c->len);
	c->parse_at = 0;
	conn_set_state(c, (c->flags & CONN_F_HTTP) ? CONN_HTTP_HEAD : CONN_HELLO);
	return true;
}

/*
 * HELLO: parse the ClientHello whenever a record may have completed.
 * Returns true while more is needed; false when c has been routed or
 * closed.
 */
static bool
conn_tls_hello(struct conn *c)
{
	struct worker	*w = c->w;

	if (c->len < c->parse_at)
		return true;
	switch (clienthello_parse(c->buf, c->len, &w->hello)) {
	case CLIENTHELLO_NEED_MORE:
		c->parse_at = conn_hello_parse_at(c->buf, c->len);
		return true;
	case CLIENTHELLO_DONE:
		conn_hello_done(c);
		return false;
	case CLIENTHELLO_NOT_TLS:
		conn_close(c, OUTCOME_NOT_TLS);
		return false;
	case CLIENTHELLO_ERROR:
	default:
		c->hello_alert = w->hello.alert;
		log_debug("bad ClientHello: %s",
		    w->hello.error != NULL ? w->hello.error : "?");
		conn_close(c, OUTCOME_BAD_HELLO);
		return false;
	}
}

/*
 * Give the bytes read so far (fresh: how many just came) to the parser of
 * the current phase; a complete PROXY header hands what follows it to the
 * next one at once.  Returns true while the phase needs more; false when
 * c has been routed or closed.
 */
static bool
conn_hello_parse(struct conn *c, uint32_t fresh)
{
	if (c->state == CONN_PROXY_HDR) {
		if (!conn_proxy_in(c))
			return false;
		if (c->state == CONN_PROXY_HDR || c->len == 0)
			return true;
		fresh = c->len;		/* all of it is new to the next parser */
	}
	if (c->state == CONN_HTTP_HEAD)
		return !conn_http_head(c, fresh);
	return conn_tls_hello(c);
}

/* The client's EOF in a reading phase: nothing at all is not TLS; a cut hello is a bad one. */
static enum outcome
conn_hello_eof(const struct conn *c)
{
	if (c->state == CONN_PROXY_HDR && c->len > 0)
		return OUTCOME_BAD_PROXY;
	if (c->flags & CONN_F_HTTP)
		return OUTCOME_BAD_REQUEST;
	return c->len == 0 ? OUTCOME_NOT_TLS : OUTCOME_BAD_HELLO;
}

void
conn_hello_read(struct conn *c)
{
	ssize_t	n;

	for (;;) {
		n = conn_buf_read(c);
		if (n > 0) {
			if (!conn_hello_parse(c, (uint32_t)n))
				return;
			if (c->len < c->cap)
				return;
			continue;	/* the buffer was filled: there may be more */
		}
		if (n == 0)
			conn_close(c, conn_hello_eof(c));
		else if (errno == ENOBUFS)
			/* Cannot happen: the parsers answer by then. */
			conn_close(c, OUTCOME_BAD_HELLO);
		else if (errno != EAGAIN)
			conn_close(c, OUTCOME_RESET);
		return;
	}
}
