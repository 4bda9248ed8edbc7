/*
 * httphost: the host an HTTP/1.x request head is for.
 *
 * One forward scan from the start of the buffer, as in proxyproto: each
 * byte is judged when it is reached, the scan stops with NEED_MORE at the
 * end of the input, and the head's bound is checked on the position alone.
 * So a prefix of a valid head is NEED_MORE, a prefix that errs errs with
 * the reason any longer input errs with, appending bytes to a decided input
 * changes nothing, and nothing outside [buf, buf + len) is read.
 *
 * Strictness is the point: snid routes on what it parses here and forwards
 * the bytes unchanged, so a head that snid and the backend could read
 * differently (bare LF, obs-fold, space before a colon, two Host fields)
 * is refused rather than guessed at (RFC 9112 11.2, request smuggling).
 */
#include "snid/httphost.h"

#include <string.h>

#define HH_PORT_MAX_DIGITS	5

/* A partial answer inside the scan: keep going, stop for more input, or fail. */
enum hh_step { HH_OK, HH_MORE, HH_FAIL };

struct hh_scan {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 pos;
	bool		 in_request_line;	/* picks 414 or 431 at the bound */
	int		 status;
	const char	*error;
};

/* A stretch of buf. */
struct hh_span {
	size_t	off;
	size_t	len;
};

static enum hh_step
hh_fail(struct hh_scan *s, int status, const char *why)
{
	s->status = status;
	s->error = why;
	return HH_FAIL;
}

static enum hh_step
hh_bad(struct hh_scan *s, const char *why)
{
	return hh_fail(s, HTTPHOST_STATUS_BAD_REQUEST, why);
}

/* The byte at pos without taking it, or MORE, or the bound's error. */
static enum hh_step
hh_peek(struct hh_scan *s, uint8_t *c)
{
	if (s->pos >= HTTPHOST_MAX_HEAD)
		return s->in_request_line ?
		    hh_fail(s, HTTPHOST_STATUS_URI_TOO_LONG,
			"request line longer than the head's 8192-byte bound") :
		    hh_fail(s, HTTPHOST_STATUS_FIELDS_TOO_LARGE,
			"request head longer than 8192 bytes");
	if (s->pos >= s->len)
		return HH_MORE;
	*c = s->buf[s->pos];
	return HH_OK;
}

static enum hh_step
hh_next(struct hh_scan *s, uint8_t *c)
{
	enum hh_step	st = hh_peek(s, c);

	if (st == HH_OK)
		s->pos++;
	return st;
}

/* After a CR: LF, else the CR is bare (RFC 9112 2.2). */
static enum hh_step
hh_lf(struct hh_scan *s)
{
	enum hh_step	st;
	uint8_t		c;

	if ((st = hh_next(s, &c)) != HH_OK)
		return st;
	if (c != '\n')
		return hh_bad(s, "CR not followed by LF");
	return HH_OK;
}

/* tchar (RFC 9110 5.6.2). */
static bool
hh_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* reg-name characters: unreserved, sub-delims and the '%' of pct-encoded (RFC 3986 3.2.2). */
static bool
hh_host_char(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-._~!$&'()*+,;=%", c) != NULL;
}

static uint8_t
hh_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Whether span equals the lower-case word w, ignoring case. */
static bool
hh_span_is(const uint8_t *buf, struct hh_span sp, const char *w)
{
	size_t	i;

	if (sp.len != strlen(w))
		return false;
	for (i = 0; i < sp.len; i++)
		if (hh_lower(buf[sp.off + i]) != (uint8_t)w[i])
			return false;
	return true;
}

/*
 * Host = uri-host [ ":" port ] (RFC 9110 7.2), also an absolute-form
 * target's authority.  uri-host is an IP-literal "[...]" or a reg-name
 * (unreserved, pct-encoded, sub-delims: RFC 3986 3.2.2), which also covers
 * IPv4 addresses.  Only the syntax is checked here; whether the host is a
 * name snid routes is hostname_canonicalize()'s call.  On success *host is
 * the host without the port.
 */
