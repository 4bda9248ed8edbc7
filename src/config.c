/*
 * config: the command line and the configuration file, merged into one
 * validated struct config.
 *
 * The flags are the Go snid's (-listen, -mode, -backend-cidr, ...), so they
 * are parsed with getopt_long_only(3): "-listen X", "--listen X",
 * "-listen=X" all work.  Unlike getopt's default, a flag may not be
 * abbreviated ("-list"): the Go flag package does not allow it either, and
 * a flag added later must not break a command line that relied on an
 * abbreviation being unique.
 *
 * The file has one "key value" per line with the same names.  The order of
 * work is: defaults, the file named by -config, then the command line on
 * top (a scalar flag replaces the file's value; a repeatable flag given on
 * the command line replaces the file's whole list), then the cross-field
 * rules of config_validate().  Every message names the flag or FILE:LINE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "snid/config.h"

#define CONFIG_FILE_MAX		(1024 * 1024)	/* a configuration file is small */
#define CONFIG_LINE_MAX		1024
#define CONFIG_ERR_MAX		1024
#define CONFIG_DURATION_MAX	86400.0		/* one day */

enum config_opt {
	OPT_LISTEN = 256,	/* above every char getopt may return */
	OPT_MODE,
	OPT_BACKEND_CIDR,
	OPT_BACKEND_PORT,
	OPT_DEFAULT_HOSTNAME,
	OPT_NAT46_PREFIX,
	OPT_PROXY_PROTO,
	OPT_UNIX_DIRECTORY,
	OPT_DNS_SERVER,
	OPT_DNS_TIMEOUT,
	OPT_DNS_STALE,
	OPT_DNS_CACHE_SIZE,
	OPT_HELLO_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_HALF_CLOSE_TIMEOUT,
	OPT_MAX_CONNECTIONS,
	OPT_USER,
	OPT_LOG_LEVEL,
	OPT_METRICS,
	OPT_CONFIG,
	OPT_CHECK,
	OPT_VERSION,
	OPT_HELP,
};

#define CONFIG_F_REPEAT		0x1	/* repeatable: values accumulate */
#define CONFIG_F_CMDLINE	0x2	/* command line only, not a file setting */

struct config_flag {
	const char	*name;
	int		 has_arg;	/* getopt's no_argument, required_argument, ... */
	int		 id;
	unsigned	 flags;
	const char	*arg;		/* for -help */
	const char	*help;		/* one line, with the default */
};

