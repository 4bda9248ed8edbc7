/*
 * Tests for the HTTP request-head parser: requests real clients sent
 * (tests/data/httphost, see its README) parsed whole, truncated at every
 * offset and fed byte by byte; heads built here with one thing wrong, each
 * checked to fail on the byte that shows it.  Run from the repository root.
 * Every parse gets a copy of exactly the bytes it may read, so valgrind and
 * ASan see any read past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snid/httphost.h"
#include "testutil.h"

#define DATA_DIR	"tests/data/httphost/"

/* ---- helpers ---- */

/* Parse a copy of exactly n bytes, so that a read past the end is caught. */
static enum httphost_status
parse(const void *b, size_t n, struct httphost *r)
{
	uint8_t			*p = xmalloc(n);
	enum httphost_status	st;

	if (n > 0)
		memcpy(p, b, n);
	st = httphost_parse(p, n, r);
	free(p);
	return st;
}

static enum httphost_status
parse_str(const char *s, struct httphost *r)
{
	return parse(s, strlen(s), r);
}

static uint8_t *
load_data(const char *name, size_t *len)
{
	return load_data_in(DATA_DIR, name, len);
}

static void
assert_same_result(const struct httphost *a, const struct httphost *b)
{
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->version_minor, b->version_minor);
	assert_int_equal(a->has_host, b->has_host);
	assert_int_equal(a->from_target, b->from_target);
	assert_int_equal(a->ip_literal, b->ip_literal);
	assert_int_equal(a->host_off, b->host_off);
	assert_int_equal(a->host_len, b->host_len);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->head_len, b->head_len);
	if (a->name_error == NULL)
		assert_null(b->name_error);
	else
		assert_string_equal(a->name_error, b->name_error);
	if (a->error == NULL)
		assert_null(b->error);
	else
		assert_string_equal(a->error, b->error);
}

static void
expect_error(const void *b, size_t n, int status, const char *why)
{
	struct httphost		r;
	enum httphost_status	st = parse(b, n, &r);

	if (st != HTTPHOST_ERROR || r.error == NULL || strcmp(r.error, why) != 0)
		fail_msg("%zu bytes: %s \"%s\", want error \"%s\"", n, httphost_status_str(st),
		    r.error ? r.error : "", why);
	assert_int_equal(r.status, status);
	assert_false(r.has_host);
	assert_int_equal(r.head_len, 0);
	assert_string_equal(r.name, "");
}

/* NEED_MORE on every prefix shorter than at, that error from at bytes on. */
static void
expect_error_at(const void *b, size_t n, size_t at, int status, const char *why)
{
	struct httphost	r;
	size_t		i;

	for (i = 0; i < at; i++) {
		enum httphost_status st = parse(b, i, &r);

		if (st != HTTPHOST_NEED_MORE)
			fail_msg("prefix %zu of %zu: %s \"%s\", want need_more then \"%s\" at %zu",
			    i, n, httphost_status_str(st), r.error ? r.error : "", why, at);
	}
	for (i = at; i <= n; i++)
		expect_error(b, i, status, why);
}

/* The host as sent, from a DONE result. */
static void
assert_host(const uint8_t *b, const struct httphost *r, const char *raw)
{
	assert_true(r->has_host);
	assert_int_equal(r->host_len, strlen(raw));
	assert_memory_equal(b + r->host_off, raw, r->host_len);
}

/* Where the head ends: the first CRLFCRLF after the empty lines before the request line. */
static size_t
head_end(const uint8_t *b, size_t n)
{
	const uint8_t	*e;
	size_t		skip = 0;

	while (skip + 2 <= n && b[skip] == '\r' && b[skip + 1] == '\n')
		skip += 2;
	e = memmem(b + skip, n - skip, "\r\n\r\n", 4);
	assert_non_null(e);
	return (size_t)(e - b) + 4;
}

/* Every prefix of the head is NEED_MORE; the head and anything longer is the same DONE. */
static void
check_prefixes(const uint8_t *b, size_t len)
{
	struct httphost	whole, r;
	size_t		i;

	assert_int_equal(parse(b, len, &whole), HTTPHOST_DONE);
	for (i = 0; i < whole.head_len; i++) {
		enum httphost_status st = parse(b, i, &r);

		if (st != HTTPHOST_NEED_MORE)
			fail_msg("prefix %zu of %zu: %s (%s)", i, whole.head_len,
			    httphost_status_str(st), r.error ? r.error : "");
		assert_null(r.error);
		assert_false(r.has_host);
	}
	for (i = whole.head_len; i <= len; i++) {
		assert_int_equal(parse(b, i, &r), HTTPHOST_DONE);
		assert_same_result(&whole, &r);
	}
}

