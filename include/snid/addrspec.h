/*
 * addrspec: parsing of the textual addresses snid is configured with:
 * listener specifications and DNS server addresses.  Pure, no I/O.
 */
#ifndef SNID_ADDRSPEC_H
#define SNID_ADDRSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Long enough for every wrapper and the longest fdname or unix path. */
#define ADDRSPEC_TEXT_MAX	320
/* systemd's FDNAME_MAX (255) and the NUL. */
#define ADDRSPEC_FDNAME_MAX	256

enum listen_kind {
	LISTEN_TCP,		/* tcp:PORT, tcp:IPV4:PORT, tcp:[IPV6]:PORT */
	LISTEN_UNIX,		/* unix:PATH */
	LISTEN_FD,		/* fd:N (systemd socket activation, by number) */
	LISTEN_FDNAME,		/* fdname:NAME (systemd socket activation, by name) */
};

struct listen_spec {
	char			text[ADDRSPEC_TEXT_MAX];	/* as written, for logs */
	enum listen_kind	kind;
	bool			proxy;		/* proxy: wrapper, inbound PROXY protocol */
	bool			http;		/* http: wrapper, route by Host header */
	bool			any_family;	/* tcp:PORT: listen on IPv4 and IPv6 */
	/* LISTEN_TCP: address and port; for tcp:PORT the IPv6 wildcard [::]:PORT. */
	struct sockaddr_storage	addr;
	socklen_t		addrlen;
	char			path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int			fd;		/* LISTEN_FD */
	char			fdname[ADDRSPEC_FDNAME_MAX];	/* LISTEN_FDNAME */
};

/*
 * Parse a listener specification: "tcp:443", "tcp:192.0.2.1:443",
 * "tcp:[2001:db8::1]:443", "unix:/run/snid.sock", "fd:3", "fdname:https",
 * each optionally wrapped in "proxy:" and/or "http:" (in either order, each
 * at most once).  Returns 0, or -1 with a message in err.
 */
int	addrspec_parse_listener(const char *s, struct listen_spec *out,
	    char *err, size_t errlen);

/*
 * Parse a DNS server address: "IP", "IP:PORT" (IPv4), "[IPV6]:PORT" or a
 * bare IPv6 address; the port defaults to 53.  Returns 0, or -1 with a
 * message in err.
 */
int	addrspec_parse_hostport(const char *s, struct sockaddr_storage *out,
	    socklen_t *outlen, char *err, size_t errlen);

/* Text form of a socket address: "192.0.2.1:443", "[2001:db8::1]:443", "unix:PATH". */
void	addrspec_format(const struct sockaddr *sa, socklen_t salen, char *buf,
	    size_t len);

#endif
