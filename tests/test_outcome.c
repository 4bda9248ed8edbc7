/*
 * Unit tests for outcome: every outcome has its log word and the alert the
 * issue prescribes, bad-hello carries the parser's alert, and the alert
 * record is byte for byte the one TLS record a client expects.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "snid/clienthello.h"
#include "snid/outcome.h"

static void
test_words(void **state)
{
	static const char *const want[OUTCOME_COUNT] = {
		[OUTCOME_OK] = "ok",
		[OUTCOME_NO_SNI] = "no-sni",
		[OUTCOME_BAD_NAME] = "bad-name",
		[OUTCOME_NXDOMAIN] = "nxdomain",
		[OUTCOME_DENIED] = "denied",
		[OUTCOME_DNS_ERROR] = "dns-error",
		[OUTCOME_CONNECT_FAILED] = "connect-failed",
		[OUTCOME_TIMEOUT] = "timeout",
		[OUTCOME_BAD_HELLO] = "bad-hello",
		[OUTCOME_NOT_TLS] = "not-tls",
		[OUTCOME_RESET] = "reset",
		[OUTCOME_SHUTDOWN] = "shutdown",
		[OUTCOME_IDLE] = "idle",
		[OUTCOME_IPV6_CLIENT] = "ipv6-client",
		[OUTCOME_NO_SOCKET] = "no-socket",
		[OUTCOME_BAD_REQUEST] = "bad-request",
		[OUTCOME_BAD_PROXY] = "bad-proxy",
		[OUTCOME_LIMITED] = "limited",
		[OUTCOME_DENIED_CLIENT] = "denied-client",
	};

	(void)state;
	for (int o = 0; o < OUTCOME_COUNT; o++) {
		assert_non_null(want[o]);
		assert_string_equal(outcome_word((enum outcome)o), want[o]);
	}
	assert_string_equal(outcome_word(OUTCOME_COUNT), "unknown");
	assert_string_equal(outcome_word((enum outcome)-1), "unknown");
}

/* Words are single tokens: the access line is split on spaces and '='. */
static void
test_words_are_tokens(void **state)
{
	(void)state;
	for (int o = 0; o < OUTCOME_COUNT; o++) {
		const char	*w = outcome_word((enum outcome)o);

		assert_true(strlen(w) > 0);
		assert_null(strpbrk(w, " =\t\n"));
		/* and unique */
		for (int p = 0; p < o; p++)
			assert_string_not_equal(w, outcome_word((enum outcome)p));
	}
}

static void
test_alerts(void **state)
{
	(void)state;
	assert_int_equal(outcome_alert(OUTCOME_NO_SNI, 0), TLS_ALERT_UNRECOGNIZED_NAME);
	assert_int_equal(outcome_alert(OUTCOME_BAD_NAME, 0), 112);
	assert_int_equal(outcome_alert(OUTCOME_NXDOMAIN, 0), 112);
	assert_int_equal(outcome_alert(OUTCOME_DENIED, 0), 112);
	assert_int_equal(outcome_alert(OUTCOME_DNS_ERROR, 0), TLS_ALERT_INTERNAL_ERROR);
	assert_int_equal(outcome_alert(OUTCOME_CONNECT_FAILED, 0), 80);
	assert_int_equal(outcome_alert(OUTCOME_OK, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_TIMEOUT, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_NOT_TLS, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_RESET, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_SHUTDOWN, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_IDLE, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_LIMITED, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_DENIED_CLIENT, 0),
	    OUTCOME_NO_ALERT);
	assert_int_equal(outcome_alert(OUTCOME_IPV6_CLIENT, 0), 112);
	assert_int_equal(outcome_alert(OUTCOME_NO_SOCKET, 0), 112);
	assert_int_equal(outcome_alert(OUTCOME_BAD_PROXY, 0), OUTCOME_NO_ALERT);
	assert_int_equal(outcome_http_status(OUTCOME_BAD_PROXY, 0), OUTCOME_NO_HTTP);
	assert_int_equal(outcome_alert(OUTCOME_COUNT, 50), OUTCOME_NO_ALERT);
}

