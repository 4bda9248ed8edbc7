/*
 * diagnose_int.h: what diagnose.c (name, DNS, A, allow-list, port) and
 * diagnose_net.c (nat46 prefix, route, connect, hello) share.  Not for
 * other modules: diagnose.h is the interface.
 */
#ifndef SNID_DIAGNOSE_INT_H
#define SNID_DIAGNOSE_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "snid/config.h"
#include "snid/dial.h"
#include "snid/log.h"
#include "snid/resolver.h"
#include "snid/sock.h"

#define DIAG_MAX_ADDRS	(2 * RESOLVER_MAX_ADDRS)
#define DIAG_TEXT	512		/* a list of addresses or prefixes */
/* The nat46 source's IPv4 part: a documentation address (RFC 5737). */
#define DIAG_NAT46_CLIENT	"192.0.2.1"

enum diag_level { DIAG_OK, DIAG_WARN, DIAG_FAIL };

struct diag {
	const struct config	*cfg;
	FILE			*out;
	bool			 failed;
	char			 shown[LOG_SNI_MAX + 1];	/* NAME, printable */
	char			 name[HOSTNAME_MAX + 1];	/* canonical */
	struct dial_self	 self;		/* listeners (from cfg), host */
	uint16_t		 port;		/* the backend port */
	/* The lookup's answer. */
	size_t			 n;
	union sockaddr_inet	 addrs[DIAG_MAX_ADDRS];
	/* The backend addresses snid would try, in order. */
	size_t			 ncand;
	union sockaddr_inet	 cand[DIAG_MAX_ADDRS];
};

/* One lookup on a private loop. */
struct diag_dns {
	struct ev_loop		*loop;
	bool			 done;
	enum resolver_status	 status;
	bool			 timeout;
	char			 detail[128];
	size_t			 n;
	union sockaddr_inet	*addrs;		/* room for DIAG_MAX_ADDRS */
};

/* One line "LEVEL STEP: text" on d->out; a FAIL marks d failed. */
__attribute__((format(printf, 4, 5)))
void		 diagnose_line(struct diag *d, enum diag_level lv,
		    const char *step, const char *fmt, ...);
/* The address of sa alone ("2001:db8::1"), for messages; returns buf. */
const char	*diagnose_addr(const struct sockaddr *sa, char *buf, size_t len);

/* Step nat46; false after a FAIL. */
bool		 diagnose_nat46(struct diag *d);
/* Steps route and connect over d->cand, as the daemon tries them: the socket, or -1. */
int		 diagnose_connect(struct diag *d);
/* unix mode: steps socket and connect: the socket, or -1. */
int		 diagnose_unix(struct diag *d);
/* Step hello on the connected socket fd. */
void		 diagnose_hello(struct diag *d, int fd);

#endif