/* ---- real requests ---- */

struct capture {
	const char	*file;
	int		 minor;
	const char	*raw;		/* NULL: no host */
	const char	*name;		/* canonical; NULL: name_error */
	const char	*name_error;
	bool		 from_target;
	bool		 ip_literal;
	size_t		 body;		/* bytes after the head */
};

static const struct capture captures[] = {
	{ "curl_get.bin", 1, "curl.example.com", "curl.example.com", NULL, false, false, 0 },
	{ "curl_http10.bin", 0, "old.example.com", "old.example.com", NULL, false, false, 0 },
	{ "curl_post.bin", 1, "api.example.net", "api.example.net", NULL, false, false, 7 },
	{ "curl_proxy_absolute.bin", 1, "absolute.example.org", "absolute.example.org", NULL, true, false, 0 },
	{ "curl_ipv6_literal.bin", 1, "[::1]", NULL, "IPv6 literal", false, true, 0 },
	{ "wget_get.bin", 1, "wget.example.com", "wget.example.com", NULL, false, false, 0 },
	{ "python_http_client.bin", 1, "python.example.com", "python.example.com", NULL, false, false, 0 },
	{ "chromium.bin", 1, "chromium.example.com", "chromium.example.com", NULL, false, false, 0 },
	{ "hand_http10_no_host.bin", 0, NULL, NULL, NULL, false, false, 0 },
	{ "hand_acme_http01.bin", 1, "www.example.org", "www.example.org", NULL, false, false, 0 },
	{ "hand_case_and_ows.bin", 1, "Mixed.Example.COM.", "mixed.example.com", NULL, false, false, 0 },
	{ "hand_leading_crlf.bin", 1, "options.example.com", "options.example.com", NULL, false, false, 0 },
	{ "hand_absolute_overrides_host.bin", 1, "Target.Example.NET", "target.example.net", NULL,
	  true, false, 0 },
	{ "hand_obs_text_value.bin", 1, "utf8.example.com", "utf8.example.com", NULL, false, false, 0 },
	{ "hand_ipv4_literal.bin", 1, "192.0.2.1", NULL, "IPv4 literal", false, false, 0 },
};
#define NCAPTURES	(sizeof(captures) / sizeof(captures[0]))

static void
test_captures_parse(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		const struct capture *c = &captures[i];
		struct httphost r;
		size_t len;
		uint8_t *b = load_data(c->file, &len);

		print_message("  %s\n", c->file);
		assert_int_equal(parse(b, len, &r), HTTPHOST_DONE);
		assert_null(r.error);
		assert_int_equal(r.status, 0);
		assert_int_equal(r.version_minor, c->minor);
		assert_int_equal(r.head_len, head_end(b, len));
		assert_int_equal(len - r.head_len, c->body);
		assert_int_equal(r.from_target, c->from_target);
		assert_int_equal(r.ip_literal, c->ip_literal);
		if (c->raw == NULL) {
			assert_false(r.has_host);
			assert_int_equal(r.host_len, 0);
			assert_null(r.name_error);
			assert_string_equal(r.name, "");
		} else {
			assert_host(b, &r, c->raw);
			if (c->name != NULL) {
				assert_null(r.name_error);
				assert_string_equal(r.name, c->name);
			} else {
				assert_non_null(r.name_error);
				assert_string_equal(r.name_error, c->name_error);
				assert_string_equal(r.name, "");
			}
		}
		free(b);
	}
}

static void
test_truncated_at_every_offset(void **state)
{
	size_t	i, len;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		uint8_t *b = load_data(captures[i].file, &len);

		check_prefixes(b, len);
		free(b);
	}
}

/* Fed one byte at a time into a growing buffer, as a reader would. */
static void
test_byte_by_byte(void **state)
{
	size_t	i, n, len;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		uint8_t *b = load_data(captures[i].file, &len);
		uint8_t *acc = xmalloc(len);
		struct httphost r;

		for (n = 1; n <= len; n++) {
			enum httphost_status st;

			acc[n - 1] = b[n - 1];
			st = httphost_parse(acc, n, &r);
			if (st == HTTPHOST_DONE)
				break;
			assert_int_equal(st, HTTPHOST_NEED_MORE);
		}
		assert_int_equal(n, head_end(b, len));
		free(acc);
		free(b);
	}
}

