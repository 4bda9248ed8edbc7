/*
 * diagnose: `snid -diagnose NAME` (see diagnose.h for the steps and their
 * words).  Runs instead of the daemon, with its configuration, and goes
 * the way a connection for NAME would: the same resolver (on a private
 * loop, run until the one lookup ends), the same allow-list, port and
 * self checks (dial.c), the same connect (dial_start_from, from the nat46
 * source in nat46 mode; dial_unix in unix mode), the PROXY header the
 * daemon would send, then a big ClientHello (diagnose_hello.c).  This file
 * has the steps up to the port; diagnose_net.c the rest.  Each step
 * says what it found and, when it fails, what to change.
 */
#include "snid/diagnose.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diagnose_int.h"
#include "snid/config.h"
#include "snid/dial.h"
#include "snid/log.h"
#include "snid/resolver.h"
#include "snid/sock.h"
#include "snid/util.h"
#include "snid/worker.h"

void
diagnose_line(struct diag *d, enum diag_level lv, const char *step,
    const char *fmt, ...)
{
	static const char *const	words[] = { "ok", "WARN", "FAIL" };
	va_list				ap;

	if (lv == DIAG_FAIL)
		d->failed = true;
	fprintf(d->out, "%-4s %s: ", words[lv], step);
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
	fflush(d->out);
}

/* The address alone ("2001:db8::1", "192.0.2.1"), for messages. */
const char *
diagnose_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	const void	*a = sa->sa_family == AF_INET ?
			    (const void *)&((const struct sockaddr_in *)
			    (const void *)sa)->sin_addr :
			    (const void *)&((const struct sockaddr_in6 *)
			    (const void *)sa)->sin6_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

/* Step name: the name as the daemon would take it from an SNI. */
static bool
diag_name(struct diag *d)
{
	const char	*why;

	why = hostname_canonicalize(d->cfg->diagnose, strlen(d->cfg->diagnose),
	    d->name);
	if (why != NULL) {
		diagnose_line(d, DIAG_FAIL, "name", "%s is not a valid host name "
		    "(%s): snid refuses it (outcome bad-name); clients must "
		    "ask for a DNS name", d->shown, why);
		return false;
	}
	diagnose_line(d, DIAG_OK, "name", "%s is a valid host name", d->name);
	return true;
}

/* snid's listeners as the configuration names them (none is open here). */
static void
diag_self_build(struct diag *d)
{
	const struct config	*cfg = d->cfg;
	union sockaddr_inet	 any;
	size_t			 i;

	for (i = 0; i < cfg->n_listeners; i++) {
		const struct listen_spec	*l = &cfg->listeners[i];

		if (l->kind != LISTEN_TCP)
			continue;
		if (l->any_family) {
			memset(&any, 0, sizeof(any));
			any.in.sin_family = AF_INET;
			sock_addr_set_port(&any.sa,
			    sock_addr_port((const struct sockaddr *)&l->addr));
			dial_self_add_listen(&d->self, &any.sa, false);
		}
		dial_self_add_listen(&d->self, (const struct sockaddr *)&l->addr,
		    l->addr.ss_family == AF_INET6 && !l->any_family);
	}
	if (dial_self_load_host(&d->self) == -1)
		log_warn("getifaddrs: %s", strerror(errno));
}

/*
 * Whether some listener is not a tcp: one (systemd's socket, a unix one
 * behind a local proxy: where clients connect is unknown here), or
 * proxy: (behind a load balancer, which the A record names instead).
 */
static bool
diag_has_other_listeners(const struct config *cfg, bool proxy)
{
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (proxy ? cfg->listeners[i].proxy :
		    cfg->listeners[i].kind != LISTEN_TCP)
			return true;
	return false;
}

/* The backend port: -backend-port, else the first tcp: listener's. */
static const char *
diag_pick_port(struct diag *d)
{
	size_t	i;

	d->port = d->cfg->backend_port;
	if (d->port != 0)
		return "-backend-port";
	for (i = 0; i < d->self.n_listen; i++) {
		d->port = sock_addr_port(&d->self.listen[i].addr.sa);
		if (d->port != 0)
			return "the port clients connect to, -listen";
	}
	d->port = 443;
	return "assumed: -backend-port is unset and no -listen names a port";
}

static void
diag_resolved(void *arg, const struct resolver_result *res)
{
	struct diag_dns	*q = arg;

	q->done = true;
	q->status = res->status;
	q->timeout = res->timeout;
	snprintf(q->detail, sizeof(q->detail), "%s",
	    res->detail != NULL ? res->detail : "");
	q->n = res->n < DIAG_MAX_ADDRS ? res->n : DIAG_MAX_ADDRS;
	memcpy(q->addrs, res->addrs, q->n * sizeof(q->addrs[0]));
	if (q->loop != NULL)
		ev_break(q->loop, EVBREAK_ALL);
}

