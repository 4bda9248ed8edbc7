/*
 * addrspec: the textual addresses of the configuration.  Listener syntax
 * follows the Go snid's (go-listener's): "tcp:PORT", "tcp:IPV4:PORT",
 * "tcp:[IPV6]:PORT", "unix:PATH", "fd:N", "fdname:NAME", optionally wrapped
 * in "proxy:" and "http:".  Everything is checked here, before any socket
 * exists, so that a typo is a start-up error naming the flag and not a
 * listener that quietly does something else.
 */
#include "snid/addrspec.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Parse a port: 1..5 decimal digits, 1..65535. */
static int
addrspec_port(const char *s, in_port_t *port)
{
	unsigned long	v = 0;
	size_t		n = strlen(s);

	if (n == 0 || n > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (in_port_t)v;
	return 0;
}

/* Copy s[0..n) into buf (bufsize bytes) as a string; -1 if it does not fit. */
static int
addrspec_copy(char *buf, size_t bufsize, const char *s, size_t n)
{
	if (n >= bufsize)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* Fill ss with addr:port; family chosen by the caller. */
static int
addrspec_ip(int family, const char *addr, in_port_t port,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in	*sin = (struct sockaddr_in *)(void *)ss;

		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*sslen = sizeof(*sin6);
	}
	return 0;
}

/* "PORT", "IPV4:PORT" or "[IPV6]:PORT" after "tcp:". */
static int
addrspec_tcp(const char *full, const char *s, struct listen_spec *out,
    char *err, size_t errlen)
{
	char		addr[INET6_ADDRSTRLEN + 1];
	const char	*colon, *portstr;
	in_port_t	port;
	int		family;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "%s: expected tcp:[IPV6]:PORT", full);
			return -1;
		}
		if (addrspec_copy(addr, sizeof(addr), s + 1, (size_t)(close - s - 1)) == -1) {
			snprintf(err, errlen, "%s: invalid IPv6 address", full);
			return -1;
		}
		family = AF_INET6;
		portstr = close + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(err, errlen,
			    "%s: an IPv6 address must be in brackets: tcp:[IPV6]:PORT", full);
			return -1;
		}
		if (addrspec_copy(addr, sizeof(addr), s, (size_t)(colon - s)) == -1) {
			snprintf(err, errlen, "%s: invalid IPv4 address", full);
			return -1;
		}
		family = AF_INET;
		portstr = colon + 1;
	} else {
		/* tcp:PORT: every address of both families, like go-listener. */
		family = AF_INET6;
		snprintf(addr, sizeof(addr), "::");
		portstr = s;
		out->any_family = true;
	}
	/*
	 * Port 0: the kernel picks one, and the "ready" line names it.  Not
	 * for tcp:0, whose two sockets would get two different ports.
	 */
	if (strcmp(portstr, "0") == 0 && !out->any_family)
		port = 0;
	else if (addrspec_port(portstr, &port) == -1) {
		snprintf(err, errlen, "%s: port must be a number 1..65535", full);
		return -1;
	}
	if (addrspec_ip(family, addr, port, &out->addr, &out->addrlen) == -1) {
		snprintf(err, errlen, "%s: invalid %s address", full,
		    family == AF_INET ? "IPv4" : "IPv6");
		return -1;
	}
	return 0;
}

/* systemd's fdname_is_valid(), minus the empty name: 1..255 of ASCII 32..126 without ':'. */
static bool
addrspec_fdname_valid(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s >= 127 || *s == ':')
			return false;
	return n >= 1 && n < ADDRSPEC_FDNAME_MAX;
}

/*
 * The "proxy:" and "http:" wrappers at the start of s (each at most once,
 * in either order).  Returns what follows them, or NULL with err set.
 */
static const char *
addrspec_wrappers(const char *s, struct listen_spec *l, char *err,
    size_t errlen)
{
	const char	*p = s;

	for (;;) {
		if (strncmp(p, "proxy:", 6) == 0) {
			if (l->proxy) {
				snprintf(err, errlen, "%s: proxy: given twice", s);
				return NULL;
			}
			l->proxy = true;
			p += 6;
		} else if (strncmp(p, "http:", 5) == 0) {
			if (l->http) {
				snprintf(err, errlen, "%s: http: given twice", s);
				return NULL;
			}
			l->http = true;
			p += 5;
		} else
			return p;
	}
}

/* "PATH" after "unix:"; s is the whole spec, for messages. */
static int
addrspec_unix(const char *s, const char *p, struct listen_spec *l, char *err,
    size_t errlen)
{
	if (*p == '\0') {
		snprintf(err, errlen, "%s: empty socket path", s);
		return -1;
	}
	/* sun_path must hold the path and its NUL. */
	if (addrspec_copy(l->path, sizeof(l->path), p, strlen(p)) == -1) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes", s,
		    sizeof(l->path) - 1);
		return -1;
	}
	return 0;
}

