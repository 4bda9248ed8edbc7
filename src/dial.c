/*
 * dial: allow-list check (which also refuses snid's own listening
 * addresses, see struct dial_self) and non-blocking connect; the nat46
 * source address; unix-mode socket paths.
 */
#include "snid/dial.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "snid/cidr.h"
#include "snid/hostaddr.h"
#include "snid/hostname.h"
#include "snid/log.h"
#include "snid/sock.h"
#include "snid/util.h"

bool
dial_allowed(const struct config *cfg, const struct sockaddr *sa)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	return cidr_list_match(cfg->backend_cidrs, cfg->n_backend_cidrs, sa) &&
	    !cidr_addr_forbidden(sa);
}

bool
dial_port_allowed(const struct config *cfg, const struct dial_self *self,
    uint16_t port)
{
	if (port == 0)
		return false;
	if (cfg->backend_ports.n > 0)
		return portset_contains(&cfg->backend_ports, port);
	/*
	 * The default: the ports snid serves itself.  A backend behind snid
	 * answers where snid does (443, 8443 ...), and a name resolved to
	 * any other port (an SRV target, a PROXY header's destination) is
	 * the way into a home network's other services.
	 */
	if (port == cfg->backend_port)
		return true;
	if (self == NULL)
		return false;
	for (size_t i = 0; i < self->n_listen; i++)
		if (sock_addr_port(&self->listen[i].addr.sa) == port)
			return true;
	return false;
}

/* The port check, with a debug line naming what was refused. */
static bool
dial_port_refuse(const struct config *cfg, const struct dial_self *self,
    const struct sockaddr *sa)
{
	char	txt[SOCK_ADDR_TEXT_MAX];

	if (dial_port_allowed(cfg, self, sock_addr_port(sa)))
		return false;
	sock_addr_format(sa, txt, sizeof(txt));
	log_debug("backend %s: port not in -backend-ports", txt);
	return true;
}

void
dial_self_clear(struct dial_self *self)
{
	free(self->listen);
	free(self->local);
	free(self->unix_listen);
	self->listen = NULL;
	self->n_listen = 0;
	self->unix_listen = NULL;
	self->n_unix_listen = 0;
	self->local = NULL;
	self->n_local = 0;
}

/* sa's address only (port 0, no scope), or false when sa is not IP. */
static bool
dial_addr_only(const struct sockaddr *sa, union sockaddr_inet *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		out->in.sin_family = AF_INET;
		out->in.sin_addr = ((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_addr = ((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr;
	} else
		return false;
	return true;
}

void
dial_self_add_listen(struct dial_self *self, const struct sockaddr *sa,
    bool v6only)
{
	struct dial_listen	*l;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return;
	self->listen = xrealloc(self->listen, (self->n_listen + 1) *
	    sizeof(*self->listen));
	l = &self->listen[self->n_listen++];
	memset(l, 0, sizeof(*l));
	memcpy(&l->addr, sa, sock_addr_len(sa));
	l->v6only = v6only;
}

/* A unix listener: remember its socket file's identity. */
static int
dial_self_add_unix(struct dial_self *self, int fd)
{
	struct sockaddr_un	sun;
	socklen_t		len = sizeof(sun);
	struct stat		st;

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1)
		return -1;
	/* Abstract (leading NUL) and unnamed sockets have no file to reach. */
	if (len <= offsetof(struct sockaddr_un, sun_path) ||
	    sun.sun_path[0] == '\0' || stat(sun.sun_path, &st) == -1 ||
	    !S_ISSOCK(st.st_mode))
		return 0;
	self->unix_listen = xrealloc(self->unix_listen,
	    (self->n_unix_listen + 1) * sizeof(*self->unix_listen));
	self->unix_listen[self->n_unix_listen].dev = st.st_dev;
	self->unix_listen[self->n_unix_listen].ino = st.st_ino;
	self->n_unix_listen++;
	return 0;
}

int
dial_self_add_fd(struct dial_self *self, int fd)
{
	union sockaddr_inet	a;
	socklen_t		len = sizeof(a);
	int			v6only = 0;
	socklen_t		olen = sizeof(v6only);

	memset(&a, 0, sizeof(a));
	if (getsockname(fd, &a.sa, &len) == -1)
		return -1;
	if (a.sa.sa_family == AF_UNIX)
		return dial_self_add_unix(self, fd);
	if (a.sa.sa_family == AF_INET6 && getsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &v6only, &olen) == -1)
		return -1;
	dial_self_add_listen(self, &a.sa, v6only != 0);
	return 0;
}

void
dial_self_add_local(struct dial_self *self, const struct sockaddr *sa)
{
	union sockaddr_inet	a;

	if (!dial_addr_only(sa, &a))
		return;
	self->local = xrealloc(self->local, (self->n_local + 1) *
	    sizeof(*self->local));
	self->local[self->n_local++] = a;
}

static void
dial_self_add_host(void *arg, const struct sockaddr *sa)
{
	dial_self_add_local(arg, sa);
}

int
dial_self_load_host(struct dial_self *self)
{
	free(self->local);
	self->local = NULL;
	self->n_local = 0;
	return hostaddr_each(dial_self_add_host, self) == -1 ? -1 : 0;
}

/*
 * The address of sa as (family, bytes): an IPv4-mapped IPv6 address as the
 * IPv4 one, since connect() to ::ffff:a.b.c.d reaches an IPv4 listener.
 */
static int
dial_norm(const struct sockaddr *sa, const uint8_t **bytes)
{
	const struct sockaddr_in6	*s6;

	if (sa->sa_family == AF_INET) {
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		return AF_INET;
	}
	s6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		*bytes = &s6->sin6_addr.s6_addr[12];
		return AF_INET;
	}
	*bytes = s6->sin6_addr.s6_addr;
	return AF_INET6;
}

