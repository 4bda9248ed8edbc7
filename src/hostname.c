/*
 * hostname: the one place that decides whether a name taken from an SNI, a
 * Host header or the configuration is a host name snid will route, and what
 * its canonical spelling is.  Everything downstream (DNS query, unix socket
 * path, log line) uses only the canonical form, so the rules here are also
 * what makes "DIR/<name>" safe in unix mode: no '/', no empty label (so no
 * "." or ".." path component), no NUL, nothing outside printable ASCII.
 */
#include "snid/hostname.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#define HOSTNAME_LABEL_MAX	63

/* The characters a label may hold: LDH plus '_' (used by SRV-style and wildcard-file names). */
static bool
hostname_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Whether in[0..len) is an IPv6 literal, bare or in brackets.  Only called
 * for input holding a ':', which can never be part of a valid name, so this
 * merely picks the more helpful refusal reason.
 */
static bool
hostname_is_ipv6_literal(const char *in, size_t len)
{
	char		buf[INET6_ADDRSTRLEN + 2];
	struct in6_addr	a;

	if (len >= 2 && in[0] == '[' && in[len - 1] == ']') {
		in++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, in, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Refusals that look at the raw input as a whole, before any label rule. */
static const char *
hostname_check_raw(const char *in, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		/* Checked over the whole input first so that a NUL cannot hide what follows it. */
		if (c == '\0')
			return "NUL character";
		if (c >= 0x80)
			return "non-ASCII character";
	}
	if (memchr(in, ':', len) != NULL || in[0] == '[')
		return hostname_is_ipv6_literal(in, len) ?
		    "IPv6 literal" : "invalid character";
	return NULL;
}

/*
 * Refuse anything inet_aton(3) would take for an IPv4 address ("127.1",
 * "0x7f000001", "017700000001"): a resolver library or a backend might treat
 * such a name as an address and bypass DNS.  Also refuse every name whose
 * last label (name[last..len)) is all digits ("192.0.2.1", "3232235777",
 * "host.123"): no top-level domain is numeric (RFC 3696 2), so such a name
 * is always an address or a mistake.
 */
static const char *
hostname_check_numeric(const char *name, size_t last, size_t len)
{
	struct in_addr	a4;
	size_t		i;

	if (inet_aton(name, &a4) != 0)
		return "IPv4 literal";
	for (i = last; i < len; i++)
		if (name[i] < '0' || name[i] > '9')
			return NULL;
	return "numeric top-level label";
}

const char *
hostname_canonicalize(const char *in, size_t len, char out[HOSTNAME_MAX + 1])
{
	size_t		i, label = 0, last = 0;
	const char	*why;

	out[0] = '\0';
	if (len == 0)
		return "empty";
	if ((why = hostname_check_raw(in, len)) != NULL)
		return why;

	/* An absolute name ("example.com.") means the same: drop exactly one dot. */
	if (in[len - 1] == '.')
		len--;
	if (len == 0)
		return "empty";
	if (len > HOSTNAME_MAX)
		return "too long";

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.') {
			if (label == 0)
				goto empty_label;
			if (in[i - 1] == '-')
				goto hyphen_edge;
			label = 0;
			last = i + 1;
		} else if (c == '-' && label == 0) {
			goto hyphen_edge;
		} else if (!hostname_label_char(c)) {
			out[0] = '\0';
			return "invalid character";
		} else if (++label > HOSTNAME_LABEL_MAX) {
			out[0] = '\0';
			return "label longer than 63";
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
	}
	if (label == 0)
		goto empty_label;
	if (in[len - 1] == '-')
		goto hyphen_edge;
	out[len] = '\0';
	if ((why = hostname_check_numeric(out, last, len)) != NULL) {
		out[0] = '\0';
		return why;
	}
	return NULL;

empty_label:
	out[0] = '\0';
	return "empty label";

	/*
	 * RFC 952 and RFC 1123 2.1: a label neither starts nor ends with a
	 * hyphen.  No registry hands out such a name, so one in an SNI is a
	 * probe; refusing it here keeps it away from the resolver.
	 */
hyphen_edge:
	out[0] = '\0';
	return "label starts or ends with '-'";
}