/* What follows the head (a body, a second request, garbage) changes nothing. */
static void
test_bytes_after_head_untouched(void **state)
{
	static const char *const tails[] = {
		"GET / HTTP/1.1\r\nHost: other.example\r\n\r\n", "\x16\x03\x01", "\0\0\0", "\r\n",
	};
	size_t	i, j, len;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		uint8_t *b = load_data(captures[i].file, &len);
		struct httphost whole, r;

		assert_int_equal(parse(b, len, &whole), HTTPHOST_DONE);
		for (j = 0; j < sizeof(tails) / sizeof(tails[0]); j++) {
			size_t tl = strlen(tails[j]) + 1;
			uint8_t *m = xmalloc(whole.head_len + tl);

			memcpy(m, b, whole.head_len);
			memcpy(m + whole.head_len, tails[j], tl);
			assert_int_equal(parse(m, whole.head_len + tl, &r), HTTPHOST_DONE);
			assert_same_result(&whole, &r);
			free(m);
		}
		free(b);
	}
}

/* ---- resuming a growing buffer ---- */

/*
 * Feed b[0..len) into one growing buffer in segments of seg bytes (0: a
 * pseudo-random 1..17), resuming every time, and compare each answer with
 * the stateless parse of the same prefix.  Returns the bytes scanned.
 */
static size_t
resume_feed(const uint8_t *b, size_t len, size_t seg)
{
	struct httphost_resume	rs;
	struct httphost		got, want;
	uint8_t			*acc = xmalloc(len + 1);
	size_t			n = 0, step;
	unsigned		rnd = 7;

	memset(&rs, 0, sizeof(rs));
	while (n < len) {
		enum httphost_status st, wst;

		rnd = rnd * 1103515245u + 12345u;
		step = seg != 0 ? seg : 1 + (rnd >> 16) % 17;
		if (step > len - n)
			step = len - n;
		memcpy(acc + n, b + n, step);
		n += step;
		st = httphost_parse_resume(acc, n, &rs, &got);
		wst = httphost_parse(acc, n, &want);
		assert_int_equal(st, wst);
		assert_same_result(&want, &got);
		if (st != HTTPHOST_NEED_MORE)
			break;
	}
	free(acc);
	return rs.scanned;
}

/* Resuming answers exactly what a parse from byte 0 answers, prefix by prefix. */
static void
test_resume_matches_stateless(void **state)
{
	static const char *const heads[] = {
		"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
		"GET / HTTP/1.1\r\nX: 1\r\nHost : a.example\r\n\r\n",
		"\r\n\r\n\r\nGET http://T.example:8/x HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"\r\n\n",
		"GET / HTTP/1.1\r\nA: b\r\n\tfold\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]\r\nA: \x01\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\nHost: 192.0.2.1\r\n\r\n",
	};
	size_t	i, seg, len;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		uint8_t *b = load_data(captures[i].file, &len);

		for (seg = 0; seg <= 9; seg++)
			resume_feed(b, len, seg);
		free(b);
	}
	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		for (seg = 0; seg <= 9; seg++)
			resume_feed((const uint8_t *)heads[i], strlen(heads[i]), seg);
}

/*
 * A head trickled in one short line per segment, and a run of empty lines
 * before the request line two bytes at a time: resuming scans each byte
 * about once, where parsing from byte 0 on every segment (what snid did
 * before) scans the head ~n/line times.
 */
static void
test_resume_linear_in_trickled_head(void **state)
{
	char	head[HTTPHOST_MAX_HEAD];
	size_t	len = 0, n, quadratic = 0, scanned;
	int	i;

	(void)state;
	len += (size_t)snprintf(head + len, sizeof(head) - len, "GET / HTTP/1.1\r\n");
	for (i = 0; i < 900; i++)
		len += (size_t)snprintf(head + len, sizeof(head) - len, "X: %d\r\n", i % 10);
	len += (size_t)snprintf(head + len, sizeof(head) - len, "Host: a.example\r\n\r\n");
	assert_true(len < sizeof(head));
	for (n = 6; n <= len; n += 6)
		quadratic += n;
	scanned = resume_feed((const uint8_t *)head, len, 6);
	print_message("  %zu-byte head, 6 per segment: scanned %zu (from byte 0: %zu)\n",
	    len, scanned, quadratic);
	assert_true(scanned <= 2 * len);
	assert_true(quadratic > 100 * len);

	len = 0;
	for (i = 0; i < 3000; i++)
		len += (size_t)snprintf(head + len, sizeof(head) - len, "\r\n");
	len += (size_t)snprintf(head + len, sizeof(head) - len, "GET / HTTP/1.0\r\n\r\n");
	scanned = resume_feed((const uint8_t *)head, len, 2);
	print_message("  3000 empty lines, 2 bytes per segment: scanned %zu of %zu\n",
	    scanned, len);
	assert_true(scanned <= 2 * len);
}

