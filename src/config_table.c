/*
 * config_table: what the settings are.  One row per flag says its name,
 * the kind of value it takes, where that value lives in struct config,
 * whether a reload applies it, its default and its -help text; the kinds
 * say how a value is parsed and printed back.  config.c reads flags and
 * files through these rows, -help and -check print them, and a reload
 * (worker_reload) copies and compares settings by them.
 *
 * Adding a flag: a field in struct config, a row below (in the place it
 * should have in -help and -check), and its documentation: README.md's
 * flag table, snid(8), snid.conf(5) unless it is CONFIG_O_CMDLINE, and the
 * SIGHUP paragraphs of the three, among what a reload applies or what
 * needs a restart.  tests/test_config.c and tests/system/run check every
 * row against those documents, and the reload test asks for two values of
 * each file setting in its fixtures.  A value of a new kind (neither a
 * number, a duration, a choice, a string nor a list of those) gets a
 * CONFIG_K_CUSTOM row with set and format functions.
 *
 * Over 800 lines: the table is one row per flag, and splitting it from
 * the kinds that read it would only add an interface between the two.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "snid/config.h"

#define CONFIG_DURATION_MAX	86400.0		/* one day */

/* Where a field is, for a row: .off and .size of one field ... */
#define FIELD(f)	.off = offsetof(struct config, f),			\
		.size = sizeof(((struct config *)0)->f)
/* ... or of consecutive fields that make one setting (a list and its count). */
#define SPAN(a, z)	.off = offsetof(struct config, a),			\
		.size = offsetof(struct config, z) +				\
		    sizeof(((struct config *)0)->z) - offsetof(struct config, a)
#define COUNT(n)		.n_off = offsetof(struct config, n)

static config_set_fn	config_set_hostname, config_set_nat46_prefix,
			config_set_backend_ports,
			config_set_proxy_proto, config_set_sockdir,
			config_set_dns_server, config_set_user,
			config_set_metrics, config_set_file,
			config_set_diagnose;
static config_format_fn	config_format_nat46_prefix, config_format_proxy_proto,
			config_format_backend_ports,
			config_format_dns_server, config_format_metrics,
			config_format_diagnose;