/* Every flag, in -help order.  A flag that is not here does not exist. */
static const struct config_flag config_flags[] = {
	{ "listen", required_argument, OPT_LISTEN, CONFIG_F_REPEAT, "LISTENER",
	  "listen on LISTENER (repeatable; at least one):\n"
	  "tcp:PORT, tcp:IPV4:PORT, tcp:[IPV6]:PORT, unix:PATH,\n"
	  "fd:N or fdname:NAME, optionally after proxy: (inbound\n"
	  "PROXY protocol) and/or http: (plain HTTP, by Host)" },
	{ "mode", required_argument, OPT_MODE, 0, "MODE",
	  "tcp, nat46 or unix (default tcp)" },
	{ "backend-cidr", required_argument, OPT_BACKEND_CIDR, CONFIG_F_REPEAT, "CIDR",
	  "allow backends inside CIDR (repeatable; tcp and nat46\n"
	  "modes need one; no default)" },
	{ "backend-port", required_argument, OPT_BACKEND_PORT, 0, "PORT",
	  "connect to PORT on the backend (default: the port\n"
	  "the client connected to, always so on http: listeners)" },
	{ "default-hostname", required_argument, OPT_DEFAULT_HOSTNAME, 0, "NAME",
	  "route clients that send no SNI to NAME\n"
	  "(default: refuse them)" },
	{ "nat46-prefix", required_argument, OPT_NAT46_PREFIX, 0, "IPV6",
	  "nat46 source prefix, IPV6 or IPV6/96; the client's\n"
	  "IPv4 address fills the last 32 bits (no default)" },
	{ "proxy-proto", optional_argument, OPT_PROXY_PROTO, 0, "[v1|v2]",
	  "send a PROXY protocol header to the backend, v2 unless\n"
	  "v1 is given (default: off)" },
	{ "unix-directory", required_argument, OPT_UNIX_DIRECTORY, 0, "DIR",
	  "unix mode: connect to the socket DIR/NAME, else\n"
	  "DIR/_.PARENT (no default)" },
	{ "dns-server", required_argument, OPT_DNS_SERVER, CONFIG_F_REPEAT, "ADDR",
	  "DNS server IP, IPV4:PORT or [IPV6]:PORT (repeatable;\n"
	  "default: the servers of /etc/resolv.conf)" },
	{ "dns-timeout", required_argument, OPT_DNS_TIMEOUT, 0, "SEC",
	  "bound on a whole DNS lookup, retries included\n"
	  "(default 2)" },
	{ "dns-stale", required_argument, OPT_DNS_STALE, 0, "SEC",
	  "serve an answer up to SEC past its TTL while the DNS\n"
	  "server fails or is slow; 0: never (default 3600)" },
	{ "dns-cache-size", required_argument, OPT_DNS_CACHE_SIZE, 0, "N",
	  "DNS answers cached per worker, 16 to 1000000\n"
	  "(default 10000)" },
	{ "hello-timeout", required_argument, OPT_HELLO_TIMEOUT, 0, "SEC",
	  "bound on receiving the ClientHello (default 5)" },
	{ "connect-timeout", required_argument, OPT_CONNECT_TIMEOUT, 0, "SEC",
	  "bound on connecting to the backend (default 5)" },
	{ "shutdown-timeout", required_argument, OPT_SHUTDOWN_TIMEOUT, 0, "SEC",
	  "on SIGTERM or SIGINT, time left to open connections\n"
	  "(default 30)" },
	{ "idle-timeout", required_argument, OPT_IDLE_TIMEOUT, 0, "SEC",
	  "close a proxied connection after SEC without traffic\n"
	  "(default 3600)" },
	{ "half-close-timeout", required_argument, OPT_HALF_CLOSE_TIMEOUT, 0, "SEC",
	  "once one side has finished sending, the idle bound\n"
	  "for the other (default 60)" },
	{ "max-connections", required_argument, OPT_MAX_CONNECTIONS, 0, "N",
	  "stop accepting while N connections are open\n"
	  "(default: what the open-file limit allows)" },
	{ "user", required_argument, OPT_USER, 0, "NAME",
	  "switch to user NAME after opening the listeners\n"
	  "(default: stay who we are)" },
	{ "log-level", required_argument, OPT_LOG_LEVEL, 0, "LEVEL",
	  "error, warn, info or debug (default info)" },
	{ "metrics", required_argument, OPT_METRICS, 0, "LISTENER",
	  "serve Prometheus metrics at http://LISTENER/metrics;\n"
	  "tcp: listeners only (default: off)" },
	{ "config", required_argument, OPT_CONFIG, CONFIG_F_CMDLINE, "FILE",
	  "read settings from FILE, then apply the flags\n"
	  "(default: none)" },
	{ "check", no_argument, OPT_CHECK, CONFIG_F_CMDLINE, NULL,
	  "validate, print the effective configuration, exit" },
	{ "version", no_argument, OPT_VERSION, CONFIG_F_CMDLINE, NULL,
	  "print the version and exit" },
	{ "help", no_argument, OPT_HELP, CONFIG_F_CMDLINE, NULL,
	  "print this help and exit" },
};

#define CONFIG_NFLAGS	(sizeof(config_flags) / sizeof(config_flags[0]))

/* snprintf that may truncate: error messages quote user input of any length. */
__attribute__((format(printf, 3, 4)))
static void
config_errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static const struct config_flag *
config_flag_by_id(int id)
{
	size_t i;

	for (i = 0; i < CONFIG_NFLAGS; i++)
		if (config_flags[i].id == id)
			return &config_flags[i];
	return NULL;
}

static const struct config_flag *
config_flag_by_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < CONFIG_NFLAGS; i++)
		if (strlen(config_flags[i].name) == len &&
		    memcmp(config_flags[i].name, name, len) == 0)
			return &config_flags[i];
	return NULL;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = MODE_TCP;
	cfg->proxy_proto = PROXY_PROTO_NONE;
	cfg->hello_timeout = 5;
	cfg->connect_timeout = 5;
	cfg->dns_timeout = 2;
	cfg->dns_stale = 3600;
	cfg->dns_cache_size = 10000;
	cfg->shutdown_timeout = 30;
	cfg->idle_timeout = 3600;
	cfg->half_close_timeout = 60;
	cfg->log_level = LOG_LEVEL_INFO;
}

/* Decimal seconds: "2", "0.5", at most 3 decimals; 0 < value <= one day. */
static int
config_duration(const char *s, double *out)
{
	double v = 0, scale = 1;
	size_t ndig = 0, nfrac = 0;

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
	if (*s != '\0' || v <= 0 || v > CONFIG_DURATION_MAX)
		return -1;
	*out = v;
	return 0;
}

/* A decimal number 0..max without sign, space or more than 5 digits. */
static int
config_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t n = 0;

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

/*
 * The nat46 source prefix: an IPv6 address whose last 32 bits are zero,
 * with or without "/96" (the Go snid takes the bare address).  The client's
 * IPv4 address is placed in those 32 bits.
 */