/* ---- Host ---- */

static void
test_host_field_name_case_insensitive(void **state)
{
	static const char *const names[] = { "Host", "host", "HOST", "hOsT" };
	char		req[128];
	struct httphost	r;
	size_t		i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(req, sizeof(req),
		    "GET / HTTP/1.1\r\nAccept: */*\r\n%s: case.example\r\n\r\n",
		    names[i]);
		assert_int_equal(parse_str(req, &r), HTTPHOST_DONE);
		assert_host((const uint8_t *)req, &r, "case.example");
		assert_string_equal(r.name, "case.example");
	}
	/* Names that merely start or end like Host are other fields. */
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHosts: a.example\r\nX-Host: b.example\r\n"
	    "Host: c.example\r\n\r\n", &r), HTTPHOST_DONE);
	assert_string_equal(r.name, "c.example");
}

static void
test_host_port_and_whitespace(void **state)
{
	static const struct {
		const char	*value, *raw;
	} ok[] = {
		{ "a.example:80", "a.example" },
		{ "a.example:0", "a.example" },
		{ "a.example:65535", "a.example" },
		{ "a.example:99999", "a.example" },	/* five digits; the port is ignored */
		{ "a.example:", "a.example" },		/* port = *DIGIT (RFC 3986) */
		{ "  \t a.example:443 \t ", "a.example" },
		{ "a.example", "a.example" },
		{ "[2001:db8::1]:8080", "[2001:db8::1]" },
		{ "[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]" },
	};
	char		req[128];
	struct httphost	r;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost:%s\r\n\r\n", ok[i].value);
		if (parse_str(req, &r) != HTTPHOST_DONE)
			fail_msg("Host:%s: %s", ok[i].value, r.error);
		assert_host((const uint8_t *)req, &r, ok[i].raw);
		assert_int_equal(r.ip_literal, ok[i].raw[0] == '[');
		if (r.ip_literal) {
			assert_string_equal(r.name_error, "IPv6 literal");
		} else {
			assert_null(r.name_error);
			assert_string_equal(r.name, "a.example");
		}
		check_prefixes((const uint8_t *)req, strlen(req));
	}
}

/*
 * A Host that is well-formed but not a routable name is DONE with
 * name_error: the router answers 400.
 */
static void
test_host_not_a_name(void **state)
{
	static const struct {
		const char	*value, *why;
	} cases[] = {
		{ "192.0.2.1", "IPv4 literal" },
		{ "192.0.2.1:80", "IPv4 literal" },
		{ "127.1", "IPv4 literal" },
		{ "[::1]", "IPv6 literal" },
		{ "exa%2Fmple.com", "invalid character" },
		{ "a..example", "empty label" },
		{ "host.123", "numeric top-level label" },
		{ "x!y.example", "invalid character" },
	};
	char		req[128];
	struct httphost	r;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", cases[i].value);
		assert_int_equal(parse_str(req, &r), HTTPHOST_DONE);
		assert_true(r.has_host);
		assert_non_null(r.name_error);
		assert_string_equal(r.name_error, cases[i].why);
		assert_string_equal(r.name, "");
	}
}

/* The name's length limit is hostname's: 253 characters are fine, 254 are not. */
static void
test_host_name_length(void **state)
{
	char		req[400], name[260];
	struct httphost	r;
	size_t		i;

	(void)state;
	for (i = 0; i < 253; i++)
		name[i] = i % 50 == 49 ? '.' : 'a';
	name[253] = '\0';
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s:80\r\n\r\n", name);
	assert_int_equal(parse_str(req, &r), HTTPHOST_DONE);
	assert_null(r.name_error);
	assert_string_equal(r.name, name);
	name[253] = 'a';
	name[254] = '\0';
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s:80\r\n\r\n", name);
	assert_int_equal(parse_str(req, &r), HTTPHOST_DONE);
	assert_string_equal(r.name_error, "too long");
	assert_int_equal(r.host_len, 254);
}