static const char *const config_modes[] = { "tcp", "nat46", "unix", NULL };
static const char *const config_levels[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const config_proxy_words[] = { "v1", "v2", NULL };

const struct config_option config_options[] = {
	{ .name = "listen", .kind = CONFIG_K_LISTENERS,
	  .flags = CONFIG_O_REPEAT, SPAN(listeners, n_listeners),
	  COUNT(n_listeners), .max = CONFIG_MAX_LISTENERS, .what = "listeners",
	  .arg = "LISTENER",
	  .help = "listen on LISTENER (repeatable; at least one):\n"
	  "tcp:PORT, tcp:IPV4:PORT, tcp:[IPV6]:PORT, unix:PATH,\n"
	  "fd:N or fdname:NAME, optionally after proxy: (inbound\n"
	  "PROXY protocol) and/or http: (plain HTTP, by Host)" },
	{ .name = "mode", .kind = CONFIG_K_CHOICE, FIELD(mode),
	  .choices = config_modes, .dflt = "tcp", .arg = "MODE",
	  .help = "tcp, nat46 or unix (default tcp)" },
	{ .name = "backend-cidr", .kind = CONFIG_K_CIDRS,
	  .flags = CONFIG_O_REPEAT | CONFIG_O_RELOAD,
	  SPAN(backend_cidrs, n_backend_cidrs), COUNT(n_backend_cidrs),
	  .max = CONFIG_MAX_CIDRS, .what = "prefixes", .arg = "CIDR",
	  .help = "allow backends inside CIDR (repeatable; tcp and nat46\n"
	  "modes need one; no default)" },
	{ .name = "backend-port", .kind = CONFIG_K_PORT,
	  .flags = CONFIG_O_RELOAD, FIELD(backend_port), .arg = "PORT",
	  .help = "connect to PORT on the backend (default: the port\n"
	  "the client connected to, always so on http: listeners)" },
	{ .name = "backend-ports", .kind = CONFIG_K_CUSTOM,
	  .flags = CONFIG_O_RELOAD, FIELD(backend_ports),
	  .set = config_set_backend_ports,
	  .format = config_format_backend_ports, .arg = "LIST",
	  .help = "connect to these backend ports only, e.g.\n"
	  "443,5222-5223, whoever chose the port (SRV, PROXY\n"
	  "header); default: the listeners' and -backend-port" },
	{ .name = "default-hostname", .kind = CONFIG_K_STRING,
	  .flags = CONFIG_O_RELOAD, FIELD(default_hostname),
	  .set = config_set_hostname, .arg = "NAME",
	  .help = "route clients that send no SNI to NAME\n"
	  "(default: refuse them)" },
	{ .name = "nat46-prefix", .kind = CONFIG_K_CUSTOM,
	  SPAN(has_nat46_prefix, nat46_prefix),
	  .set = config_set_nat46_prefix, .format = config_format_nat46_prefix,
	  .arg = "IPV6",
	  .help = "nat46 source prefix, IPV6 or IPV6/96; the client's\n"
	  "IPv4 address fills the last 32 bits (no default)" },
	{ .name = "proxy-proto", .kind = CONFIG_K_CUSTOM,
	  .flags = CONFIG_O_OPTVALUE, FIELD(proxy_proto),
	  .choices = config_proxy_words, .set = config_set_proxy_proto,
	  .format = config_format_proxy_proto, .arg = "[v1|v2]",
	  .help = "send a PROXY protocol header to the backend, v2 unless\n"
	  "v1 is given (default: off)" },
	{ .name = "unix-directory", .kind = CONFIG_K_STRING,
	  FIELD(unix_directory), .set = config_set_sockdir, .arg = "DIR",
	  .help = "unix mode: connect to the socket DIR/NAME, else\n"
	  "DIR/_.PARENT (no default)" },
	{ .name = "dns-server", .kind = CONFIG_K_CUSTOM,
	  .flags = CONFIG_O_REPEAT | CONFIG_O_RELOAD,
	  SPAN(dns_servers, n_dns_servers), COUNT(n_dns_servers),
	  .max = CONFIG_MAX_DNS_SERVERS, .what = "DNS servers",
	  .set = config_set_dns_server, .format = config_format_dns_server,
	  .arg = "ADDR",
	  .help = "DNS server IP, IPV4:PORT or [IPV6]:PORT (repeatable;\n"
	  "default: the servers of /etc/resolv.conf)" },
	{ .name = "dns-timeout", .kind = CONFIG_K_DURATION,
	  .flags = CONFIG_O_RELOAD, FIELD(dns_timeout), .dflt = "2",
	  .arg = "SEC",
	  .help = "bound on a whole DNS lookup, retries included\n"
	  "(default 2)" },
	{ .name = "dns-stale", .kind = CONFIG_K_DURATION,
	  .flags = CONFIG_O_RELOAD | CONFIG_O_ZERO, FIELD(dns_stale),
	  .dflt = "3600", .arg = "SEC",
	  .help = "serve an answer up to SEC past its TTL while the DNS\n"
	  "server fails or is slow; 0: never (default 3600)" },
	{ .name = "dns-cache-size", .kind = CONFIG_K_UINT,
	  .flags = CONFIG_O_RELOAD, FIELD(dns_cache_size), .min = 16,
	  .max = 1000000, .dflt = "10000", .arg = "N",
	  .help = "DNS answers cached, one cache for all workers,\n"
	  "16 to 1000000 (default 10000)" },
	{ .name = "hello-timeout", .kind = CONFIG_K_DURATION,
	  .flags = CONFIG_O_RELOAD, FIELD(hello_timeout), .dflt = "5",
	  .arg = "SEC",
	  .help = "bound on receiving the ClientHello (default 5)" },
	{ .name = "connect-timeout", .kind = CONFIG_K_DURATION,
	  .flags = CONFIG_O_RELOAD, FIELD(connect_timeout), .dflt = "5",
	  .arg = "SEC",
	  .help = "bound on connecting to the backend (default 5)" },
	{ .name = "shutdown-timeout", .kind = CONFIG_K_DURATION,
	  .flags = CONFIG_O_RELOAD, FIELD(shutdown_timeout), .dflt = "30",
	  .arg = "SEC",
	  .help = "on SIGTERM or SIGINT, time left to open connections\n"
	  "(default 30)" },
	{ .name = "idle-timeout", .kind = CONFIG_K_DURATION,
	  .flags = CONFIG_O_RELOAD, FIELD(idle_timeout), .dflt = "3600",
	  .arg = "SEC",
	  .help = "close a proxied connection after SEC without traffic\n"
	  "(default 3600)" },
	{ .name = "half-close-timeout", .kind = CONFIG_K_DURATION,
	  .flags = CONFIG_O_RELOAD, FIELD(half_close_timeout), .dflt = "60",
	  .arg = "SEC",
	  .help = "once one side has finished sending, the idle bound\n"
	  "for the other (default 60)" },
	{ .name = "workers", .kind = CONFIG_K_UINT, FIELD(workers),
	  .max = CONFIG_MAX_WORKERS, .what = "workers", .arg = "N",
	  .help = "run N event loops, one thread each (default 0:\n"
	  "one per CPU snid may run on)" },
	{ .name = "max-connections", .kind = CONFIG_K_UINT,
	  .flags = CONFIG_O_RELOAD, FIELD(max_connections),
	  .min = 1, .max = CONFIG_MAX_CONNECTIONS, .what = "connections",
	  .arg = "N",
	  .help = "stop accepting while N connections are open\n"
	  "(default: what the open-file limit allows)" },
	{ .name = "max-connections-per-source", .kind = CONFIG_K_UINT,
	  .flags = CONFIG_O_RELOAD, FIELD(max_connections_per_source),
	  .max = CONFIG_MAX_CONNECTIONS, .what = "connections", .dflt = "256",
	  .arg = "N",
	  .help = "close new connections of a source (IPv4\n"
	  "address, IPv6 /64) that holds N already;\n"
	  "0: no limit (default 256)" },
	{ .name = "hello-memory", .kind = CONFIG_K_UINT,
	  .flags = CONFIG_O_RELOAD, FIELD(hello_memory),
	  .min = 65536, .max = CONFIG_MAX_HELLO_MEMORY, .what = "bytes",
	  .arg = "BYTES",
	  .help = "bound on the buffers of connections still sending\n"
	  "their hello; at it, the oldest is closed (default:\n"
	  "4096 per connection, at least 1 MiB)" },
	{ .name = "client-cidr", .kind = CONFIG_K_CIDRS,
	  .flags = CONFIG_O_REPEAT | CONFIG_O_RELOAD,
	  SPAN(client_cidrs, n_client_cidrs), COUNT(n_client_cidrs),
	  .max = CONFIG_MAX_CLIENT_CIDRS, .what = "prefixes", .arg = "CIDR",
	  .help = "accept clients inside CIDR only (repeatable;\n"
	  "default: every client)" },
	{ .name = "deny-client-cidr", .kind = CONFIG_K_CIDRS,
	  .flags = CONFIG_O_REPEAT | CONFIG_O_RELOAD,
	  SPAN(deny_client_cidrs, n_deny_client_cidrs),
	  COUNT(n_deny_client_cidrs), .max = CONFIG_MAX_CLIENT_CIDRS,
	  .what = "prefixes", .arg = "CIDR",
	  .help = "close clients inside CIDR without a byte\n"
	  "(repeatable; default: none)" },
	{ .name = "proxy-from", .kind = CONFIG_K_CIDRS,
	  .flags = CONFIG_O_REPEAT | CONFIG_O_RELOAD,
	  SPAN(proxy_from, n_proxy_from), COUNT(n_proxy_from),
	  .max = CONFIG_MAX_CIDRS, .what = "prefixes", .arg = "CIDR",
	  .help = "proxy: listeners take headers only from CIDR\n"
	  "(repeatable; default: 127.0.0.0/8 and ::1/128)" },
	{ .name = "user", .kind = CONFIG_K_STRING, FIELD(user),
	  .set = config_set_user, .arg = "NAME",
	  .help = "switch to user NAME after opening the listeners\n"
	  "(default: stay who we are)" },
	{ .name = "metrics", .kind = CONFIG_K_CUSTOM, FIELD(metrics),
	  .set = config_set_metrics, .format = config_format_metrics,
	  .arg = "LISTENER",
	  .help = "serve Prometheus metrics at http://LISTENER/metrics;\n"
	  "tcp: listeners only (default: off)" },
	{ .name = "log-level", .kind = CONFIG_K_CHOICE,
	  .flags = CONFIG_O_RELOAD, FIELD(log_level),
	  .choices = config_levels, .dflt = "info", .arg = "LEVEL",
	  .help = "error, warn, info or debug (default info)" },
	{ .name = "config", .kind = CONFIG_K_FILE, .flags = CONFIG_O_CMDLINE,
	  FIELD(config_file), .set = config_set_file, .arg = "FILE",
	  .help = "read settings from FILE, then apply the flags\n"
	  "(default: none)" },
	{ .name = "check", .kind = CONFIG_K_BOOL,
	  .flags = CONFIG_O_CMDLINE | CONFIG_O_NOVALUE, FIELD(check),
	  .help = "validate, print the effective configuration, exit" },
	{ .name = "diagnose", .kind = CONFIG_K_CUSTOM, .flags = CONFIG_O_CMDLINE,
	  SPAN(has_diagnose, diagnose), .set = config_set_diagnose,
	  .format = config_format_diagnose, .arg = "NAME",
	  .help = "check, step by step, what a client asking for NAME\n"
	  "meets: DNS, allow-list, route, connect, a big\n"
	  "ClientHello; print a line per step, exit 0 if all pass" },
	{ .name = "version", .kind = CONFIG_K_VERSION,
	  .flags = CONFIG_O_CMDLINE | CONFIG_O_NOVALUE,
	  .help = "print the version and exit" },
	{ .name = "help", .kind = CONFIG_K_HELP,
	  .flags = CONFIG_O_CMDLINE | CONFIG_O_NOVALUE,
	  .help = "print this help and exit" },
};

#define CONFIG_NOPTIONS	(sizeof(config_options) / sizeof(config_options[0]))
_Static_assert(CONFIG_NOPTIONS <= CONFIG_OPTIONS_MAX,
    "raise CONFIG_OPTIONS_MAX");
/* CONFIG_K_CHOICE stores an index into an enum field. */
_Static_assert(sizeof(enum snid_mode) == sizeof(int) &&
    sizeof(enum log_level) == sizeof(int), "a choice is an int");

const size_t config_n_options = CONFIG_NOPTIONS;

void
config_errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* The setting's bytes in cfg. */
static void *
config_at(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

static const void *
config_at_const(const struct config *cfg, size_t off)
{
	return (const char *)cfg + off;
}

static size_t
config_count(const struct config *cfg, const struct config_option *o)
{
	size_t	n;

	memcpy(&n, config_at_const(cfg, o->n_off), sizeof(n));
	return n;
}

static void
config_set_count(struct config *cfg, const struct config_option *o, size_t n)
{
	memcpy(config_at(cfg, o->n_off), &n, sizeof(n));
}

/* A list row with room for one more value, else -1 and "VALUE: too many". */
static int
config_list_room(const struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	if (config_count(cfg, o) < o->max)
		return 0;
	config_errf(err, errlen, "%s: too many %s (at most %lu)", v, o->what,
	    o->max);
	return -1;
}

/*
 * Decimal seconds: "2", "0.5", at most 3 decimals; 0 < value <= one day,
 * or 0 too when zero is allowed.
 */
static int
config_duration(const char *s, bool zero, double *out)
{
	double	v = 0, scale = 1;
	size_t	ndig = 0, nfrac = 0;

	for (; *s >= '0' && *s <= '9'; s++, ndig++) {
		if (ndig == 6)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (ndig == 0)
		return -1;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, nfrac++) {
			if (nfrac == 3)
				return -1;
			scale /= 10;
			v += (*s - '0') * scale;
		}
		if (nfrac == 0)
			return -1;
	}
	if (*s != '\0' || (v == 0 && !zero) || v > CONFIG_DURATION_MAX)
		return -1;
	*out = v;
	return 0;
}

/* A decimal number 0..max without sign, space or more than 5 digits. */
static int
config_port(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long	v = 0;
	size_t		n = 0;

	for (; *s != '\0'; s++, n++) {
		if (*s < '0' || *s > '9' || n == 5)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (n == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Decimal, no sign, no leading zero (but "0"), min..max. */
static int
config_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	unsigned long	v = 0;
	const char	*p;

	for (p = s; *p >= '0' && *p <= '9' && v <= max; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (p == s || *p != '\0' || (s[0] == '0' && s[1] != '\0') ||
	    v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A CONFIG_K_UINT field is an unsigned or a size_t. */
static void
config_uint_store(void *p, size_t size, unsigned long v)
{
	unsigned	u = (unsigned)v;
	size_t		z = (size_t)v;

	if (size == sizeof(u))
		memcpy(p, &u, sizeof(u));
	else
		memcpy(p, &z, sizeof(z));
}

static unsigned long
config_uint_load(const void *p, size_t size)
{
	unsigned	u;
	size_t		z;

	if (size == sizeof(u)) {
		memcpy(&u, p, sizeof(u));
		return u;
	}
	memcpy(&z, p, sizeof(z));
	return (unsigned long)z;
}

static int
config_set_choice(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	size_t	n, len;
	int	i;

	for (i = 0; o->choices[i] != NULL; i++)
		if (strcmp(v, o->choices[i]) == 0) {
			memcpy(config_at(cfg, o->off), &i, sizeof(i));
			return 0;
		}
	/* "VALUE: must be a, b or c" */
	config_errf(err, errlen, "%s: must be ", v);
	for (i = 0; o->choices[i] != NULL; i++) {
		len = strlen(err);
		n = errlen > len ? errlen - len : 0;
		config_errf(err + len, n, "%s%s", i == 0 ? "" :
		    o->choices[i + 1] == NULL ? " or " : ", ", o->choices[i]);
	}
	return -1;
}

int
config_option_set(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	unsigned long	u;
	double		d;
	size_t		n;

	switch (o->kind) {
	case CONFIG_K_HELP:
	case CONFIG_K_VERSION:
		return 0;
	case CONFIG_K_BOOL:
		*(bool *)config_at(cfg, o->off) = true;
		return 0;
	case CONFIG_K_CHOICE:
		return config_set_choice(cfg, o, v, err, errlen);
	case CONFIG_K_UINT:
		if (config_uint(v, o->min, o->max, &u) == -1) {
			config_errf(err, errlen, "%s: must be a number%s%s "
			    "from %lu to %lu", v, o->what != NULL ? " of " : "",
			    o->what != NULL ? o->what : "", o->min, o->max);
			return -1;
		}
		config_uint_store(config_at(cfg, o->off), o->size, u);
		return 0;
	case CONFIG_K_PORT:
		/* 0 is the Go snid's default: the client's own port. */
		if (config_port(v, 65535, &u) == -1) {
			config_errf(err, errlen,
			    "%s: must be a port number 1..65535", v);
			return -1;
		}
		*(uint16_t *)config_at(cfg, o->off) = (uint16_t)u;
		return 0;
	case CONFIG_K_DURATION:
		if (config_duration(v, (o->flags & CONFIG_O_ZERO) != 0, &d) ==
		    -1) {
			config_errf(err, errlen, "%s: must be seconds %s, "
			    "such as 2 or 0.5 (at most 3 decimals)", v,
			    (o->flags & CONFIG_O_ZERO) ? "from 0 to 86400" :
			    "above 0 and at most 86400");
			return -1;
		}
		*(double *)config_at(cfg, o->off) = d;
		return 0;
	case CONFIG_K_CIDRS:
		n = config_count(cfg, o);
		if (config_list_room(cfg, o, v, err, errlen) == -1 ||
		    cidr_parse(v, (struct cidr *)config_at(cfg, o->off) + n,
		    err, errlen) == -1)
			return -1;
		config_set_count(cfg, o, n + 1);
		return 0;
	case CONFIG_K_LISTENERS:
		n = config_count(cfg, o);
		if (config_list_room(cfg, o, v, err, errlen) == -1 ||
		    addrspec_parse_listener(v, (struct listen_spec *)
		    config_at(cfg, o->off) + n, err, errlen) == -1)
			return -1;
		config_set_count(cfg, o, n + 1);
		return 0;
	case CONFIG_K_FILE:
	case CONFIG_K_STRING:
	case CONFIG_K_CUSTOM:
		break;
	}
	return o->set(cfg, o, v, err, errlen);
}

void
config_option_clear(struct config *cfg, const struct config_option *o)
{
	if (o->flags & CONFIG_O_REPEAT)
		config_set_count(cfg, o, 0);
}

/* Seconds the way config_duration() reads them back: "2", "0.5", "0.125". */
static void
config_format_duration(double v, char *buf, size_t len)
{
	size_t	n;

	snprintf(buf, len, "%.3f", v);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

bool
config_option_format(const struct config *cfg, const struct config_option *o,
    size_t i, char *buf, size_t len)
{
	const void	*p = config_at_const(cfg, o->off);
	unsigned long	 u;
	int		 c;

	if (o->kind == CONFIG_K_CUSTOM)
		return o->format(cfg, o, i, buf, len);
	if (o->flags & CONFIG_O_REPEAT) {
		if (i >= config_count(cfg, o))
			return false;
	} else if (i > 0)
		return false;
	switch (o->kind) {
	case CONFIG_K_CHOICE:
		memcpy(&c, p, sizeof(c));
		snprintf(buf, len, "%s", o->choices[c]);
		return true;
	case CONFIG_K_UINT:
		u = config_uint_load(p, o->size);
		snprintf(buf, len, "%lu", u);
		return u != 0 || o->min == 0;
	case CONFIG_K_PORT:
		snprintf(buf, len, "%u", *(const uint16_t *)p);
		return *(const uint16_t *)p != 0;
	case CONFIG_K_DURATION:
		config_format_duration(*(const double *)p, buf, len);
		return true;
	case CONFIG_K_BOOL:
		buf[0] = '\0';
		return *(const bool *)p;
	case CONFIG_K_FILE:
	case CONFIG_K_STRING:
		snprintf(buf, len, "%s", (const char *)p);
		return buf[0] != '\0';
	case CONFIG_K_CIDRS:
		cidr_format((const struct cidr *)p + i, buf, len);
		return true;
	case CONFIG_K_LISTENERS:
		snprintf(buf, len, "%s",
		    ((const struct listen_spec *)p)[i].text);
		return true;
	case CONFIG_K_HELP:
	case CONFIG_K_VERSION:
	case CONFIG_K_CUSTOM:
		break;
	}
	return false;
}

const struct config_option *
config_option_find(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < CONFIG_NOPTIONS; i++)
		if (strlen(config_options[i].name) == len &&
		    memcmp(config_options[i].name, name, len) == 0)
			return &config_options[i];
	return NULL;
}

void
config_defaults(struct config *cfg)
{
	char	err[256];
	size_t	i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CONFIG_NOPTIONS; i++)
		if (config_options[i].dflt != NULL &&
		    config_option_set(cfg, &config_options[i],
		    config_options[i].dflt, err, sizeof(err)) == -1)
			abort();	/* a bad default in the table above */
}

/*
 * The values of their own kind.  Each is "VALUE: reason" on error, like
 * the kinds above.
 */

static int
config_set_hostname(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	char		*out = config_at(cfg, o->off);
	const char	*reason;

	/* Empty clears it, so a flag can undo the file's setting. */
	if (*v == '\0') {
		out[0] = '\0';
		return 0;
	}
	reason = hostname_canonicalize(v, strlen(v), out);
	if (reason != NULL) {
		config_errf(err, errlen, "%s: not a valid host name: %s", v,
		    reason);
		return -1;
	}
	return 0;
}

/*
 * The nat46 source prefix: an IPv6 address whose last 32 bits are zero,
 * with or without "/96" (the Go snid takes the bare address).  The client's
 * IPv4 address is placed in those 32 bits.
 */
static int
config_nat46_prefix(const char *s, struct in6_addr *out, char *err,
    size_t errlen)
{
	static const uint8_t	zero12[12];
	static const uint8_t	mapped12[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	char			addr[INET6_ADDRSTRLEN + 1];
	char			fixed[INET6_ADDRSTRLEN];
	const char		*slash = strchr(s, '/');
	size_t			n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	struct in6_addr		a;

	if (slash != NULL && strcmp(slash, "/96") != 0) {
		config_errf(err, errlen, "%s: only a /96 prefix is possible "
		    "(the last 32 bits carry the client's IPv4 address)", s);
		return -1;
	}
	if (n == 0 || n >= sizeof(addr)) {
		config_errf(err, errlen, "%s: not an IPv6 address", s);
		return -1;
	}
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET6, addr, &a) != 1) {
		config_errf(err, errlen, "%s: not an IPv6 address", s);
		return -1;
	}
	if (memcmp(a.s6_addr, zero12, 12) == 0 ||
	    memcmp(a.s6_addr, mapped12, 12) == 0 || a.s6_addr[0] == 0xff) {
		config_errf(err, errlen, "%s: not usable as a source prefix "
		    "(unspecified, IPv4-mapped or multicast); use e.g. "
		    "64:ff9b:1::/96", s);
		return -1;
	}
	if (a.s6_addr[12] != 0 || a.s6_addr[13] != 0 || a.s6_addr[14] != 0 ||
	    a.s6_addr[15] != 0) {
		memset(a.s6_addr + 12, 0, 4);
		inet_ntop(AF_INET6, &a, fixed, sizeof(fixed));
		config_errf(err, errlen, "%s: the last 32 bits must be zero "
		    "(they carry the client's IPv4 address); did you mean "
		    "%s/96?", s, fixed);
		return -1;
	}
	*out = a;
	return 0;
}

static int
config_set_nat46_prefix(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	(void)o;
	if (config_nat46_prefix(v, &cfg->nat46_prefix, err, errlen) == -1)
		return -1;
	cfg->has_nat46_prefix = true;
	return 0;
}

static bool
config_format_nat46_prefix(const struct config *cfg,
    const struct config_option *o, size_t i, char *buf, size_t len)
{
	char	a[INET6_ADDRSTRLEN];

	(void)o;
	if (i > 0 || !cfg->has_nat46_prefix)
		return false;
	inet_ntop(AF_INET6, &cfg->nat46_prefix, a, sizeof(a));
	snprintf(buf, len, "%s/96", a);
	return true;
}

/* None given means v2, like the Go snid's boolean flag. */
/* A new list replaces the old one: a flag overrides the file. */
static int
config_set_backend_ports(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	struct portset	ps;

	(void)o;
	portset_clear(&ps);
	if (portset_parse(&ps, v, err, errlen) == -1)
		return -1;
	if (ps.n == 0) {
		config_errf(err, errlen, "%s: no port", v);
		return -1;
	}
	cfg->backend_ports = ps;
	return 0;
}

static bool
config_format_backend_ports(const struct config *cfg,
    const struct config_option *o, size_t i, char *buf, size_t len)
{
	(void)o;
	if (i > 0 || cfg->backend_ports.n == 0)
		return false;
	portset_format(&cfg->backend_ports, buf, len);
	return true;
}

static int
config_set_proxy_proto(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	(void)o;
	if (v == NULL || strcmp(v, "v2") == 0 || strcmp(v, "true") == 0)
		cfg->proxy_proto = PROXY_PROTO_V2;
	else if (strcmp(v, "v1") == 0)
		cfg->proxy_proto = PROXY_PROTO_V1;
	else if (strcmp(v, "false") == 0)
		cfg->proxy_proto = PROXY_PROTO_NONE;	/* Go's -proxy-proto=false */
	else {
		config_errf(err, errlen, "%s: must be v1 or v2 (or nothing, "
		    "meaning v2)", v);
		return -1;
	}
	return 0;
}

static bool
config_format_proxy_proto(const struct config *cfg,
    const struct config_option *o, size_t i, char *buf, size_t len)
{
	(void)o;
	if (i > 0 || cfg->proxy_proto == PROXY_PROTO_NONE)
		return false;
	snprintf(buf, len, "%s", cfg->proxy_proto == PROXY_PROTO_V1 ? "v1" :
	    "v2");
	return true;
}

/*
 * Absolute, because the daemon's working directory is nobody's business;
 * short enough that DIR/x still fits in sun_path.
 */
static int
config_set_sockdir(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	const size_t	 max = sizeof(((struct sockaddr_un *)0)->sun_path) - 3;
	char		*out = config_at(cfg, o->off);
	size_t		 n = strlen(v);

	if (v[0] != '/') {
		config_errf(err, errlen, "%s: must be an absolute path", v);
		return -1;
	}
	if (n > max) {
		config_errf(err, errlen, "%s: too long for a unix socket path "
		    "(at most %zu bytes)", v, max);
		return -1;
	}
	memcpy(out, v, n + 1);
	return 0;
}

static int
config_set_dns_server(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	size_t	n = cfg->n_dns_servers;

	if (config_list_room(cfg, o, v, err, errlen) == -1 ||
	    addrspec_parse_hostport(v, &cfg->dns_servers[n],
	    &cfg->dns_server_lens[n], err, errlen) == -1)
		return -1;
	cfg->n_dns_servers = n + 1;
	return 0;
}

static bool
config_format_dns_server(const struct config *cfg,
    const struct config_option *o, size_t i, char *buf, size_t len)
{
	(void)o;
	if (i >= cfg->n_dns_servers)
		return false;
	addrspec_format((const struct sockaddr *)&cfg->dns_servers[i],
	    cfg->dns_server_lens[i], buf, len);
	return true;
}

/*
 * A user name as useradd(8) takes it: [A-Za-z0-9._-], not starting with
 * '-', an optional final '$'.
 */
static bool
config_user_valid(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n >= CONFIG_USER_MAX || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char	c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			continue;
		if (c == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

static int
config_set_user(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	(void)o;
	/* Empty: stay who we are, so a flag can undo the file's setting. */
	if (*v != '\0' && !config_user_valid(v)) {
		config_errf(err, errlen, "%s: not a valid user name", v);
		return -1;
	}
	snprintf(cfg->user, sizeof(cfg->user), "%s", v);
	return 0;
}

static int
config_set_metrics(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	(void)o;
	/* Empty turns it off, so a flag can undo the file's setting. */
	if (*v == '\0') {
		memset(&cfg->metrics, 0, sizeof(cfg->metrics));
		return 0;
	}
	if (addrspec_parse_listener(v, &cfg->metrics, err, errlen) == -1)
		return -1;
	/* A scrape is plain HTTP on TCP: not a wrapper, not a unix socket. */
	if (cfg->metrics.kind != LISTEN_TCP || cfg->metrics.proxy ||
	    cfg->metrics.http) {
		memset(&cfg->metrics, 0, sizeof(cfg->metrics));
		config_errf(err, errlen,
		    "%s: must be a tcp: listener without proxy: or http:", v);
		return -1;
	}
	return 0;
}

static bool
config_format_metrics(const struct config *cfg, const struct config_option *o,
    size_t i, char *buf, size_t len)
{
	(void)o;
	if (i > 0 || cfg->metrics.text[0] == '\0')
		return false;
	snprintf(buf, len, "%s", cfg->metrics.text);
	return true;
}

/* Kept as given: -diagnose reports an invalid name as its first step. */
static int
config_set_diagnose(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	(void)o;
	(void)err;
	(void)errlen;
	cfg->has_diagnose = true;
	snprintf(cfg->diagnose, sizeof(cfg->diagnose), "%s", v);
	return 0;
}

static bool
config_format_diagnose(const struct config *cfg, const struct config_option *o,
    size_t i, char *buf, size_t len)
{
	(void)o;
	if (i > 0 || !cfg->has_diagnose)
		return false;
	snprintf(buf, len, "%s", cfg->diagnose);
	return true;
}

static int
config_set_file(struct config *cfg, const struct config_option *o,
    const char *v, char *err, size_t errlen)
{
	(void)o;
	if (*v == '\0' || strlen(v) >= sizeof(cfg->config_file)) {
		config_errf(err, errlen, "%s: not a usable file name", v);
		return -1;
	}
	snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", v);
	return 0;
}
