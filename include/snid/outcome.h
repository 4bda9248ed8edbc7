/*
 * outcome: how a connection ended.  One table maps each outcome to the word
 * in the access log, to the TLS alert sent before closing (if any) and to
 * the HTTP status answered on an http: listener (if any), so that layers
 * return outcomes, never errno, and the wording lives in one place.
 */
#ifndef SNID_OUTCOME_H
#define SNID_OUTCOME_H

enum outcome {
	OUTCOME_OK,		/* both directions finished normally */
	OUTCOME_NO_SNI,		/* no server_name and no -default-hostname */
	OUTCOME_BAD_NAME,	/* the SNI is not a valid host name */
	OUTCOME_NXDOMAIN,	/* NXDOMAIN or no address of the wanted types */
	OUTCOME_DENIED,		/* no answer address inside the allow-list */
	OUTCOME_DNS_ERROR,	/* SERVFAIL, REFUSED, DNS timeout, ... */
	OUTCOME_CONNECT_FAILED,	/* every candidate refused, unreachable or timed out */
	OUTCOME_TIMEOUT,	/* no complete ClientHello within -hello-timeout */
	OUTCOME_BAD_HELLO,	/* malformed ClientHello: the parser's alert is sent */
	OUTCOME_NOT_TLS,	/* the first byte is not a TLS handshake record */
	OUTCOME_RESET,		/* one side reset the connection (or a socket error) */
	OUTCOME_SHUTDOWN,	/* still open when -shutdown-timeout expired */
	OUTCOME_IDLE,		/* no traffic for -idle-timeout (-half-close-timeout) */
	OUTCOME_IPV6_CLIENT,	/* nat46 mode: the client has no IPv4 address to map */
	OUTCOME_NO_SOCKET,	/* unix mode: neither DIR/NAME nor DIR/_.PARENT exists */
	OUTCOME_BAD_REQUEST,	/* http: listener: malformed or cut request head */
	OUTCOME_BAD_PROXY,	/* proxy: listener: invalid or cut PROXY header */
	OUTCOME_LIMITED,	/* over -max-connections-per-source or -hello-memory */
	OUTCOME_DENIED_CLIENT,	/* -deny-client-cidr, or outside -client-cidr */
	OUTCOME_COUNT
};

/* No alert is sent (outcome_alert's answer). */
#define OUTCOME_NO_ALERT	(-1)

/* The access-log word: "ok", "no-sni", ... */
const char	*outcome_word(enum outcome o);

/*
 * The TLS alert description to send before closing, or OUTCOME_NO_ALERT.
 * For OUTCOME_BAD_HELLO the parser decides: hello_alert is returned
 * (decode_error when it is 0).
 */
int		 outcome_alert(enum outcome o, int hello_alert);

/* No HTTP response is sent (outcome_http_status's answer). */
#define OUTCOME_NO_HTTP		0

/*
 * The HTTP status to answer with before closing a connection of an http:
 * listener, or OUTCOME_NO_HTTP.  For OUTCOME_BAD_REQUEST the request-head
 * parser decides: parser_status is returned (400 when it is not a 4xx or
 * 5xx code).
 */
int		 outcome_http_status(enum outcome o, int parser_status);

/*
 * Fill buf (at least OUTCOME_ALERT_LEN bytes) with the one TLS record that
 * carries a fatal alert: 15 03 03 00 02 02 DESC.
 */
#define OUTCOME_ALERT_LEN	7
void		 outcome_alert_record(int desc, unsigned char buf[OUTCOME_ALERT_LEN]);

#endif