static void
diag_guard_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* The AAAA and A lookup of d->name through the daemon's resolver. */
static int
diag_lookup(struct diag *d, struct diag_dns *q)
{
	static struct worker	 w;	/* the resolver's context: loop, cfg */
	struct resolver		*r;
	struct resolver_result	 now;
	struct lookup		*l;
	ev_timer		 guard;

	memset(q, 0, sizeof(*q));
	q->addrs = d->addrs;
	memset(&w, 0, sizeof(w));
	w.cfg = d->cfg;
	w.loop = ev_loop_new(EVFLAG_AUTO);
	if (w.loop == NULL)
		return -1;
	r = resolver_new(&w);
	if (r == NULL) {
		ev_loop_destroy(w.loop);
		return -1;
	}
	w.resolver = r;
	l = resolver_lookup(r, d->name, true, diag_resolved, q, &now);
	if (l == NULL)
		diag_resolved(q, &now);
	else {
		q->loop = w.loop;
		/* c-ares gives up within -dns-timeout; this is a backstop. */
		ev_timer_init(&guard, diag_guard_cb, d->cfg->dns_timeout + 2.,
		    0.);
		ev_timer_start(w.loop, &guard);
		ev_run(w.loop, 0);
		ev_timer_stop(w.loop, &guard);
		if (!q->done)
			resolver_cancel(l);
	}
	resolver_free(r);
	ev_loop_destroy(w.loop);
	d->n = q->n;
	return q->done ? 0 : -1;
}

/* The DNS servers snid asks, for messages. */
static void
diag_servers(const struct config *cfg, char *buf, size_t len)
{
	char	a[SOCK_ADDR_TEXT_MAX];
	size_t	i, at = 0;

	if (cfg->n_dns_servers == 0) {
		snprintf(buf, len, "the servers of /etc/resolv.conf");
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < cfg->n_dns_servers && at < len; i++) {
		sock_addr_format((const struct sockaddr *)&cfg->dns_servers[i],
		    a, sizeof(a));
		at += (size_t)snprintf(buf + at, len - at, "%s%s",
		    i > 0 ? ", " : "", a);
	}
}

/* Append one address (alone) to a list in buf. */
static void
diag_list_add(char *buf, size_t len, const struct sockaddr *sa)
{
	char	a[INET6_ADDRSTRLEN];
	size_t	at = strlen(buf);

	if (at < len)
		snprintf(buf + at, len - at, "%s%s", at > 0 ? ", " : "",
		    diagnose_addr(sa, a, sizeof(a)));
}

/* Step dns.  False: nothing to go on with. */
static bool
diag_dns(struct diag *d)
{
	struct diag_dns	q;
	char		srv[DIAG_TEXT], six[DIAG_TEXT] = "", four[DIAG_TEXT] = "";
	size_t		i;

	diag_servers(d->cfg, srv, sizeof(srv));
	if (diag_lookup(d, &q) == -1) {
		diagnose_line(d, DIAG_FAIL, "dns", "no answer for %s from %s "
		    "within %.3gs: check -dns-server and that the server "
		    "answers", d->name, srv, d->cfg->dns_timeout);
		return false;
	}
	if (q.status == RESOLVER_NXDOMAIN) {
		diagnose_line(d, DIAG_FAIL, "dns", "%s has neither an AAAA nor an "
		    "A record (%s, from %s): create them", d->name, q.detail,
		    srv);
		return false;
	}
	if (q.status != RESOLVER_OK) {
		diagnose_line(d, DIAG_FAIL, "dns", "the lookup of %s failed: %s "
		    "(from %s): check -dns-server and the zone", d->name,
		    q.detail, srv);
		return false;
	}
	for (i = 0; i < d->n; i++)
		diag_list_add(d->addrs[i].sa.sa_family == AF_INET6 ? six :
		    four, DIAG_TEXT, &d->addrs[i].sa);
	diagnose_line(d, DIAG_OK, "dns", "%s: AAAA %s; A %s (from %s)", d->name,
	    six[0] != '\0' ? six : "none", four[0] != '\0' ? four : "none",
	    srv);
	return true;
}

/* Whether sa (IPv4) is one of the host's addresses, or loopback. */
static bool
diag_host_has(const struct diag *d, const struct sockaddr_in *sin)
{
	size_t	i;

	if (((const uint8_t *)&sin->sin_addr)[0] == 127)
		return true;
	for (i = 0; i < d->self.n_local; i++)
		if (d->self.local[i].sa.sa_family == AF_INET &&
		    d->self.local[i].in.sin_addr.s_addr == sin->sin_addr.s_addr)
			return true;
	return false;
}