static void
test_missing_host(void **state)
{
	struct httphost	r;
	const char *h11 = "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n";

	(void)state;
	expect_error_at(h11, strlen(h11), strlen(h11), 400,
	    "HTTP/1.1 request without a Host field");
	assert_int_equal(parse_str("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", &r), HTTPHOST_DONE);
	assert_false(r.has_host);
	assert_int_equal(r.version_minor, 0);
	assert_null(r.name_error);
	assert_int_equal(parse_str("GET / HTTP/1.0\r\n\r\n", &r), HTTPHOST_DONE);
	assert_false(r.has_host);
	assert_int_equal(r.head_len, 18);
}

static void
test_duplicate_host(void **state)
{
	static const char *const reqs[] = {
		"GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n",
		"GET / HTTP/1.0\r\nHOST: a.example\r\nX: y\r\nHost: \r\n\r\n",
		"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < 4; i++) {
		const char *second = strcasestr(strcasestr(reqs[i], "\nhost:") + 1, "\nhost:");
		size_t at = (size_t)(strchr(second + 1, '\n') - reqs[i]) + 1;

		expect_error_at(reqs[i], strlen(reqs[i]), at, 400, "more than one Host field");
	}
}

static void
test_absolute_form(void **state)
{
	struct httphost	r;
	const char	*q;

	(void)state;
	/* The target's authority wins over Host (RFC 9112 3.2.2). */
	q = "GET http://target.example:8080/p HTTP/1.1\r\nHost: host.example\r\n\r\n";
	assert_int_equal(parse_str(q, &r), HTTPHOST_DONE);
	assert_true(r.from_target);
	assert_host((const uint8_t *)q, &r, "target.example");
	assert_string_equal(r.name, "target.example");
	q = "GET https://target.example?x HTTP/1.1\r\nHost: target.example\r\n\r\n";
	assert_int_equal(parse_str(q, &r), HTTPHOST_DONE);
	assert_host((const uint8_t *)q, &r, "target.example");
	q = "GET http://[2001:db8::1]:80/ HTTP/1.1\r\nHost: x.example\r\n\r\n";
	assert_int_equal(parse_str(q, &r), HTTPHOST_DONE);
	assert_true(r.ip_literal);
	assert_host((const uint8_t *)q, &r, "[2001:db8::1]");
	/* HTTP/1.0 needs no Host: the target names the host. */
	q = "GET http://old.example/ HTTP/1.0\r\n\r\n";
	assert_int_equal(parse_str(q, &r), HTTPHOST_DONE);
	assert_true(r.from_target);
	assert_string_equal(r.name, "old.example");
	/* HTTP/1.1 still needs a valid Host field. */
	q = "GET http://a.example/ HTTP/1.1\r\n\r\n";
	expect_error_at(q, strlen(q), strlen(q), 400, "HTTP/1.1 request without a Host field");
	q = "GET http://a.example/ HTTP/1.1\r\nHost: a b\r\n\r\n";
	expect_error_at(q, strlen(q), strlen(q) - 2, 400,
	    "Host has a character not allowed in a host");
	/* A relative target that merely contains "://" is origin-form. */
	q = "GET /redirect?to=http://elsewhere.example/ HTTP/1.1\r\nHost: here.example\r\n\r\n";
	assert_int_equal(parse_str(q, &r), HTTPHOST_DONE);
	assert_false(r.from_target);
	assert_string_equal(r.name, "here.example");
	/* Authority-form (CONNECT) and asterisk-form: routed by Host. */
	q = "CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n";
	assert_int_equal(parse_str(q, &r), HTTPHOST_DONE);
	assert_false(r.from_target);
	assert_string_equal(r.name, "tunnel.example");

	/* Refused when the request line ends. */
	q = "GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n";
	expect_error_at(q, strlen(q), 31, 400,
	    "absolute-form target's scheme is not http or https");
	q = "GET http:///p HTTP/1.1\r\nHost: a.example\r\n\r\n";
	expect_error_at(q, strlen(q), 24, 400, "absolute-form target has an empty authority");
	q = "GET http://user:pw@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n";
	expect_error_at(q, strlen(q), 40, 400, "Host has userinfo (\"user@\")");
	q = "GET http://:80/ HTTP/1.1\r\nHost: a.example\r\n\r\n";
	expect_error_at(q, strlen(q), 26, 400, "Host has an empty host before the port");
}

/* ---- malformed heads ---- */

