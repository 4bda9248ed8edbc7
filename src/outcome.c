/*
 * outcome: the one table from a connection's outcome to its log word, its
 * TLS alert and its HTTP status.
 *
 * The HTTP column mirrors the TLS one for http: listeners: where a TLS
 * client gets unrecognized_name (a name we do not route) the HTTP client
 * gets 421 Misdirected Request (RFC 9110 15.5.20: this server cannot answer
 * for that name); where it gets internal_error (DNS failure, backend
 * unreachable) it gets 502 Bad Gateway; where no alert is sent (timeout,
 * reset, shutdown) no response is sent either.  A Host that is no routable
 * name, or a missing one, is the client's mistake: 400.
 */
#include "snid/outcome.h"

#include "snid/clienthello.h"

/* Marks the alert that the ClientHello parser chose (decode_error or illegal_parameter). */
#define ALERT_FROM_PARSER	(-2)
/* Marks the status that the request-head parser chose (400, 414, 431, 505). */
#define HTTP_FROM_PARSER	(-2)

static const struct {
	const char	*word;
	int		 alert;
	int		 http;
} outcome_table[OUTCOME_COUNT] = {
	[OUTCOME_OK]		 = { "ok",		OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	[OUTCOME_NO_SNI]	 = { "no-sni",		TLS_ALERT_UNRECOGNIZED_NAME,	400 },
	[OUTCOME_BAD_NAME]	 = { "bad-name",	TLS_ALERT_UNRECOGNIZED_NAME,	400 },
	[OUTCOME_NXDOMAIN]	 = { "nxdomain",	TLS_ALERT_UNRECOGNIZED_NAME,	421 },
	[OUTCOME_DENIED]	 = { "denied",		TLS_ALERT_UNRECOGNIZED_NAME,	421 },
	[OUTCOME_DNS_ERROR]	 = { "dns-error",	TLS_ALERT_INTERNAL_ERROR,	502 },
	[OUTCOME_CONNECT_FAILED] = { "connect-failed",	TLS_ALERT_INTERNAL_ERROR,	502 },
	/* A client that never finished its hello gets no alert: it is not speaking TLS to us. */
	[OUTCOME_TIMEOUT]	 = { "timeout",		OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	[OUTCOME_BAD_HELLO]	 = { "bad-hello",	ALERT_FROM_PARSER,		OUTCOME_NO_HTTP },
	[OUTCOME_NOT_TLS]	 = { "not-tls",		OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	[OUTCOME_RESET]		 = { "reset",		OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	[OUTCOME_SHUTDOWN]	 = { "shutdown",	OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	[OUTCOME_IDLE]		 = { "idle",		OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	/* nat46 serves this name, just not to this client: as for a name it does not serve. */
	[OUTCOME_IPV6_CLIENT]	 = { "ipv6-client",	TLS_ALERT_UNRECOGNIZED_NAME,	421 },
	/* The unix-mode counterpart of nxdomain. */
	[OUTCOME_NO_SOCKET]	 = { "no-socket",	TLS_ALERT_UNRECOGNIZED_NAME,	421 },
	/* Only on http: listeners; a TLS client never gets here. */
	[OUTCOME_BAD_REQUEST]	 = { "bad-request",	OUTCOME_NO_ALERT,		HTTP_FROM_PARSER },
	/* The peer is a load balancer, not a client: neither alert nor HTTP status, just close. */
	[OUTCOME_BAD_PROXY]	 = { "bad-proxy",	OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	/*
	 * Admission: closed before anything was read (or, behind proxy:,
	 * right after the PROXY header), so there is no TLS or HTTP peer to
	 * answer yet, and a refused flood should cost us no writes.
	 */
	[OUTCOME_LIMITED]	 = { "limited",		OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
	[OUTCOME_DENIED_CLIENT]	 = { "denied-client",	OUTCOME_NO_ALERT,		OUTCOME_NO_HTTP },
};

const char *
outcome_word(enum outcome o)
{
	if ((unsigned)o >= OUTCOME_COUNT)
		return "unknown";
	return outcome_table[o].word;
}

int
outcome_alert(enum outcome o, int hello_alert)
{
	if ((unsigned)o >= OUTCOME_COUNT)
		return OUTCOME_NO_ALERT;
	if (outcome_table[o].alert == ALERT_FROM_PARSER)
		return hello_alert > 0 && hello_alert < 256 ?
		    hello_alert : TLS_ALERT_DECODE_ERROR;
	return outcome_table[o].alert;
}

int
outcome_http_status(enum outcome o, int parser_status)
{
	if ((unsigned)o >= OUTCOME_COUNT)
		return OUTCOME_NO_HTTP;
	if (outcome_table[o].http == HTTP_FROM_PARSER)
		return parser_status >= 400 && parser_status <= 599 ?
		    parser_status : 400;
	return outcome_table[o].http;
}

void
outcome_alert_record(int desc, unsigned char buf[OUTCOME_ALERT_LEN])
{
	buf[0] = 0x15;		/* content type alert */
	buf[1] = 0x03;		/* legacy_record_version TLS 1.2 */
	buf[2] = 0x03;
	buf[3] = 0x00;		/* length 2 */
	buf[4] = 0x02;
	buf[5] = 0x02;		/* level fatal */
	buf[6] = (unsigned char)desc;
}