/* The host's IPv4 addresses (not loopback) into buf; whether one is public. */
static bool
diag_host_v4(const struct diag *d, char *buf, size_t len)
{
	bool	pub = false;
	size_t	i;

	buf[0] = '\0';
	for (i = 0; i < d->self.n_local; i++) {
		const struct sockaddr_in *s = &d->self.local[i].in;

		if (s->sin_family != AF_INET ||
		    ((const uint8_t *)&s->sin_addr)[0] == 127)
			continue;
		diag_list_add(buf, len, &d->self.local[i].sa);
		pub |= !diagnose_ipv4_private(s->sin_addr.s_addr);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
	return pub;
}

/* Whether a listener takes IPv4 connections to a (on any of its ports). */
static bool
diag_listens_on(const struct diag *d, const struct sockaddr_in *a)
{
	union sockaddr_inet	to;
	size_t			i;

	for (i = 0; i < d->self.n_listen; i++) {
		memset(&to, 0, sizeof(to));
		to.in = *a;
		to.in.sin_port = 0;
		sock_addr_set_port(&to.sa,
		    sock_addr_port(&d->self.listen[i].addr.sa));
		if (dial_self_match(&d->self, &to.sa))
			return true;
	}
	return false;
}

/* The verdict on one A address; msg says why. */
static enum diag_level
diag_a_one(const struct diag *d, const struct sockaddr_in *a, char *msg,
    size_t len)
{
	char	txt[INET6_ADDRSTRLEN], host[DIAG_TEXT];
	bool	pub = diag_host_v4(d, host, sizeof(host));

	diagnose_addr((const struct sockaddr *)a, txt, sizeof(txt));
	if (diag_listens_on(d, a)) {
		snprintf(msg, len, "%s is an address of this host and snid "
		    "listens there", txt);
		return DIAG_OK;
	}
	if (diag_host_has(d, a) && diag_has_other_listeners(d->cfg, false)) {
		snprintf(msg, len, "%s is an address of this host (the "
		    "fd:, fdname: and unix: listeners are not checked)", txt);
		return DIAG_OK;
	}
	if (diag_host_has(d, a)) {
		snprintf(msg, len, "%s is an address of this host, but no "
		    "-listen takes connections to it: listen on it (or on "
		    "tcp:443)", txt);
		return DIAG_FAIL;
	}
	if (diag_has_other_listeners(d->cfg, true)) {
		snprintf(msg, len, "%s is not an address of this host (%s): "
		    "right if it is the load balancer in front of snid's "
		    "proxy: listener; if not, point the A record at this host",
		    txt, host);
		return DIAG_WARN;
	}
	if (!pub && !diagnose_ipv4_private(a->sin_addr.s_addr)) {
		snprintf(msg, len, "%s is not an address of this host (%s); "
		    "this host has private addresses only, so it may sit "
		    "behind a 1:1 NAT that maps %s to it: if not, IPv4 clients "
		    "never reach snid: point the A record at this host", txt,
		    host, txt);
		return DIAG_WARN;
	}
	snprintf(msg, len, "%s is not an address of this host (%s): IPv4 "
	    "clients never reach snid: point the A record at this host",
	    txt, host);
	return DIAG_FAIL;
}

/* Step a: the A records lead IPv4 clients to snid. */
static void
diag_a(struct diag *d)
{
	enum diag_level	worst = DIAG_OK, lv;
	char		msg[DIAG_TEXT * 2], worst_msg[DIAG_TEXT * 2];
	char		oks[DIAG_TEXT] = "", host[DIAG_TEXT];
	size_t		i, n = 0;

	for (i = 0; i < d->n; i++) {
		const union sockaddr_inet *a = &d->addrs[i];

		if (a->sa.sa_family != AF_INET)
			continue;
		/* An IPv4 backend, not an address of snid's. */
		if (d->cfg->mode == MODE_TCP && dial_allowed(d->cfg, &a->sa))
			continue;
		n++;
		lv = diag_a_one(d, &a->in, msg, sizeof(msg));
		if (lv == DIAG_OK)
			diag_list_add(oks, sizeof(oks), &a->sa);
		if (lv > worst || n == 1) {
			worst = lv > worst ? lv : worst;
			snprintf(worst_msg, sizeof(worst_msg), "%s", msg);
		}
	}
	if (n == 0) {
		diag_host_v4(d, host, sizeof(host));
		diagnose_line(d, DIAG_FAIL, "a", "%s has no A record for snid: IPv4 "
		    "clients cannot find it: add one with this host's address "
		    "(%s)", d->name, host);
	} else if (worst == DIAG_OK && n > 1)
		diagnose_line(d, DIAG_OK, "a", "%s: each of %s is an address of "
		    "this host and snid listens there", d->name, oks);
	else
		diagnose_line(d, worst, "a", "%s: %s", d->name, worst_msg);
}

/* -backend-cidr as text. */
static void
diag_cidrs(const struct config *cfg, char *buf, size_t len)
{
	char	c[CIDR_STRLEN];
	size_t	i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < cfg->n_backend_cidrs && at < len; i++) {
		cidr_format(&cfg->backend_cidrs[i], c, sizeof(c));
		at += (size_t)snprintf(buf + at, len - at, "%s%s",
		    i > 0 ? " " : "", c);
	}
}