static int
config_nat46_prefix(const char *s, struct in6_addr *out, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	struct in6_addr a;
	char fixed[INET6_ADDRSTRLEN];
	static const uint8_t zero12[12];
	static const uint8_t mapped12[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (slash != NULL && strcmp(slash, "/96") != 0) {
		config_errf(err, errlen, "%s: only a /96 prefix is possible (the last 32 bits carry the client's IPv4 address)", s);
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
	if (memcmp(a.s6_addr, zero12, 12) == 0 || memcmp(a.s6_addr, mapped12, 12) == 0 ||
	    a.s6_addr[0] == 0xff) {
		config_errf(err, errlen, "%s: not usable as a source prefix (unspecified, IPv4-mapped or multicast); "
		    "use e.g. 64:ff9b:1::/96", s);
		return -1;
	}
	if (a.s6_addr[12] != 0 || a.s6_addr[13] != 0 || a.s6_addr[14] != 0 || a.s6_addr[15] != 0) {
		memset(a.s6_addr + 12, 0, 4);
		inet_ntop(AF_INET6, &a, fixed, sizeof(fixed));
		config_errf(err, errlen, "%s: the last 32 bits must be zero (they carry the client's IPv4 address); "
		    "did you mean %s/96?", s, fixed);
		return -1;
	}
	*out = a;
	return 0;
}

/* A user name as useradd(8) takes it: [A-Za-z0-9._-], not starting with '-', an optional final '$'. */
static bool
config_user_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= CONFIG_USER_MAX || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			continue;
		if (c == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

/* Parse the -proxy-proto value: none given means v2, like the Go snid's boolean flag. */
static int
config_proxy_proto(const char *v, enum proxy_proto *out)
{
	if (v == NULL || strcmp(v, "v2") == 0 || strcmp(v, "true") == 0)
		*out = PROXY_PROTO_V2;
	else if (strcmp(v, "v1") == 0)
		*out = PROXY_PROTO_V1;
	else if (strcmp(v, "false") == 0)
		*out = PROXY_PROTO_NONE;	/* Go's -proxy-proto=false */
	else
		return -1;
	return 0;
}

/*
 * Apply one setting to cfg.  On error err holds "VALUE: reason"; the caller
 * puts the flag name or FILE:LINE and key in front.
 */
static int
config_set(struct config *cfg, int id, const char *v, char *err, size_t errlen)
{
	unsigned long u;
	const char *reason;
	size_t n;

	switch (id) {
	case OPT_LISTEN:
		if (cfg->n_listeners == CONFIG_MAX_LISTENERS) {
			config_errf(err, errlen, "%s: too many listeners (at most %d)", v,
			    CONFIG_MAX_LISTENERS);
			return -1;
		}
		if (addrspec_parse_listener(v, &cfg->listeners[cfg->n_listeners], err, errlen) == -1)
			return -1;
		cfg->n_listeners++;
		return 0;
	case OPT_MODE:
		if (strcmp(v, "tcp") == 0)
			cfg->mode = MODE_TCP;
		else if (strcmp(v, "nat46") == 0)
			cfg->mode = MODE_NAT46;
		else if (strcmp(v, "unix") == 0)
			cfg->mode = MODE_UNIX;
		else {
			config_errf(err, errlen, "%s: must be tcp, nat46 or unix", v);
			return -1;
		}
		return 0;
	case OPT_BACKEND_CIDR:
		if (cfg->n_backend_cidrs == CONFIG_MAX_CIDRS) {
			config_errf(err, errlen, "%s: too many prefixes (at most %d)", v, CONFIG_MAX_CIDRS);
			return -1;
		}
		if (cidr_parse(v, &cfg->backend_cidrs[cfg->n_backend_cidrs], err, errlen) == -1)
			return -1;
		cfg->n_backend_cidrs++;
		return 0;
	case OPT_BACKEND_PORT:
		/* 0 is the Go snid's default: the port the client connected to. */
		if (config_uint(v, 65535, &u) == -1) {
			config_errf(err, errlen, "%s: must be a port number 1..65535", v);
			return -1;
		}
		cfg->backend_port = (uint16_t)u;
		return 0;
	case OPT_DEFAULT_HOSTNAME:
		/* Empty clears it, so a flag can undo the file's setting. */
		if (*v == '\0') {
			cfg->default_hostname[0] = '\0';
			return 0;
		}
		reason = hostname_canonicalize(v, strlen(v), cfg->default_hostname);
		if (reason != NULL) {
			config_errf(err, errlen, "%s: not a valid host name: %s", v, reason);
			return -1;
		}
		return 0;
	case OPT_NAT46_PREFIX:
		if (config_nat46_prefix(v, &cfg->nat46_prefix, err, errlen) == -1)
			return -1;
		cfg->has_nat46_prefix = true;
		return 0;
	case OPT_PROXY_PROTO:
		if (config_proxy_proto(v, &cfg->proxy_proto) == -1) {
			config_errf(err, errlen, "%s: must be v1 or v2 (or nothing, meaning v2)", v);
			return -1;
		}
		return 0;
	case OPT_UNIX_DIRECTORY:
		/*
		 * Absolute, because the daemon's working directory is nobody's
		 * business; short enough that DIR/x still fits in sun_path.
		 */
		n = strlen(v);
		if (v[0] != '/') {
			config_errf(err, errlen, "%s: must be an absolute path", v);
			return -1;
		}
		if (n + 3 > sizeof(((struct sockaddr_un *)0)->sun_path)) {
			config_errf(err, errlen, "%s: too long for a unix socket path (at most %zu bytes)", v,
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 3);
			return -1;
		}
		memcpy(cfg->unix_directory, v, n);
		cfg->unix_directory[n] = '\0';
		return 0;
	case OPT_DNS_SERVER:
		if (cfg->n_dns_servers == CONFIG_MAX_DNS_SERVERS) {
			config_errf(err, errlen, "%s: too many DNS servers (at most %d)", v,
			    CONFIG_MAX_DNS_SERVERS);
			return -1;
		}
		if (addrspec_parse_hostport(v, &cfg->dns_servers[cfg->n_dns_servers],
		    &cfg->dns_server_lens[cfg->n_dns_servers], err, errlen) == -1)
			return -1;
		cfg->n_dns_servers++;
		return 0;
	case OPT_DNS_TIMEOUT:
	case OPT_HELLO_TIMEOUT:
	case OPT_CONNECT_TIMEOUT:
	case OPT_SHUTDOWN_TIMEOUT:
	case OPT_IDLE_TIMEOUT:
	case OPT_HALF_CLOSE_TIMEOUT: {
		double d;

		if (config_duration(v, &d) == -1) {
			config_errf(err, errlen, "%s: must be seconds above 0 and at most 86400, "
			    "such as 2 or 0.5 (at most 3 decimals)", v);
			return -1;
		}
		if (id == OPT_DNS_TIMEOUT)
			cfg->dns_timeout = d;
		else if (id == OPT_HELLO_TIMEOUT)
			cfg->hello_timeout = d;
		else if (id == OPT_CONNECT_TIMEOUT)
			cfg->connect_timeout = d;
		else if (id == OPT_IDLE_TIMEOUT)
			cfg->idle_timeout = d;
		else if (id == OPT_HALF_CLOSE_TIMEOUT)
			cfg->half_close_timeout = d;
		else
			cfg->shutdown_timeout = d;
		return 0;
	}
	case OPT_DNS_STALE:
	case OPT_DNS_CACHE_SIZE: {
		unsigned long num = 0, lo = id == OPT_DNS_STALE ? 0 : 16;
		unsigned long hi = id == OPT_DNS_STALE ? 86400 : 1000000;
		const char *p;

		/* Decimal, no sign: lo..hi. */
		for (p = v; *p >= '0' && *p <= '9' && num <= hi; p++)
			num = num * 10 + (unsigned long)(*p - '0');
		if (p == v || *p != '\0' || num < lo || num > hi) {
			config_errf(err, errlen, "%s: must be a number from %lu to %lu",
			    v, lo, hi);
			return -1;
		}
		if (id == OPT_DNS_STALE)
			cfg->dns_stale = (double)num;
		else
			cfg->dns_cache_size = (size_t)num;
		return 0;
	}
	case OPT_MAX_CONNECTIONS: {
		unsigned long conns = 0;
		const char *p;

		/* Decimal, no sign, no leading zero: 1..CONFIG_MAX_CONNECTIONS. */
		for (p = v; *p >= '0' && *p <= '9' && conns <= CONFIG_MAX_CONNECTIONS; p++)
			conns = conns * 10 + (unsigned long)(*p - '0');
		if (p == v || *p != '\0' || v[0] == '0' || conns > CONFIG_MAX_CONNECTIONS) {
			config_errf(err, errlen, "%s: must be a number of connections from 1 "
			    "to %d", v, CONFIG_MAX_CONNECTIONS);
			return -1;
		}
		cfg->max_connections = (unsigned)conns;
		return 0;
	}
	case OPT_USER:
		if (*v == '\0') {
			cfg->user[0] = '\0';
			return 0;
		}
		if (!config_user_valid(v)) {
			config_errf(err, errlen, "%s: not a valid user name", v);
			return -1;
		}
		snprintf(cfg->user, sizeof(cfg->user), "%s", v);
		return 0;
	case OPT_LOG_LEVEL:
		if (strcmp(v, "error") == 0)
			cfg->log_level = LOG_LEVEL_ERROR;
		else if (strcmp(v, "warn") == 0)
			cfg->log_level = LOG_LEVEL_WARN;
		else if (strcmp(v, "info") == 0)
			cfg->log_level = LOG_LEVEL_INFO;
		else if (strcmp(v, "debug") == 0)
			cfg->log_level = LOG_LEVEL_DEBUG;
		else {
			config_errf(err, errlen, "%s: must be error, warn, info or debug", v);
			return -1;
		}
		return 0;
	case OPT_METRICS:
		/* Empty turns it off, so a flag can undo the file's setting. */
		if (*v == '\0') {
			memset(&cfg->metrics, 0, sizeof(cfg->metrics));
			return 0;
		}
		if (addrspec_parse_listener(v, &cfg->metrics, err, errlen) == -1)
			return -1;
		/* A scrape is plain HTTP on TCP: a wrapper or a unix socket would not be served. */
		if (cfg->metrics.kind != LISTEN_TCP || cfg->metrics.proxy || cfg->metrics.http) {
			memset(&cfg->metrics, 0, sizeof(cfg->metrics));
			config_errf(err, errlen, "%s: must be a tcp: listener without proxy: or http:", v);
			return -1;
		}
		return 0;
	case OPT_CONFIG:
		if (*v == '\0' || strlen(v) >= sizeof(cfg->config_file)) {
			config_errf(err, errlen, "%s: not a usable file name", v);
			return -1;
		}
		snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", v);
		return 0;
	case OPT_CHECK:
		cfg->check = true;
		return 0;
	default:
		config_errf(err, errlen, "internal error: unknown setting %d", id);
		return -1;
	}
}

/* Whether c may separate a key from its value or end a value. */
static bool
config_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int
config_parse_text(struct config *cfg, const char *name, const char *text,
    size_t len, char *errbuf, size_t errlen)
{
	/* The line on which each scalar was set, to refuse setting it twice. */
	unsigned long set_on[CONFIG_NFLAGS];
	char line[CONFIG_LINE_MAX + 1], err[CONFIG_ERR_MAX];
	unsigned long lineno = 0;
	size_t pos = 0;

	memset(set_on, 0, sizeof(set_on));
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		const struct config_flag *f;
		char *key, *value, *p, *end;
		size_t fi;

		lineno++;
		if (n > CONFIG_LINE_MAX) {
			config_errf(errbuf, errlen, "%s:%lu: line longer than %d bytes", name, lineno,
			    CONFIG_LINE_MAX);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL ? 1 : 0);
		if (memchr(line, '\0', n) != NULL) {
			config_errf(errbuf, errlen, "%s:%lu: NUL byte", name, lineno);
			return -1;
		}

		/* '#' starts a comment at the start of a line or after white space. */
		for (p = line; *p != '\0'; p++)
			if (*p == '#' && (p == line || config_space(p[-1]))) {
				*p = '\0';
				break;
			}
		key = line;
		while (config_space(*key))
			key++;
		end = key + strlen(key);
		while (end > key && config_space(end[-1]))
			*--end = '\0';
		if (*key == '\0')
			continue;
		value = key;
		while (*value != '\0' && !config_space(*value))
			value++;
		if (*value != '\0') {
			*value++ = '\0';
			while (config_space(*value))
				value++;
		}

		f = config_flag_by_name(key, strlen(key));
		if (f == NULL) {
			config_errf(errbuf, errlen, "%s:%lu: unknown setting '%s'", name, lineno, key);
			return -1;
		}
		if (f->flags & CONFIG_F_CMDLINE) {
			config_errf(errbuf, errlen, "%s:%lu: '%s' is a command-line flag, not a file setting",
			    name, lineno, key);
			return -1;
		}
		fi = (size_t)(f - config_flags);
		if (!(f->flags & CONFIG_F_REPEAT)) {
			if (set_on[fi] != 0) {
				config_errf(errbuf, errlen, "%s:%lu: '%s' already set on line %lu", name,
				    lineno, key, set_on[fi]);
				return -1;
			}
			set_on[fi] = lineno;
		}
		if (*value == '\0' && f->has_arg == required_argument) {
			config_errf(errbuf, errlen, "%s:%lu: '%s' needs a value", name, lineno, key);
			return -1;
		}
		if (config_set(cfg, f->id, *value == '\0' ? NULL : value, err, sizeof(err)) == -1) {
			config_errf(errbuf, errlen, "%s:%lu: %s %s", name, lineno, key, err);
			return -1;
		}
	}
	return 0;
}

int
config_validate(const struct config *cfg, char *errbuf, size_t errlen)
{
	char c[CIDR_STRLEN];
	size_t i, j;

	if (cfg->n_listeners == 0) {
		config_errf(errbuf, errlen, "at least one -listen is required");
		return -1;
	}
	for (i = 0; i < cfg->n_listeners; i++)
		for (j = 0; j < i; j++)
			if (strcmp(cfg->listeners[i].text, cfg->listeners[j].text) == 0) {
				config_errf(errbuf, errlen, "-listen %s: given twice", cfg->listeners[i].text);
				return -1;
			}

	switch (cfg->mode) {
	case MODE_TCP:
	case MODE_NAT46:
		if (cfg->n_backend_cidrs == 0) {
			config_errf(errbuf, errlen, "-mode %s requires at least one -backend-cidr",
			    cfg->mode == MODE_TCP ? "tcp" : "nat46");
			return -1;
		}
		if (cfg->unix_directory[0] != '\0') {
			config_errf(errbuf, errlen, "-unix-directory can only be used with -mode unix");
			return -1;
		}
		break;
	case MODE_UNIX:
		if (cfg->unix_directory[0] == '\0') {
			config_errf(errbuf, errlen, "-mode unix requires -unix-directory");
			return -1;
		}
		/* The Go snid ignores these in unix mode; a setting that does nothing is a mistake. */
		if (cfg->n_backend_cidrs != 0) {
			config_errf(errbuf, errlen, "-backend-cidr cannot be used with -mode unix");
			return -1;
		}
		if (cfg->backend_port != 0) {
			config_errf(errbuf, errlen, "-backend-port cannot be used with -mode unix");
			return -1;
		}
		if (cfg->n_dns_servers != 0) {
			config_errf(errbuf, errlen, "-dns-server cannot be used with -mode unix (no DNS lookups)");
			return -1;
		}
		break;
	}

	if (cfg->mode == MODE_NAT46) {
		if (!cfg->has_nat46_prefix) {
			config_errf(errbuf, errlen, "-mode nat46 requires -nat46-prefix");
			return -1;
		}
		if (cfg->proxy_proto != PROXY_PROTO_NONE) {
			config_errf(errbuf, errlen,
			    "-proxy-proto cannot be used with -mode nat46 (the backend sees the client's address already)");
			return -1;
		}
		/* nat46 connects from an IPv6 source address, so only IPv6 backends can be reached. */
		for (i = 0; i < cfg->n_backend_cidrs; i++)
			if (cfg->backend_cidrs[i].family == AF_INET) {
				cidr_format(&cfg->backend_cidrs[i], c, sizeof(c));
				config_errf(errbuf, errlen,
				    "-backend-cidr %s: -mode nat46 connects over IPv6 only; an IPv4 prefix cannot be used",
				    c);
				return -1;
			}
	} else if (cfg->has_nat46_prefix) {
		config_errf(errbuf, errlen, "-nat46-prefix can only be used with -mode nat46");
		return -1;
	}
	return 0;
}

/* Seconds the way config_duration() reads them back: "2", "0.5", "0.125". */
static void
config_print_duration(FILE *out, const char *key, double v)
{
	char buf[32];
	size_t n;

	snprintf(buf, sizeof(buf), "%.3f", v);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	fprintf(out, "%s %s\n", key, buf);
}

void
config_print(const struct config *cfg, FILE *out)
{
	static const char *modes[] = { "tcp", "nat46", "unix" };
	static const char *levels[] = { "error", "warn", "info", "debug" };
	char buf[ADDRSPEC_TEXT_MAX];
	size_t i;

	fprintf(out, "# snid %s: effective configuration\n", SNID_VERSION);
	for (i = 0; i < cfg->n_listeners; i++)
		fprintf(out, "listen %s\n", cfg->listeners[i].text);
	fprintf(out, "mode %s\n", modes[cfg->mode]);
	for (i = 0; i < cfg->n_backend_cidrs; i++) {
		cidr_format(&cfg->backend_cidrs[i], buf, sizeof(buf));
		fprintf(out, "backend-cidr %s\n", buf);
	}
	if (cfg->backend_port != 0)
		fprintf(out, "backend-port %u\n", cfg->backend_port);
	if (cfg->default_hostname[0] != '\0')
		fprintf(out, "default-hostname %s\n", cfg->default_hostname);
	if (cfg->has_nat46_prefix) {
		inet_ntop(AF_INET6, &cfg->nat46_prefix, buf, sizeof(buf));
		fprintf(out, "nat46-prefix %s/96\n", buf);
	}
	if (cfg->proxy_proto != PROXY_PROTO_NONE)
		fprintf(out, "proxy-proto %s\n", cfg->proxy_proto == PROXY_PROTO_V1 ? "v1" : "v2");
	if (cfg->unix_directory[0] != '\0')
		fprintf(out, "unix-directory %s\n", cfg->unix_directory);
	for (i = 0; i < cfg->n_dns_servers; i++) {
		addrspec_format((const struct sockaddr *)&cfg->dns_servers[i],
		    cfg->dns_server_lens[i], buf, sizeof(buf));
		fprintf(out, "dns-server %s\n", buf);
	}
	config_print_duration(out, "dns-timeout", cfg->dns_timeout);
	fprintf(out, "dns-stale %.0f\n", cfg->dns_stale);
	fprintf(out, "dns-cache-size %zu\n", cfg->dns_cache_size);
	config_print_duration(out, "hello-timeout", cfg->hello_timeout);
	config_print_duration(out, "connect-timeout", cfg->connect_timeout);
	config_print_duration(out, "shutdown-timeout", cfg->shutdown_timeout);
	config_print_duration(out, "idle-timeout", cfg->idle_timeout);
	config_print_duration(out, "half-close-timeout", cfg->half_close_timeout);
	if (cfg->max_connections != 0)
		fprintf(out, "max-connections %u\n", cfg->max_connections);
	if (cfg->user[0] != '\0')
		fprintf(out, "user %s\n", cfg->user);
	if (cfg->metrics.text[0] != '\0')
		fprintf(out, "metrics %s\n", cfg->metrics.text);
	fprintf(out, "log-level %s\n", levels[cfg->log_level]);
}

void
config_usage(FILE *out)
{
	size_t i;

	fprintf(out,
	    "usage: snid -listen LISTENER [-listen ...] [-mode tcp|nat46|unix] [flags]\n"
	    "       snid -config FILE [flags]\n"
	    "\n"
	    "snid routes TLS connections by the SNI of their ClientHello, without\n"
	    "decrypting: tcp and nat46 modes resolve the name and connect to an address\n"
	    "inside -backend-cidr; unix mode connects to a socket named after it.\n"
	    "http: listeners route plain HTTP the same way, by its Host header.\n"
	    "\n"
	    "Flags (-flag VALUE, -flag=VALUE, --flag VALUE; not abbreviated):\n");
	for (i = 0; i < CONFIG_NFLAGS; i++) {
		const struct config_flag *f = &config_flags[i];
		char head[48];
		const char *h = f->help, *nl;

		snprintf(head, sizeof(head), "-%s%s%s", f->name, f->arg != NULL ? " " : "",
		    f->arg != NULL ? f->arg : "");
		fprintf(out, "  %-22s", head);
		/* Continuation lines of a long description are indented under the first. */
		while ((nl = strchr(h, '\n')) != NULL) {
			fprintf(out, " %.*s\n%24s", (int)(nl - h), h, "");
			h = nl + 1;
		}
		fprintf(out, " %s\n", h);
	}
	fprintf(out,
	    "\n"
	    "A -config file holds one setting per line, the flag name without the dash:\n"
	    "\"listen tcp:0.0.0.0:443\".  A flag overrides the file; a repeatable flag on\n"
	    "the command line replaces the file's list.  See snid(8) and snid.conf(5).\n");
}

/* Print msg with control characters replaced, so input cannot drive a terminal. */
static void
config_print_error(FILE *err, const char *msg)
{
	const char *p;

	fputs("snid: ", err);
	for (p = msg; *p != '\0'; p++)
		fputc(((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p, err);
	fputs("\nrun 'snid -help' for usage\n", err);
}

/* Read the file named by -config into a NUL-terminated heap buffer. */
static char *
config_read_file(const char *path, size_t *lenp, char *errbuf, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t n;

	f = fopen(path, "re");
	if (f == NULL) {
		config_errf(errbuf, errlen, "-config %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		config_errf(errbuf, errlen, "-config %s: out of memory", path);
		return NULL;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		config_errf(errbuf, errlen, "-config %s: %s", path, strerror(errno));
		goto fail;
	}
	if (n > CONFIG_FILE_MAX) {
		config_errf(errbuf, errlen, "-config %s: larger than %d bytes", path, CONFIG_FILE_MAX);
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*lenp = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* What the first pass over argv finds. */
struct config_pass1 {
	bool		help;
	bool		version;
	const char	*config;
};

/*
 * Walk argv once.  Pass 1 checks the syntax and notes -config, -help and
 * -version; pass 2 applies every other flag to cfg.  The same walk is used
 * twice so that both passes see exactly the same (flag, value) sequence.
 */
static int
config_walk(struct config *cfg, int argc, char **argv, int pass,
    struct config_pass1 *p1, char *errbuf, size_t errlen)
{
	struct option longopts[CONFIG_NFLAGS + 1];
	bool cleared[CONFIG_NFLAGS];
	char err[CONFIG_ERR_MAX];
	size_t i;

	memset(longopts, 0, sizeof(longopts));
	memset(cleared, 0, sizeof(cleared));
	for (i = 0; i < CONFIG_NFLAGS; i++) {
		longopts[i].name = config_flags[i].name;
		longopts[i].has_arg = config_flags[i].has_arg;
		longopts[i].val = config_flags[i].id;
	}

	/* optind 0 makes glibc's getopt start over; opterr 0: our messages, not getopt's. */
	optind = 0;
	opterr = 0;
	for (;;) {
		int at = optind == 0 ? 1 : optind, li = -1, c;
		const char *word, *name, *eq, *value;
		const struct config_flag *f;
		size_t namelen;

		/* "+": stop at the first non-flag word, which is then an error below. */
		c = getopt_long_only(argc, argv, "+:", longopts, &li);
		if (c == -1)
			break;
		word = at < argc ? argv[at] : "";
		name = word[0] == '\0' ? word : word + (strncmp(word, "--", 2) == 0 ? 2 : 1);
		eq = strchr(name, '=');
		namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if (c == ':') {
			config_errf(errbuf, errlen, "-%.*s needs a value", (int)namelen, name);
			return -1;
		}
		if (c == '?') {
			f = config_flag_by_id(optopt);
			if (f != NULL)
				config_errf(errbuf, errlen, "-%s takes no value", f->name);
			else
				config_errf(errbuf, errlen, "unknown flag '-%.*s'", (int)namelen, name);
			return -1;
		}
		f = li >= 0 ? &config_flags[li] : config_flag_by_id(c);
		if (f == NULL || strlen(f->name) != namelen || memcmp(f->name, name, namelen) != 0) {
			config_errf(errbuf, errlen, "unknown flag '-%.*s'%s%s%s", (int)namelen, name,
			    f != NULL ? " (flags cannot be abbreviated: -" : "",
			    f != NULL ? f->name : "", f != NULL ? ")" : "");
			return -1;
		}
		value = optarg;
		/*
		 * getopt only takes an optional value as "-proxy-proto=v1";
		 * also take "-proxy-proto v1" as two words, but only exactly
		 * v1 or v2, so that "-proxy-proto -listen ..." keeps working.
		 */
		if (f->id == OPT_PROXY_PROTO && value == NULL && optind < argc &&
		    (strcmp(argv[optind], "v1") == 0 || strcmp(argv[optind], "v2") == 0))
			value = argv[optind++];

		if (pass == 1) {
			if (f->id == OPT_HELP)
				p1->help = true;
			else if (f->id == OPT_VERSION)
				p1->version = true;
			else if (f->id == OPT_CONFIG)
				p1->config = value;
			continue;
		}
		if (f->id == OPT_HELP || f->id == OPT_VERSION)
			continue;
		/* A repeatable flag on the command line replaces the file's list. */
		if ((f->flags & CONFIG_F_REPEAT) && !cleared[li]) {
			cleared[li] = true;
			if (f->id == OPT_LISTEN)
				cfg->n_listeners = 0;
			else if (f->id == OPT_BACKEND_CIDR)
				cfg->n_backend_cidrs = 0;
			else if (f->id == OPT_DNS_SERVER)
				cfg->n_dns_servers = 0;
		}
		if (config_set(cfg, f->id, value, err, sizeof(err)) == -1) {
			config_errf(errbuf, errlen, "-%s %s", f->name, err);
			return -1;
		}
	}
	if (optind < argc) {
		config_errf(errbuf, errlen, "unexpected argument '%s' (every setting is a -flag)", argv[optind]);
		return -1;
	}
	return 0;
}

enum config_status
config_load(struct config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
	struct config_pass1 p1 = { false, false, NULL };
	char errbuf[CONFIG_ERR_MAX];

	config_defaults(cfg);
	if (config_walk(cfg, argc, argv, 1, &p1, errbuf, sizeof(errbuf)) == -1)
		goto usage;
	if (p1.help) {
		config_usage(out);
		return CONFIG_EXIT_OK;
	}
	if (p1.version) {
		fprintf(out, "snid %s\n", SNID_VERSION);
		return CONFIG_EXIT_OK;
	}
	if (p1.config != NULL) {
		char *text;
		size_t len;
		int rc;

		if (config_set(cfg, OPT_CONFIG, p1.config, errbuf, sizeof(errbuf)) == -1) {
			char tmp[CONFIG_ERR_MAX];

			config_errf(tmp, sizeof(tmp), "-config %s", errbuf);
			snprintf(errbuf, sizeof(errbuf), "%s", tmp);
			goto usage;
		}
		text = config_read_file(cfg->config_file, &len, errbuf, sizeof(errbuf));
		if (text == NULL)
			goto usage;
		rc = config_parse_text(cfg, cfg->config_file, text, len, errbuf, sizeof(errbuf));
		free(text);
		if (rc == -1)
			goto usage;
	}
	if (config_walk(cfg, argc, argv, 2, &p1, errbuf, sizeof(errbuf)) == -1)
		goto usage;
	if (config_validate(cfg, errbuf, sizeof(errbuf)) == -1)
		goto usage;
	if (cfg->check) {
		config_print(cfg, out);
		return CONFIG_EXIT_OK;
	}
	return CONFIG_RUN;
usage:
	config_print_error(err, errbuf);
	return CONFIG_EXIT_USAGE;
}
