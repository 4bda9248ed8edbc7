/*
 * httphost: the host an HTTP/1.x request is for, taken from its request head
 * (RFC 9112, RFC 9110), so that a plain-HTTP connection can be routed like a
 * TLS one by its SNI.
 *
 * Same contract as clienthello: the caller feeds every byte received so far
 * (from the start of the connection); the parser keeps no state between
 * calls, allocates nothing and never reads outside [buf, buf + len).  Every
 * byte is judged as it arrives, so a malformed head is refused on the
 * shortest prefix that shows it (a TLS ClientHello on its first byte) and a
 * prefix of a valid head is NEED_MORE.  Only the head is read; the caller
 * forwards every byte, head included, unchanged.
 */
#ifndef SNID_HTTPHOST_H
#define SNID_HTTPHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snid/hostname.h"

/*
 * Largest request head (request line, header fields, the empty line)
 * accepted.  Once this many bytes have arrived the parser has answered
 * DONE or ERROR, never NEED_MORE.
 */
#define HTTPHOST_MAX_HEAD	8192

/* The status codes the parser answers with on ERROR. */
#define HTTPHOST_STATUS_BAD_REQUEST		400
/* The request line did not end within the bound. */
#define HTTPHOST_STATUS_URI_TOO_LONG		414
#define HTTPHOST_STATUS_FIELDS_TOO_LARGE	431	/* RFC 6585 5: header section too large */
#define HTTPHOST_STATUS_VERSION_NOT_SUPPORTED	505	/* well-formed HTTP/x.y, not 1.0 or 1.1 */

enum httphost_status {
	HTTPHOST_NEED_MORE,	/* a valid prefix so far: feed more bytes */
	HTTPHOST_DONE,		/* a complete head: result filled */
	HTTPHOST_ERROR,		/* answer result->status, then close */
};

struct httphost {
	int		 status;	/* on ERROR: HTTPHOST_STATUS_* */
	const char	*error;		/* on ERROR: static reason for logs */

	int		 version_minor;	/* HTTP/1.<minor>: 0 or 1 */
	/*
	 * Whether the request names a host: a Host field or an absolute-form
	 * target.  Only HTTP/1.0 can be DONE without one; the router then
	 * uses -default-hostname or answers 400.
	 */
	bool		 has_host;
	/* The host comes from an absolute-form target (RFC 9112 3.2.2). */
	bool		 from_target;
	bool		 ip_literal;	/* "[...]" IPv6 literal (IPv4 ones show in name_error) */
	/*
	 * The host as sent, port removed (brackets of an IP literal kept):
	 * buf[host_off..+host_len).
	 */
	size_t		 host_off;
	size_t		 host_len;
	/*
	 * hostname_canonicalize() of the host: NULL when it is a routable
	 * name, then name holds the canonical form; else a static reason
	 * ("IPv4 literal", "invalid character", ...) and name is empty.  The
	 * router answers 400 when has_host && name_error.
	 */
	const char	*name_error;
	char		 name[HOSTNAME_MAX + 1];
	/* On DONE: bytes of buf the head spans, its final CRLF included. */
	size_t		 head_len;
};

/*
 * Parse buf[0..len).  Always fills *out (zeroed first).  Decisions beyond
 * the RFCs' MUSTs, all for a router that must see the request exactly as
 * the backend will:
 * - lines end in CRLF only; a bare LF or CR is 400 (RFC 9112 2.2 allows
 *   either choice for LF); empty lines before the request line are skipped
 *   (RFC 9112 2.2 SHOULD) and count in the head;
 * - request line: token SP target SP HTTP/1.0 or HTTP/1.1, single spaces,
 *   target of visible ASCII; another well-formed HTTP/d.d is 505;
 * - fields: token name, no whitespace before the colon (RFC 9112 5.1: 400),
 *   no obs-fold (RFC 9112 5.2: 400), values of VCHAR, SP, HTAB and
 *   obs-text; NUL and other control bytes are 400;
 * - Host: exactly one (two are 400, RFC 9112 3.2), required in HTTP/1.1;
 *   uri-host [":" port] with a port of at most 5 digits; an empty Host is
 *   400 (nothing to route); userinfo is 400;
 * - an absolute-form target's authority replaces Host (RFC 9112 3.2.2); its
 *   scheme must be http or https; the Host field must still be valid.
 * - a head not complete within HTTPHOST_MAX_HEAD bytes is 414 if the
 *   request line is not finished, else 431.
 */
enum httphost_status	httphost_parse(const uint8_t *buf, size_t len,
    struct httphost *out);

/*
 * Where a scan of a growing buffer can pick up again: the state at the
 * start of the first field line not yet complete.  Zero it before the
 * first call; the offsets are into the caller's buffer, which must only
 * ever grow at its end between calls.
 */
struct httphost_resume {
	size_t		pos;		/* where the next scan starts */
	size_t		target_host_off, target_host_len;
	size_t		field_host_off, field_host_len;
	size_t		scanned;	/* bytes examined over all calls (tests) */
	uint8_t		minor;
	bool		started;	/* the request line is complete */
	bool		is_abs;
	bool		target_literal;
	bool		have_host_field;
	bool		field_literal;
};

/*
 * httphost_parse() for a buffer that grows between calls: the same answer
 * for the same bytes, but each call scans only from the start of the line
 * it stopped in, so a head that arrives one line per segment costs O(n),
 * not O(n^2).  r must be the one passed with the shorter buffer before.
 */
enum httphost_status	httphost_parse_resume(const uint8_t *buf, size_t len,
    struct httphost_resume *r, struct httphost *out);

/* Short name of a status, for logs and tests. */
const char	*httphost_status_str(enum httphost_status st);

/* The reason phrase for a status code snid answers with ("Bad Request"), or "Error". */
const char	*httphost_reason_phrase(int status);

#endif