/* Step aaaa: the backend addresses, allowed and not snid itself. */
static bool
diag_backends(struct diag *d)
{
	char		cidrs[DIAG_TEXT], bad[DIAG_TEXT] = "", ok[DIAG_TEXT] = "";
	char		selfs[DIAG_TEXT] = "";
	size_t		i, n = 0, nbad = 0;

	diag_cidrs(d->cfg, cidrs, sizeof(cidrs));
	for (i = 0; i < d->n; i++) {
		union sockaddr_inet	a = d->addrs[i];

		/* An A record outside -backend-cidr is snid's (step a). */
		if (a.sa.sa_family == AF_INET && (d->cfg->mode != MODE_TCP ||
		    !dial_allowed(d->cfg, &a.sa)))
			continue;
		n++;
		sock_addr_set_port(&a.sa, d->port);
		if (!dial_allowed(d->cfg, &a.sa)) {
			diag_list_add(bad, sizeof(bad), &a.sa);
			nbad++;
		}
		else if (dial_self_match(&d->self, &a.sa))
			diag_list_add(selfs, sizeof(selfs), &a.sa);
		else {
			diag_list_add(ok, sizeof(ok), &a.sa);
			d->cand[d->ncand++] = a;
		}
	}
	if (n == 0) {
		diagnose_line(d, DIAG_FAIL, "aaaa", "%s has no AAAA record: add one "
		    "with the backend's address, inside -backend-cidr %s",
		    d->name, cidrs);
		return false;
	}
	if (selfs[0] != '\0')
		diagnose_line(d, d->ncand > 0 ? DIAG_WARN : DIAG_FAIL, "aaaa",
		    "%s port %u is snid itself (one of its listeners): point "
		    "the AAAA record at the backend", selfs, d->port);
	if (bad[0] != '\0')
		diagnose_line(d, d->ncand > 0 ? DIAG_WARN : DIAG_FAIL, "aaaa",
		    "%s %s outside -backend-cidr %s: %s", bad,
		    nbad > 1 ? "are" : "is", cidrs,
		    d->ncand > 0 ? "snid skips it: fix the record" :
		    "fix the AAAA record or add the prefix");
	if (d->ncand > 0)
		diagnose_line(d, DIAG_OK, "aaaa", "%s %s inside -backend-cidr %s",
		    ok, d->ncand > 1 ? "are" : "is", cidrs);
	return d->ncand > 0;
}

/* Step port: the backend port is one snid may connect to. */
static bool
diag_port(struct diag *d, const char *why)
{
	char	ports[PORTSET_STRLEN];

	portset_format(&d->cfg->backend_ports, ports, sizeof(ports));
	if (!dial_port_allowed(d->cfg, &d->self, d->port)) {
		diagnose_line(d, DIAG_FAIL, "port", "%u (%s) is not in "
		    "-backend-ports %s: add it there, or change the port",
		    d->port, why, ports);
		return false;
	}
	diagnose_line(d, DIAG_OK, "port", "%u (%s) is allowed%s%s", d->port, why,
	    ports[0] != '\0' ? " by -backend-ports " : "", ports);
	return true;
}

/* The backend path of tcp and nat46 modes, from the lookup on. */
static int
diag_tcp(struct diag *d)
{
	const char	*why = diag_pick_port(d);

	if (!diag_dns(d))
		return -1;
	diag_a(d);
	if (!diag_backends(d) || !diag_port(d, why))
		return -1;
	if (d->cfg->mode == MODE_NAT46 && !diagnose_nat46(d))
		return -1;
	return diagnose_connect(d);
}

int
diagnose_run(const struct config *cfg)
{
	static struct diag	d;
	int			fd = -1;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.out = stdout;
	log_sanitize(cfg->diagnose, strlen(cfg->diagnose), d.shown,
	    sizeof(d.shown));
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		log_error("ares_library_init failed");
		return 1;
	}
	/* A backend that goes away shows up as EPIPE, not as a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (!diag_name(&d))
		goto out;
	diag_self_build(&d);
	if (cfg->mode != MODE_UNIX)
		fd = diag_tcp(&d);
	else {
		/* No DNS for the backend; the A records still bring clients. */
		if (diag_dns(&d))
			diag_a(&d);
		fd = diagnose_unix(&d);
	}
	if (fd != -1)
		diagnose_hello(&d, fd);
out:
	util_close(fd);
	dial_self_clear(&d.self);
	ares_library_cleanup();
	return d.failed ? 1 : 0;
}