static void
test_errors(void **state)
{
	static const struct {
		const char	*req;
		size_t		 at;	/* bytes at which the error shows; 0: strlen */
		int		 status;
		const char	*why;
	} bad[] = {
		{ "GET  / HTTP/1.1\r\n", 5, 400, "request target is empty (two spaces?)" },
		{ " GET / HTTP/1.1\r\n", 1, 400, "request method is not a token followed by one space" },
		{ "GE/T / HTTP/1.1\r\n", 3, 400, "request method is not a token followed by one space" },
		{ "GET\t/ HTTP/1.1\r\n", 4, 400, "request method is not a token followed by one space" },
		{ "GET / HTTP/1.1 \r\n", 15, 400, "request line does not end in CRLF after the version" },
		{ "GET / HTTP/1.1\n", 15, 400, "request line does not end in CRLF after the version" },
		{ "GET / HTTP/1.1\rX", 16, 400, "CR not followed by LF" },
		{ "GET / HTTP/1.10\r\n", 15, 400, "request line does not end in CRLF after the version" },
		{ "GET / http/1.1\r\n", 7, 400, "request line does not end in HTTP/<digit>.<digit>" },
		{ "GET / HTTP/1,1\r\n", 13, 400, "request line does not end in HTTP/<digit>.<digit>" },
		{ "GET / HTTP/1.x\r\n", 14, 400, "request line does not end in HTTP/<digit>.<digit>" },
		{ "GET / HTTP/2.0\r\n", 14, 505, "HTTP version is not 1.0 or 1.1" },
		{ "GET / HTTP/1.2\r\n", 14, 505, "HTTP version is not 1.0 or 1.1" },
		{ "GET / HTTP/0.9\r\n", 14, 505, "HTTP version is not 1.0 or 1.1" },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 14, 505, "HTTP version is not 1.0 or 1.1" },
		{ "GET /\r\n", 6, 400, "request line has no HTTP version (HTTP/0.9?)" },
		{ "GET /a\x7f HTTP/1.1\r\n", 7, 400, "request target has a byte that is not visible ASCII" },
		{ "GET /caf\xc3\xa9 HTTP/1.1\r\n", 9, 400, "request target has a byte that is not visible ASCII" },
		{ "\n", 1, 400, "bare LF (lines end in CRLF)" },
		{ "\r\r", 2, 400, "CR not followed by LF" },
		{ "GET / HTTP/1.1\r\nHost : a.example\r\n\r\n", 21, 400, "whitespace between field name and colon" },
		{ "GET / HTTP/1.1\r\nHost\t: a.example\r\n\r\n", 21, 400, "whitespace between field name and colon" },
		{ "GET / HTTP/1.1\r\nHost: a.example\r\n b\r\n\r\n", 34, 400, "field line starts with whitespace (obs-fold)" },
		{ "GET / HTTP/1.1\r\n\tHost: a.example\r\n\r\n", 17, 400, "field line starts with whitespace (obs-fold)" },
		{ "GET / HTTP/1.1\r\nHost: a.example\n\r\n", 32, 400, "bare LF in a field value" },
		{ "GET / HTTP/1.1\r\nHost: a.example\r\r\n", 33, 400, "CR not followed by LF" },
		{ "GET / HTTP/1.1\r\nHost: a.example\r\n\n", 34, 400, "bare LF (lines end in CRLF)" },
		{ "GET / HTTP/1.1\r\nHost: a.example\r\n\r\r", 35, 400, "CR not followed by LF" },
		{ "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 21, 400, "control byte in a field value" },
		{ "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 21, 400, "control byte in a field value" },
		{ "GET / HTTP/1.1\r\nHo(st: a.example\r\n\r\n", 19, 400, "field name is not a token" },
		{ "GET / HTTP/1.1\r\n: a.example\r\n\r\n", 17, 400, "field name is empty" },
		{ "GET / HTTP/1.1\r\nHost\r\n\r\n", 21, 400, "field line has no colon" },
		{ "GET / HTTP/1.1\r\nHost:\r\n\r\n", 23, 400, "Host field is empty" },
		{ "GET / HTTP/1.1\r\nHost:  \t \r\n\r\n", 27, 400, "Host field is empty" },
		{ "GET / HTTP/1.1\r\nHost: a b.example\r\n\r\n", 35, 400, "Host has a character not allowed in a host" },
		{ "GET / HTTP/1.1\r\nHost: a/b.example\r\n\r\n", 35, 400, "Host has a character not allowed in a host" },
		{ "GET / HTTP/1.1\r\nHost: \"a.example\"\r\n\r\n", 35, 400, "Host has a character not allowed in a host" },
		{ "GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n", 35, 400, "Host has userinfo (\"user@\")" },
		{ "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 28, 400, "Host IP literal has no closing bracket" },
		{ "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 30, 400, "Host has bytes after the IP literal" },
		{ "GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n", 30, 400, "Host IP literal has a character not in an IPv6 address" },
		{ "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 27, 400, "Host has an empty host before the port" },
		{ "GET / HTTP/1.1\r\nHost: a.example:123456\r\n\r\n", 40, 400, "Host port is not a number of at most 5 digits" },
		{ "GET / HTTP/1.1\r\nHost: a.example:8o\r\n\r\n", 36, 400, "Host port is not a number of at most 5 digits" },
		{ "GET / HTTP/1.1\r\nHost: a.example:80:80\r\n\r\n", 39, 400, "Host port is not a number of at most 5 digits" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n", 12, 400, "request line does not end in HTTP/<digit>.<digit>" },
		{ "\r\n\r\n\0\r\nQUIT\n", 5, 400, "request method is not a token followed by one space" },
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 1, 400, "TLS handshake on a plain-HTTP listener" },
		{ "\r\n\x16\x03\x01", 3, 400, "TLS handshake on a plain-HTTP listener" },
		{ "\x80\x2e\x01\x03\x01", 1, 400, "request method is not a token followed by one space" },
		{ "SSH-2.0-OpenSSH_9.2p1\r\n", 22, 400, "request method is not a token followed by one space" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i].req);

		/* Strings with an embedded NUL: the test knows where it is. */
		if (bad[i].req[0] == '\r' && bad[i].req[1] == '\n' && bad[i].req[2] == '\r')
			n = 12;
		expect_error_at(bad[i].req, n, bad[i].at, bad[i].status, bad[i].why);
	}
}

/* NUL anywhere in the head: in a value, a name, the request line. */
static void
test_nul_bytes(void **state)
{
	char	req[64];
	size_t	n;

	(void)state;
	n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a.ex#mple\r\n\r\n");
	req[26] = '\0';
	expect_error_at(req, n, 27, 400, "NUL byte in a field value");
	req[26] = 'a';
	req[18] = '\0';
	expect_error_at(req, n, 19, 400, "field name is not a token");
	req[18] = 's';
	req[4] = '\0';
	expect_error_at(req, n, 5, 400, "request target has a byte that is not visible ASCII");
	req[4] = '/';
	req[1] = '\0';
	expect_error_at(req, n, 2, 400, "request method is not a token followed by one space");
}

/* A real TLS ClientHello on the HTTP port is refused on its first byte. */
static void
test_tls_hello_refused_at_once(void **state)
{
	struct httphost	r;
	uint8_t		*b;
	size_t		len;

	(void)state;
	b = load_path("tests/data/clienthello/curl.bin", &len);
	assert_int_equal(parse(b, 0, &r), HTTPHOST_NEED_MORE);
	assert_int_equal(parse(b, 1, &r), HTTPHOST_ERROR);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.error, "TLS handshake on a plain-HTTP listener");
	assert_int_equal(parse(b, len, &r), HTTPHOST_ERROR);
	assert_string_equal(r.error, "TLS handshake on a plain-HTTP listener");
	free(b);
}

/* ---- the 8 KiB bound ---- */

/* A head of exactly n bytes: request line, one big field, Host, CRLF. */
static char *
head_of(size_t n)
{
	const char	*start = "GET / HTTP/1.1\r\nX-Big: ";
	const char	*end = "\r\nHost: big.example\r\n\r\n";
	size_t		s = strlen(start), e = strlen(end);
	char		*b = xmalloc(n + 1);

	assert_true(n > s + e);
	memcpy(b, start, s);
	memset(b + s, 'x', n - s - e);
	memcpy(b + n - e, end, e);
	b[n] = '\0';
	return b;
}

static void
test_head_bound(void **state)
{
	struct httphost	r;
	char		*b;
	size_t		n;

	(void)state;
	/* Exactly HTTPHOST_MAX_HEAD bytes: fine. */
	b = head_of(HTTPHOST_MAX_HEAD);
	assert_int_equal(parse(b, HTTPHOST_MAX_HEAD, &r), HTTPHOST_DONE);
	assert_int_equal(r.head_len, HTTPHOST_MAX_HEAD);
	assert_string_equal(r.name, "big.example");
	assert_int_equal(parse(b, HTTPHOST_MAX_HEAD - 1, &r), HTTPHOST_NEED_MORE);
	free(b);
	/* One more: 431 once HTTPHOST_MAX_HEAD bytes are here without the end of the head. */
	b = head_of(HTTPHOST_MAX_HEAD + 1);
	expect_error_at(b, HTTPHOST_MAX_HEAD + 1, HTTPHOST_MAX_HEAD, 431,
	    "request head longer than 8192 bytes");
	free(b);
	/* A request line that does not end: 414. */
	n = HTTPHOST_MAX_HEAD + 100;
	b = xmalloc(n);
	memcpy(b, "GET /", 5);
	memset(b + 5, 'a', n - 5);
	assert_int_equal(parse(b, HTTPHOST_MAX_HEAD - 1, &r), HTTPHOST_NEED_MORE);
	expect_error(b, HTTPHOST_MAX_HEAD, 414,
	    "request line longer than the head's 8192-byte bound");
	expect_error(b, n, 414, "request line longer than the head's 8192-byte bound");
	/* Endless empty lines before the request line count too. */
	for (size_t i = 0; i + 1 < n; i += 2)
		memcpy(b + i, "\r\n", 2);
	expect_error(b, HTTPHOST_MAX_HEAD, 414,
	    "request line longer than the head's 8192-byte bound");
	free(b);
}

/* At HTTPHOST_MAX_HEAD bytes of anything there is an answer. */
static void
test_max_always_answers(void **state)
{
	static const char *const starts[] = {
		"", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a.example\r\nX: ",
	};
	uint8_t		*b = xmalloc(HTTPHOST_MAX_HEAD);
	struct httphost	r;
	uint32_t	x = 777;
	size_t		i, k;

	(void)state;
	for (k = 0; k < 150; k++) {
		const char *s = starts[k % 3];

		for (i = 0; i < HTTPHOST_MAX_HEAD; i++) {
			x = x * 1103515245u + 12345u;
			/* Mostly printable, so that the scan goes on for a while. */
			b[i] = (uint8_t)(k % 2 ? 0x20 + (x >> 16) % 0x5f : x >> 16);
		}
		memcpy(b, s, strlen(s));
		assert_int_not_equal(httphost_parse(b, HTTPHOST_MAX_HEAD, &r), HTTPHOST_NEED_MORE);
	}
	free(b);
}

static void
test_error_clears_result(void **state)
{
	struct httphost	r;

	(void)state;
	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b\r\n\r\n", &r),
	    HTTPHOST_ERROR);
	assert_false(r.has_host);
	assert_int_equal(r.host_len, 0);
	assert_int_equal(r.head_len, 0);
	assert_string_equal(r.name, "");
	assert_null(r.name_error);
	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHost: a.example\r\n", &r),
	    HTTPHOST_NEED_MORE);
	assert_null(r.error);
	assert_int_equal(r.status, 0);
	assert_false(r.has_host);
	assert_int_equal(r.head_len, 0);
	assert_int_equal(parse("", 0, &r), HTTPHOST_NEED_MORE);
}