static enum hh_step
hh_host_syntax(struct hh_scan *s, struct hh_span v, struct hh_span *host, bool *ip_literal,
    const char *what)
{
	const uint8_t	*p = s->buf + v.off;
	size_t		i = 0, digits;

	*ip_literal = false;
	if (v.len == 0)
		return hh_bad(s, what);
	/*
	 * RFC 9110 4.2.4: userinfo in an http(s) URI is an error; look
	 * before splitting off a port.
	 */
	if (memchr(p, '@', v.len) != NULL)
		return hh_bad(s, "Host has userinfo (\"user@\")");
	if (p[0] == '[') {
		/* IPv6 only: IPvFuture ("[v1.x]") names nothing snid could route. */
		for (i = 1; i < v.len && p[i] != ']'; i++)
			if (!((p[i] >= '0' && p[i] <= '9') ||
			    (hh_lower(p[i]) >= 'a' && hh_lower(p[i]) <= 'f') ||
			    p[i] == ':' || p[i] == '.'))
				return hh_bad(s, "Host IP literal has a "
				    "character not in an IPv6 address");
		if (i == v.len)
			return hh_bad(s, "Host IP literal has no closing bracket");
		i++;
		*ip_literal = true;
	} else {
		for (; i < v.len && p[i] != ':'; i++) {
			uint8_t c = p[i];

			if (!hh_host_char(c))
				return hh_bad(s, "Host has a character not allowed in a host");
		}
		if (i == 0)
			return hh_bad(s, "Host has an empty host before the port");
	}
	host->off = v.off;
	host->len = i;
	if (i == v.len)
		return HH_OK;
	if (p[i] != ':')
		return hh_bad(s, "Host has bytes after the IP literal");
	for (digits = 0, i++; i < v.len; i++, digits++)
		if (p[i] < '0' || p[i] > '9' || digits == HH_PORT_MAX_DIGITS)
			return hh_bad(s, "Host port is not a number of at most 5 digits");
	return HH_OK;
}

/*
 * An absolute-form target (RFC 9112 3.2.2): scheme "://" authority
 * [path-abempty] ["?" query].  Sets *is_abs when the target has that shape;
 * then *auth is the authority.  Other targets (origin-form "/...",
 * asterisk-form "*", authority-form for CONNECT) are left to the Host field.
 */
static enum hh_step
hh_absolute_form(struct hh_scan *s, struct hh_span t, bool *is_abs, struct hh_span *auth)
{
	const uint8_t	*p = s->buf + t.off;
	struct hh_span	scheme = { t.off, 0 };
	size_t		i, a;

	*is_abs = false;
	if (t.len == 0 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
		return HH_OK;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1) */
	for (i = 1; i < t.len; i++) {
		uint8_t c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '-' || c == '.'))
			break;
	}
	if (t.len - i < 3 || memcmp(p + i, "://", 3) != 0)
		return HH_OK;
	*is_abs = true;
	scheme.len = i;
	if (!hh_span_is(s->buf, scheme, "http") && !hh_span_is(s->buf, scheme, "https"))
		return hh_bad(s, "absolute-form target's scheme is not http or https");
	a = i + 3;
	for (i = a; i < t.len && p[i] != '/' && p[i] != '?' && p[i] != '#'; i++)
		;
	auth->off = t.off + a;
	auth->len = i - a;
	if (auth->len == 0)
		return hh_bad(s, "absolute-form target has an empty authority");
	return HH_OK;
}

/* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 3). */
static enum hh_step
hh_request_line(struct hh_scan *s, struct hh_span *method, struct hh_span *target, int *minor)
{
	static const char	name[] = "HTTP/";
	enum hh_step		st;
	uint8_t			c, major = 0;
	size_t			i;

	s->in_request_line = true;
	method->off = s->pos;
	for (;;) {
		if ((st = hh_next(s, &c)) != HH_OK)
			return st;
		if (c == ' ' && s->pos - 1 > method->off)
			break;
		if (!hh_tchar(c)) {
			/* A TLS client on the HTTP port: say so, right on the first byte. */
			if (c == 0x16 && s->pos - 1 == method->off)
				return hh_bad(s, "TLS handshake on a plain-HTTP listener");
			return hh_bad(s, "request method is not a token followed by one space");
		}
	}
	method->len = s->pos - 1 - method->off;

	target->off = s->pos;
	for (;;) {
		if ((st = hh_next(s, &c)) != HH_OK)
			return st;
		if (c == ' ' && s->pos - 1 > target->off)
			break;
		if (c == ' ')
			return hh_bad(s, "request target is empty (two spaces?)");
		if (c == '\r' || c == '\n')
			return hh_bad(s, "request line has no HTTP version (HTTP/0.9?)");
		if (c < 0x21 || c > 0x7e)
			return hh_bad(s, "request target has a byte that is not visible ASCII");
	}
	target->len = s->pos - 1 - target->off;

	/* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3). */
	for (i = 0; i < sizeof(name) - 1; i++) {
		if ((st = hh_next(s, &c)) != HH_OK)
			return st;
		if (c != (uint8_t)name[i])
			return hh_bad(s, "request line does not end in HTTP/<digit>.<digit>");
	}
	for (i = 0; i < 3; i++) {
		if ((st = hh_next(s, &c)) != HH_OK)
			return st;
		if (i == 1 ? c != '.' : (c < '0' || c > '9'))
			return hh_bad(s, "request line does not end in HTTP/<digit>.<digit>");
		if (i == 0)
			major = c;
		else if (i == 2)
			*minor = c - '0';
	}
	if (major != '1' || *minor > 1)
		return hh_fail(s, HTTPHOST_STATUS_VERSION_NOT_SUPPORTED,
		    "HTTP version is not 1.0 or 1.1");
	if ((st = hh_next(s, &c)) != HH_OK)
		return st;
	if (c != '\r')
		return hh_bad(s, "request line does not end in CRLF after the version");
	if ((st = hh_lf(s)) != HH_OK)
		return st;
	s->in_request_line = false;
	return HH_OK;
}