/* bad-hello sends what the parser chose; decode_error when it chose nothing. */
static void
test_bad_hello_alert_from_parser(void **state)
{
	(void)state;
	assert_int_equal(outcome_alert(OUTCOME_BAD_HELLO, TLS_ALERT_DECODE_ERROR), 50);
	assert_int_equal(outcome_alert(OUTCOME_BAD_HELLO, TLS_ALERT_ILLEGAL_PARAMETER), 47);
	assert_int_equal(outcome_alert(OUTCOME_BAD_HELLO, 0), 50);
	assert_int_equal(outcome_alert(OUTCOME_BAD_HELLO, 300), 50);
	/* Only bad-hello listens to the parser. */
	assert_int_equal(outcome_alert(OUTCOME_DENIED, 47), 112);
	assert_int_equal(outcome_alert(OUTCOME_OK, 47), OUTCOME_NO_ALERT);
}

/*
 * http: listeners: 421 where TLS says unrecognized_name, 502 where it says
 * internal_error, nothing where it says nothing, 400 for a bad name.
 */
static void
test_http_status_mirrors_alerts(void **state)
{
	(void)state;
	for (int o = 0; o < OUTCOME_COUNT; o++) {
		int	a = outcome_alert((enum outcome)o, 0);
		int	h = outcome_http_status((enum outcome)o, 0);

		if (o == OUTCOME_NO_SNI || o == OUTCOME_BAD_NAME)
			assert_int_equal(h, 400);
		else if (a == TLS_ALERT_UNRECOGNIZED_NAME)
			assert_int_equal(h, 421);
		else if (a == TLS_ALERT_INTERNAL_ERROR)
			assert_int_equal(h, 502);
		else if (o == OUTCOME_BAD_REQUEST)
			assert_int_equal(h, 400);
		else
			assert_int_equal(h, OUTCOME_NO_HTTP);
	}
	assert_int_equal(outcome_http_status(OUTCOME_NXDOMAIN, 0), 421);
	assert_int_equal(outcome_http_status(OUTCOME_DENIED, 0), 421);
	assert_int_equal(outcome_http_status(OUTCOME_NO_SOCKET, 0), 421);
	assert_int_equal(outcome_http_status(OUTCOME_DNS_ERROR, 0), 502);
	assert_int_equal(outcome_http_status(OUTCOME_CONNECT_FAILED, 0), 502);
	assert_int_equal(outcome_http_status(OUTCOME_TIMEOUT, 0), OUTCOME_NO_HTTP);
	assert_int_equal(outcome_http_status(OUTCOME_COUNT, 400), OUTCOME_NO_HTTP);
	/* A bad TLS hello sent to an http: listener ends as bad-request, never bad-hello. */
	assert_int_equal(outcome_alert(OUTCOME_BAD_REQUEST, 0), OUTCOME_NO_ALERT);
}

/* bad-request answers what the parser chose; 400 when it chose nothing sensible. */
static void
test_bad_request_status_from_parser(void **state)
{
	(void)state;
	assert_int_equal(outcome_http_status(OUTCOME_BAD_REQUEST, 431), 431);
	assert_int_equal(outcome_http_status(OUTCOME_BAD_REQUEST, 414), 414);
	assert_int_equal(outcome_http_status(OUTCOME_BAD_REQUEST, 505), 505);
	assert_int_equal(outcome_http_status(OUTCOME_BAD_REQUEST, 0), 400);
	assert_int_equal(outcome_http_status(OUTCOME_BAD_REQUEST, 200), 400);
	assert_int_equal(outcome_http_status(OUTCOME_BAD_REQUEST, 600), 400);
	/* Only bad-request listens to the parser. */
	assert_int_equal(outcome_http_status(OUTCOME_DENIED, 431), 421);
}

static void
test_alert_record(void **state)
{
	static const unsigned char	want112[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70 };
	static const unsigned char	want80[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50 };
	unsigned char			buf[OUTCOME_ALERT_LEN + 1];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	outcome_alert_record(112, buf);
	assert_memory_equal(buf, want112, sizeof(want112));
	assert_int_equal(buf[OUTCOME_ALERT_LEN], 0xee);	/* nothing written past it */
	outcome_alert_record(80, buf);
	assert_memory_equal(buf, want80, sizeof(want80));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_words_are_tokens),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_bad_hello_alert_from_parser),
		cmocka_unit_test(test_http_status_mirrors_alerts),
		cmocka_unit_test(test_bad_request_status_from_parser),
		cmocka_unit_test(test_alert_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