/* "N" after "fd:"; s is the whole spec, for messages. */
static int
addrspec_fd(const char *s, const char *p, struct listen_spec *l, char *err,
    size_t errlen)
{
	long	v = 0;

	if (*p == '\0' || strlen(p) > 10) {
		snprintf(err, errlen, "%s: fd must be a number", s);
		return -1;
	}
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			snprintf(err, errlen, "%s: fd must be a number", s);
			return -1;
		}
		v = v * 10 + (*p - '0');
	}
	/* 0, 1 and 2 are stdin, stdout and stderr, never a passed socket. */
	if (v < 3 || v > INT_MAX) {
		snprintf(err, errlen, "%s: fd must be 3 or more", s);
		return -1;
	}
	l->fd = (int)v;
	return 0;
}

/* "NAME" after "fdname:"; s is the whole spec, for messages. */
static int
addrspec_fdname(const char *s, const char *p, struct listen_spec *l,
    char *err, size_t errlen)
{
	if (!addrspec_fdname_valid(p)) {
		snprintf(err, errlen,
		    "%s: fd name must be 1..255 printable ASCII characters without ':'", s);
		return -1;
	}
	snprintf(l->fdname, sizeof(l->fdname), "%s", p);
	return 0;
}

int
addrspec_parse_listener(const char *s, struct listen_spec *out, char *err,
    size_t errlen)
{
	struct listen_spec	l;
	const char		*p;
	int			rc;

	memset(&l, 0, sizeof(l));
	l.fd = -1;
	if (addrspec_copy(l.text, sizeof(l.text), s, strlen(s)) == -1) {
		snprintf(err, errlen, "%.40s...: too long", s);
		return -1;
	}
	if ((p = addrspec_wrappers(s, &l, err, errlen)) == NULL)
		return -1;
	if (strncmp(p, "tcp:", 4) == 0) {
		l.kind = LISTEN_TCP;
		rc = addrspec_tcp(s, p + 4, &l, err, errlen);
	} else if (strncmp(p, "unix:", 5) == 0) {
		l.kind = LISTEN_UNIX;
		rc = addrspec_unix(s, p + 5, &l, err, errlen);
	} else if (strncmp(p, "fd:", 3) == 0) {
		l.kind = LISTEN_FD;
		rc = addrspec_fd(s, p + 3, &l, err, errlen);
	} else if (strncmp(p, "fdname:", 7) == 0) {
		l.kind = LISTEN_FDNAME;
		rc = addrspec_fdname(s, p + 7, &l, err, errlen);
	} else {
		snprintf(err, errlen,
		    "%s: unknown listener type (want tcp:, unix:, fd: or fdname:, optionally "
		    "after proxy: or http:)",
		    s);
		return -1;
	}
	if (rc == -1)
		return -1;
	*out = l;
	return 0;
}

int
addrspec_parse_hostport(const char *s, struct sockaddr_storage *out,
    socklen_t *outlen, char *err, size_t errlen)
{
	char		addr[INET6_ADDRSTRLEN + 1];
	const char	*colon, *portstr = NULL;
	in_port_t	port = 53;
	int		family;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			snprintf(err, errlen, "%s: expected [IPV6]:PORT", s);
			return -1;
		}
		if (addrspec_copy(addr, sizeof(addr), s + 1, (size_t)(close - s - 1)) == -1) {
			snprintf(err, errlen, "%s: invalid IPv6 address", s);
			return -1;
		}
		family = AF_INET6;
		if (close[1] == ':')
			portstr = close + 2;
	} else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':') != NULL) {
		/* Two colons or more: a bare IPv6 address, never with a port. */
		if (addrspec_copy(addr, sizeof(addr), s, strlen(s)) == -1) {
			snprintf(err, errlen, "%s: invalid IPv6 address", s);
			return -1;
		}
		family = AF_INET6;
	} else {
		size_t n = colon != NULL ? (size_t)(colon - s) : strlen(s);

		if (addrspec_copy(addr, sizeof(addr), s, n) == -1) {
			snprintf(err, errlen, "%s: invalid IPv4 address", s);
			return -1;
		}
		family = AF_INET;
		if (colon != NULL)
			portstr = colon + 1;
	}
	if (portstr != NULL && addrspec_port(portstr, &port) == -1) {
		snprintf(err, errlen, "%s: port must be a number 1..65535", s);
		return -1;
	}
	if (addrspec_ip(family, addr, port, out, outlen) == -1) {
		snprintf(err, errlen, "%s: invalid %s address", s,
		    family == AF_INET ? "IPv4" : "IPv6");
		return -1;
	}
	return 0;
}

void
addrspec_format(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t len)
{
	char	a[INET6_ADDRSTRLEN];

	if (sa == NULL || len == 0) {
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(sin6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)(const void *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = (size_t)salen > off ? (size_t)salen - off : 0;

		if (n > sizeof(sun->sun_path))
			n = sizeof(sun->sun_path);
		if (n == 0)
			snprintf(buf, len, "unix:");		/* unnamed (a connected peer) */
		else if (sun->sun_path[0] == '\0')		/* abstract: not NUL-terminated */
			snprintf(buf, len, "unix:@%.*s", (int)(n - 1), sun->sun_path + 1);
		else
			snprintf(buf, len,
			    "unix:%.*s", (int)strnlen(sun->sun_path, n), sun->sun_path);
	} else
		snprintf(buf, len, "?");
}