/*
 * field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112 5).  On
 * HH_OK, *end says the line was the empty one ending the head; else name
 * and value (OWS trimmed) are set.
 */
static enum hh_step
hh_field_line(struct hh_scan *s, bool *end, struct hh_span *name, struct hh_span *value)
{
	enum hh_step	st;
	uint8_t		c;

	*end = false;
	if ((st = hh_next(s, &c)) != HH_OK)
		return st;
	if (c == '\r') {
		if ((st = hh_lf(s)) != HH_OK)
			return st;
		*end = true;
		return HH_OK;
	}
	if (c == '\n')
		return hh_bad(s, "bare LF (lines end in CRLF)");
	/* RFC 9112 5.2 (obs-fold) and 2.2 (whitespace before the first field): both 400 here. */
	if (c == ' ' || c == '\t')
		return hh_bad(s, "field line starts with whitespace (obs-fold)");

	name->off = s->pos - 1;
	for (;;) {
		if (c == ':')
			break;
		if (c == ' ' || c == '\t')
			return hh_bad(s, "whitespace between field name and colon");
		if (c == '\r' || c == '\n')
			return hh_bad(s, "field line has no colon");
		if (!hh_tchar(c))
			return hh_bad(s, "field name is not a token");
		if ((st = hh_next(s, &c)) != HH_OK)
			return st;
	}
	name->len = s->pos - 1 - name->off;
	if (name->len == 0)
		return hh_bad(s, "field name is empty");

	/* The value, leading and trailing OWS dropped. */
	value->off = s->pos;
	value->len = 0;
	for (;;) {
		if ((st = hh_next(s, &c)) != HH_OK)
			return st;
		if (c == '\r')
			break;
		if (c == ' ' || c == '\t') {
			if (value->len == 0 && s->pos - 1 == value->off)
				value->off = s->pos;
			continue;
		}
		if (c == '\0')
			return hh_bad(s, "NUL byte in a field value");
		if (c == '\n')
			return hh_bad(s, "bare LF in a field value");
		if (c < 0x20 || c == 0x7f)
			return hh_bad(s, "control byte in a field value");
		value->len = s->pos - value->off;
	}
	if ((st = hh_lf(s)) != HH_OK)
		return st;
	return HH_OK;
}

/* Copy the request's host and its canonical form into out. */
static void
hh_set_host(struct httphost *out, const uint8_t *buf, struct hh_span host, bool ip_literal)
{
	out->has_host = true;
	out->ip_literal = ip_literal;
	out->host_off = host.off;
	out->host_len = host.len;
	out->name_error = hostname_canonicalize((const char *)buf + host.off, host.len, out->name);
}

/*
 * RFC 9112 2.2: a server SHOULD ignore empty lines before the request line.
 * r->pos follows each one, so that a client trickling CRLFs is not
 * rescanned from byte 0 every time.
 */
static enum hh_step
hh_empty_lines(struct hh_scan *s, struct httphost_resume *r)
{
	enum hh_step	st;
	uint8_t		c;

	s->in_request_line = true;
	s->pos = r->pos;
	for (;;) {
		if ((st = hh_peek(s, &c)) != HH_OK)
			return st;
		if (c == '\n')
			return hh_bad(s, "bare LF (lines end in CRLF)");
		if (c != '\r')
			return HH_OK;
		s->pos++;
		if ((st = hh_lf(s)) != HH_OK)
			return st;
		r->pos = s->pos;
	}
}

