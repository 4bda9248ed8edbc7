/*
 * outcome: the one table from a connection's outcome to its log word and its
 * TLS alert.
 */
#include "snid/outcome.h"

#include "snid/clienthello.h"

/* Marks the alert that the ClientHello parser chose (decode_error or illegal_parameter). */
#define ALERT_FROM_PARSER	(-2)

static const struct {
	const char	*word;
	int		 alert;
} outcome_table[OUTCOME_COUNT] = {
	[OUTCOME_OK]		 = { "ok",		OUTCOME_NO_ALERT },
	[OUTCOME_NO_SNI]	 = { "no-sni",		TLS_ALERT_UNRECOGNIZED_NAME },
	[OUTCOME_BAD_NAME]	 = { "bad-name",	TLS_ALERT_UNRECOGNIZED_NAME },
	[OUTCOME_NXDOMAIN]	 = { "nxdomain",	TLS_ALERT_UNRECOGNIZED_NAME },
	[OUTCOME_DENIED]	 = { "denied",		TLS_ALERT_UNRECOGNIZED_NAME },
	[OUTCOME_DNS_ERROR]	 = { "dns-error",	TLS_ALERT_INTERNAL_ERROR },
	[OUTCOME_CONNECT_FAILED] = { "connect-failed",	TLS_ALERT_INTERNAL_ERROR },
	/* A client that never finished its hello gets no alert: it is not speaking TLS to us. */
	[OUTCOME_TIMEOUT]	 = { "timeout",		OUTCOME_NO_ALERT },
	[OUTCOME_BAD_HELLO]	 = { "bad-hello",	ALERT_FROM_PARSER },
	[OUTCOME_NOT_TLS]	 = { "not-tls",		OUTCOME_NO_ALERT },
	[OUTCOME_RESET]		 = { "reset",		OUTCOME_NO_ALERT },
	[OUTCOME_SHUTDOWN]	 = { "shutdown",	OUTCOME_NO_ALERT },
	/* nat46 serves this name, just not to this client: as for a name it does not serve. */
	[OUTCOME_IPV6_CLIENT]	 = { "ipv6-client",	TLS_ALERT_UNRECOGNIZED_NAME },
	/* The unix-mode counterpart of nxdomain. */
	[OUTCOME_NO_SOCKET]	 = { "no-socket",	TLS_ALERT_UNRECOGNIZED_NAME },
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