/* Whether the address (fam, b) is the host's: loopback, or one getifaddrs named. */
static bool
dial_host_has(const struct dial_self *self, int fam, const uint8_t *b)
{
	static const uint8_t	v6_loopback[16] = { [15] = 1 };
	size_t			alen = fam == AF_INET ? 4 : 16;

	if (fam == AF_INET ? b[0] == 127 : memcmp(b, v6_loopback, 16) == 0)
		return true;
	for (size_t i = 0; i < self->n_local; i++) {
		const uint8_t	*lb;

		if (dial_norm(&self->local[i].sa, &lb) == fam &&
		    memcmp(lb, b, alen) == 0)
			return true;
	}
	return false;
}

bool
dial_self_match(const struct dial_self *self, const struct sockaddr *sa)
{
	const uint8_t	*b, *lb;
	int		 fam;
	uint16_t	 port;

	if (self == NULL || (sa->sa_family != AF_INET &&
	    sa->sa_family != AF_INET6))
		return false;
	fam = dial_norm(sa, &b);
	port = sock_addr_port(sa);
	for (size_t i = 0; i < self->n_listen; i++) {
		const struct dial_listen	*l = &self->listen[i];
		const struct sockaddr		*la = &l->addr.sa;
		static const uint8_t		 any[16];
		int				 lfam;

		if (sock_addr_port(la) != port)
			continue;
		lfam = dial_norm(la, &lb);
		if (memcmp(lb, any, lfam == AF_INET ? 4 : 16) == 0) {
			/*
			 * A wildcard listener takes connections to every
			 * address of the host in its family; an :: socket
			 * without IPV6_V6ONLY also those to IPv4 ones.
			 */
			if (lfam == AF_INET6 && fam == AF_INET && l->v6only)
				continue;
			if (lfam == AF_INET && fam != AF_INET)
				continue;
			if (dial_host_has(self, fam, b))
				return true;
			continue;
		}
		if (lfam == fam && memcmp(lb, b, fam == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

/*
 * Say that backend txt is one of snid's own listeners (at most one line a
 * second: every connection for the name would repeat it).  The bound is
 * the process's, as the log is: every worker's refusals count against it.
 */
static int64_t	dial_warn_last_ms;	/* atomic; CLOCK_MONOTONIC ms, 0: never */
static uint64_t	dial_warn_suppressed;	/* atomic */

static void
dial_self_warn(const char *txt)
{
	struct timespec	ts;
	int64_t		now, last;
	uint64_t	n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
	last = __atomic_load_n(&dial_warn_last_ms, __ATOMIC_RELAXED);
	if ((last != 0 && now - last < 1000) ||
	    !__atomic_compare_exchange_n(&dial_warn_last_ms, &last, now, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		(void)__atomic_add_fetch(&dial_warn_suppressed, 1,
		    __ATOMIC_RELAXED);
		return;
	}
	n = __atomic_exchange_n(&dial_warn_suppressed, 0, __ATOMIC_RELAXED);
	if (n > 0)
		log_warn("backend %s is snid's own listener: refused, it would "
		    "connect to itself (%llu more such refusals not logged)", txt,
		    (unsigned long long)n);
	else
		log_warn("backend %s is snid's own listener: refused, it would "
		    "connect to itself", txt);
}

/* Whether sa is one of snid's own listeners; if so, say so. */
static bool
dial_self_refuse(struct dial_self *self, const struct sockaddr *sa)
{
	char	txt[SOCK_ADDR_TEXT_MAX];

	if (!dial_self_match(self, sa))
		return false;
	sock_addr_format(sa, txt, sizeof(txt));
	dial_self_warn(txt);
	return true;
}

/* Same address and port (scope ids are never set on resolved addresses). */
static bool
dial_same(const union sockaddr_inet *a, const union sockaddr_inet *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	return memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
}

size_t
dial_candidates(const struct config *cfg, struct dial_self *self,
    const union sockaddr_inet *in, size_t n, uint16_t port,
    union sockaddr_inet *out)
{
	size_t	i, j, k = 0;

	for (i = 0; i < n; i++) {
		union sockaddr_inet	a;

		if (!dial_addr_only(&in[i].sa, &a))
			continue;
		sock_addr_set_port(&a.sa, port);
		/* Checked as built: this is the sockaddr connect() will get. */
		if (!dial_allowed(cfg, &a.sa) ||
		    dial_port_refuse(cfg, self, &a.sa) ||
		    dial_self_refuse(self, &a.sa))
			continue;
		for (j = 0; j < k; j++)
			if (dial_same(&out[j], &a))
				break;
		if (j == k)
			out[k++] = a;
	}
	return k;
}

int
dial_start(const struct config *cfg, struct dial_self *self,
    const union sockaddr_inet *to)
{
	return dial_start_from(cfg, self, to, NULL);
}

bool
dial_nat46_source(const struct config *cfg, const struct sockaddr *client,
    struct sockaddr_in6 *out)
{
	const uint8_t	*v4;

	if (client->sa_family == AF_INET)
		v4 = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)client)->sin_addr;
	else if (client->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
	    &((const struct sockaddr_in6 *)(const void *)client)->sin6_addr))
		/* A dual-stack listener (socket activation) reports IPv4 clients so. */
		v4 = &((const struct sockaddr_in6 *)(const void *)client)->
		    sin6_addr.s6_addr[12];
	else
		return false;
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	memcpy(out->sin6_addr.s6_addr, cfg->nat46_prefix.s6_addr, 12);
	memcpy(out->sin6_addr.s6_addr + 12, v4, 4);
	return true;
}

/*
 * Bind fd to the nat46 source address src.  IP_FREEBIND lets bind() take
 * an address that no interface has: the operator routes the whole /96 to
 * the host with `ip route add local PREFIX/96 dev lo`, which makes every
 * address in it local for incoming packets (the replies) without listing
 * them.  (With that route bind() would work without the option too; it
 * keeps working while the route is being set up, and needs no capability,
 * unlike IP_TRANSPARENT.)  The option is at level SOL_IP but applies to
 * IPv6 sockets as well: Linux hands SOL_IP options of an AF_INET6 TCP socket
 * to the IPv4 code, and inet6_bind() honours the same freebind flag.
 * IPV6_FREEBIND (Linux 4.15) sets that very flag; IP_FREEBIND works on every
 * kernel.  IP_BIND_ADDRESS_NO_PORT defers choosing the source port to
 * connect(), which can then reuse a port towards other destinations: with
 * many connections from one client (one source address) to one backend,
 * bind() alone would run out of ports at ~28000 in total.
 */
static int
dial_bind_source(int fd, const struct sockaddr_in6 *src)
{
	int	one = 1;

	if (setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (const struct sockaddr *)src, sizeof(*src));
}

int
dial_start_from(const struct config *cfg, struct dial_self *self,
    const union sockaddr_inet *to, const struct sockaddr_in6 *src)
{
	int	fd, err;

	/* Checked again right before connect(): the one place that decides. */
	if (!dial_allowed(cfg, &to->sa) || dial_port_refuse(cfg, self, &to->sa) ||
	    dial_self_refuse(self, &to->sa)) {
		errno = EACCES;
		return -1;
	}
	fd = socket(to->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	/*
	 * TCP_NODELAY: snid forwards whatever arrives as soon as it arrives;
	 * the endpoints already decided how to batch their writes, and Nagle
	 * here would hold back the small TLS handshake records (a 40 ms
	 * stall against a peer's delayed ACK) for no saving.
	 */
	util_set_nodelay(fd);
	/* Keepalive comes later, from the connection (CONN_KEEPALIVE_AFTER). */
	if (src != NULL && (to->sa.sa_family != AF_INET6 ||
	    dial_bind_source(fd, src) == -1)) {
		err = to->sa.sa_family != AF_INET6 ? EAFNOSUPPORT : errno;
		util_close(fd);
		errno = err;
		return -1;
	}
	if (connect(fd, &to->sa, sock_addr_len(&to->sa)) == -1 &&
	    errno != EINPROGRESS) {
		err = errno;
		util_close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

bool
dial_error_try_next(int err)
{
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		return false;
	default:
		return true;
	}
}

/*
 * Whether the file at path is one of snid's own unix listeners.  A socket
 * in -unix-directory that snid listens on would be dialled like a backend:
 * snid connecting to itself, each connection opening the next.
 */
static bool
dial_unix_is_self(const struct dial_self *self, const char *path)
{
	struct stat	st;

	if (self == NULL || self->n_unix_listen == 0 || stat(path, &st) == -1)
		return false;
	for (size_t i = 0; i < self->n_unix_listen; i++)
		if (self->unix_listen[i].dev == st.st_dev &&
		    self->unix_listen[i].ino == st.st_ino)
			return true;
	return false;
}

/* Connect to the socket DIR/NAME (the path in *sun).  Returns the fd or -1 with errno. */
static int
dial_unix_path(struct dial_self *self, const char *dir, size_t dirlen,
    const char *name, struct sockaddr_un *sun)
{
	int	fd, n, err;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%.*s/%s",
	    (int)dirlen, dir, name);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path)) {
		/* No socket can be reached by that path: as if it did not exist. */
		sun->sun_path[0] = '\0';
		errno = ENOENT;
		return -1;
	}
	if (dial_unix_is_self(self, sun->sun_path)) {
		dial_self_warn(sun->sun_path);
		errno = EACCES;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/*
	 * A non-blocking connect() on a unix stream socket never says
	 * EINPROGRESS: it either connects at once (the listener's backlog has
	 * room) or fails, EAGAIN meaning the backlog is full.  That is treated
	 * as a failure like a refused TCP connection, not waited for.
	 */
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == -1) {
		err = errno;
		util_close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int
dial_unix(const struct config *cfg, struct dial_self *self, const char *name,
    struct sockaddr_un *path)
{
	const char	*dir = cfg->unix_directory, *dot;
	char		 wild[HOSTNAME_MAX + 2];
	size_t		 dirlen = strlen(dir);
	int		 fd;

	/* "DIR/" and "DIR" name the same directory; keep the logged path tidy. */
	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	if (dirlen == 1 && dir[0] == '/')
		dirlen = 0;
	fd = dial_unix_path(self, dir, dirlen, name, path);
	/*
	 * Only a missing socket file falls back to the wildcard: a socket
	 * that exists but refuses means its service is down, and sending its
	 * clients to the wildcard service instead would hide that.
	 */
	if (fd != -1 || errno != ENOENT)
		return fd;
	dot = strchr(name, '.');
	if (dot == NULL || dot[1] == '\0') {
		errno = ENOENT;
		return -1;
	}
	snprintf(wild, sizeof(wild), "_%s", dot);
	return dial_unix_path(self, dir, dirlen, wild, path);
}