/* The request line, and the host an absolute-form target names. */
static enum hh_step
hh_start(struct hh_scan *s, struct httphost_resume *r)
{
	struct hh_span	method, target, auth = { 0, 0 }, thost = { 0, 0 };
	bool		is_abs = false, tlit = false;
	enum hh_step	st;
	int		minor = 0;

	if ((st = hh_empty_lines(s, r)) != HH_OK)
		return st;
	if ((st = hh_request_line(s, &method, &target, &minor)) != HH_OK)
		return st;
	(void)method;
	if ((st = hh_absolute_form(s, target, &is_abs, &auth)) != HH_OK)
		return st;
	if (is_abs && (st = hh_host_syntax(s, auth, &thost, &tlit,
	    "absolute-form target has an empty authority")) != HH_OK)
		return st;
	r->started = true;
	r->minor = (uint8_t)minor;
	r->is_abs = is_abs;
	r->target_literal = tlit;
	r->target_host_off = thost.off;
	r->target_host_len = thost.len;
	r->pos = s->pos;
	return HH_OK;
}

/*
 * The field lines from r->pos on.  After each complete line r holds the
 * state at the start of the next one, so a caller that feeds the same,
 * longer buffer again resumes there instead of at byte 0.
 */
static enum hh_step
hh_fields(struct hh_scan *s, struct httphost_resume *r)
{
	struct hh_span	name, value, hfield;
	enum hh_step	st;
	bool		end, lit;

	for (;;) {
		if ((st = hh_field_line(s, &end, &name, &value)) != HH_OK)
			return st;
		if (end)
			return HH_OK;
		if (hh_span_is(s->buf, name, "host")) {
			/* RFC 9112 3.2: more than one Host field line is 400. */
			if (r->have_host_field)
				return hh_bad(s, "more than one Host field");
			if ((st = hh_host_syntax(s, value, &hfield, &lit,
			    "Host field is empty")) != HH_OK)
				return st;
			r->have_host_field = true;
			r->field_literal = lit;
			r->field_host_off = hfield.off;
			r->field_host_len = hfield.len;
		}
		r->pos = s->pos;
	}
}

static enum hh_step
hh_head(struct hh_scan *s, struct httphost_resume *r, struct httphost *out)
{
	struct hh_span	host;
	enum hh_step	st;

	if (!r->started) {
		if ((st = hh_start(s, r)) != HH_OK)
			return st;
	} else {
		s->pos = r->pos;
		s->in_request_line = false;
	}
	if ((st = hh_fields(s, r)) != HH_OK)
		return st;

	/* RFC 9112 3.2: an HTTP/1.1 request without Host is 400, even in absolute form. */
	if (r->minor == 1 && !r->have_host_field)
		return hh_bad(s, "HTTP/1.1 request without a Host field");
	out->version_minor = r->minor;
	if (r->is_abs) {
		/* RFC 9112 3.2.2: the target's authority wins over the Host field. */
		host.off = r->target_host_off;
		host.len = r->target_host_len;
		hh_set_host(out, s->buf, host, r->target_literal);
		out->from_target = true;
	} else if (r->have_host_field) {
		host.off = r->field_host_off;
		host.len = r->field_host_len;
		hh_set_host(out, s->buf, host, r->field_literal);
	}
	return HH_OK;
}

enum httphost_status
httphost_parse_resume(const uint8_t *buf, size_t len,
    struct httphost_resume *r, struct httphost *out)
{
	struct hh_scan	s = { buf, len, 0, false, 0, NULL };
	enum hh_step	st;
	size_t		from = r->pos;

	memset(out, 0, sizeof(*out));
	st = hh_head(&s, r, out);
	r->scanned += s.pos - from;
	switch (st) {
	case HH_MORE:
		memset(out, 0, sizeof(*out));
		return HTTPHOST_NEED_MORE;
	case HH_FAIL:
		/* On ERROR only status and error mean something. */
		memset(out, 0, sizeof(*out));
		out->status = s.status;
		out->error = s.error;
		return HTTPHOST_ERROR;
	case HH_OK:
		break;
	}
	out->head_len = s.pos;
	return HTTPHOST_DONE;
}

enum httphost_status
httphost_parse(const uint8_t *buf, size_t len, struct httphost *out)
{
	struct httphost_resume	r;

	memset(&r, 0, sizeof(r));
	return httphost_parse_resume(buf, len, &r, out);
}

const char *
httphost_status_str(enum httphost_status st)
{
	switch (st) {
	case HTTPHOST_NEED_MORE:
		return "need_more";
	case HTTPHOST_DONE:
		return "done";
	case HTTPHOST_ERROR:
		return "error";
	}
	return "unknown";
}

const char *
httphost_reason_phrase(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 414:
		return "URI Too Long";
	case 421:
		return "Misdirected Request";
	case 431:
		return "Request Header Fields Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}