static void
test_status_str_and_reasons(void **state)
{
	(void)state;
	assert_string_equal(httphost_status_str(HTTPHOST_NEED_MORE), "need_more");
	assert_string_equal(httphost_status_str(HTTPHOST_DONE), "done");
	assert_string_equal(httphost_status_str(HTTPHOST_ERROR), "error");
	assert_string_equal(httphost_status_str((enum httphost_status)99), "unknown");
	assert_string_equal(httphost_reason_phrase(400), "Bad Request");
	assert_string_equal(httphost_reason_phrase(414), "URI Too Long");
	assert_string_equal(httphost_reason_phrase(421), "Misdirected Request");
	assert_string_equal(httphost_reason_phrase(431), "Request Header Fields Too Large");
	assert_string_equal(httphost_reason_phrase(502), "Bad Gateway");
	assert_string_equal(httphost_reason_phrase(505), "HTTP Version Not Supported");
	assert_string_equal(httphost_reason_phrase(200), "Error");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_captures_parse),
		cmocka_unit_test(test_truncated_at_every_offset),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_bytes_after_head_untouched),
		cmocka_unit_test(test_resume_matches_stateless),
		cmocka_unit_test(test_resume_linear_in_trickled_head),
		cmocka_unit_test(test_host_field_name_case_insensitive),
		cmocka_unit_test(test_host_port_and_whitespace),
		cmocka_unit_test(test_host_not_a_name),
		cmocka_unit_test(test_host_name_length),
		cmocka_unit_test(test_missing_host),
		cmocka_unit_test(test_duplicate_host),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_tls_hello_refused_at_once),
		cmocka_unit_test(test_head_bound),
		cmocka_unit_test(test_max_always_answers),
		cmocka_unit_test(test_error_clears_result),
		cmocka_unit_test(test_status_str_and_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
