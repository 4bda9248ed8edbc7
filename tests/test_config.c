/*
 * Unit tests for config: every flag in every spelling, every error message
 * with the flag it names and the exit status, the file syntax, flags
 * overriding the file, -check output read back, and the documentation
 * (-help, snid(8), snid.conf(5)) naming every flag.
 *
 * Run from the top of the source tree (make unit does): the tests read
 * tests/data/config/, snid.conf.example and man/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/config.h"

#define MAX_ARGS	64

struct result {
	enum config_status	status;
	char			*out;
	char			*err;
	size_t			outlen, errlen;
};

static struct config *cfg;

static int
setup(void **state)
{
	(void)state;
	cfg = calloc(1, sizeof(*cfg));
	return cfg == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(cfg);
	return 0;
}

static void
result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* config_load on a NULL-terminated word list, argv[0] added. */
static struct result
load_words(struct config *c, const char *const *words)
{
	char		*argv[MAX_ARGS + 2];
	struct result	r;
	FILE		*out, *err;
	char		msg[CONFIG_ERR_MAX];
	int		argc = 0;

	argv[argc++] = (char *)(uintptr_t)"snid";
	for (; *words != NULL; words++) {
		assert_true(argc <= MAX_ARGS);
		argv[argc++] = (char *)(uintptr_t)*words;
	}
	argv[argc] = NULL;
	memset(&r, 0, sizeof(r));
	out = open_memstream(&r.out, &r.outlen);
	err = open_memstream(&r.err, &r.errlen);
	assert_non_null(out);
	assert_non_null(err);
	r.status = config_load(c, argc, argv, out, msg, sizeof(msg));
	/* What main prints for an error. */
	if (r.status == CONFIG_EXIT_USAGE)
		config_usage_error(err, msg);
	fclose(out);
	fclose(err);
	return r;
}

/* Load and expect CONFIG_RUN with nothing printed. */
static void
load_run(struct config *c, const char *const *words)
{
	struct result	r = load_words(c, words);

	if (r.status != CONFIG_RUN)
		fail_msg("status %d, err: %s", r.status, r.err);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "");
	result_free(&r);
}

/* Load and expect exit status 2 with exactly "snid: MSG\n" and the hint. */
static void
load_usage_error(const char *const *words, const char *msg)
{
	struct result	r = load_words(cfg, words);
	char		want[2048];

	snprintf(want, sizeof(want), "snid: %s\nrun 'snid -help' for usage\n", msg);
	assert_int_equal(r.status, CONFIG_EXIT_USAGE);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");
	result_free(&r);
}

#define WORDS(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define BASE		"-listen", "tcp:0.0.0.0:443", "-backend-cidr", "2001:db8:1:2:3::/80"

/* Write text to a fresh temporary file; returns its malloc'd name. */
static char *
temp_file(const char *text)
{
	char	*name = strdup("/tmp/test_config.XXXXXX");
	int	fd;
	FILE	*f;

	assert_non_null(name);
	fd = mkstemp(name);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return name;
}

static char *
read_whole(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*buf;
	long	n;

	if (f == NULL)
		fail_msg("cannot open %s (run from the top of the tree)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_config_defaults(void **state)
{
	(void)state;
	memset(cfg, 0x5a, sizeof(*cfg));
	config_defaults(cfg);
	assert_int_equal(cfg->n_listeners, 0);
	assert_int_equal(cfg->mode, MODE_TCP);
	assert_int_equal(cfg->n_backend_cidrs, 0);
	assert_int_equal(cfg->backend_port, 0);
	assert_string_equal(cfg->default_hostname, "");
	assert_false(cfg->has_nat46_prefix);
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_NONE);
	assert_string_equal(cfg->unix_directory, "");
	assert_int_equal(cfg->n_dns_servers, 0);
	assert_string_equal(cfg->config_file, "");
	assert_true(cfg->hello_timeout == 5.0);
	assert_true(cfg->connect_timeout == 5.0);
	assert_true(cfg->dns_timeout == 2.0);
	assert_true(cfg->shutdown_timeout == 30.0);
	assert_string_equal(cfg->user, "");
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_false(cfg->check);
}

static void
test_config_minimal_tcp(void **state)
{
	char	buf[CIDR_STRLEN];

	(void)state;
	load_run(cfg, WORDS(BASE));
	assert_int_equal(cfg->n_listeners, 1);
	assert_string_equal(cfg->listeners[0].text, "tcp:0.0.0.0:443");
	assert_int_equal(cfg->listeners[0].kind, LISTEN_TCP);
	assert_int_equal(cfg->mode, MODE_TCP);
	assert_int_equal(cfg->n_backend_cidrs, 1);
	cidr_format(&cfg->backend_cidrs[0], buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2:3::/80");
	assert_false(cfg->check);
}

/* One flag with one value, checked by a predicate on the result. */
struct flag_case {
	const char	*flag;
	const char	*value;
	const char	*extra[8];	/* more words the combination needs */
	bool		(*check)(const struct config *);
};

static bool
check_mode_nat46(const struct config *c)
{
	return c->mode == MODE_NAT46 && c->has_nat46_prefix;
}

static bool
check_port(const struct config *c)
{
	return c->backend_port == 8443;
}

static bool
check_default(const struct config *c)
{
	return strcmp(c->default_hostname, "www.example.com") == 0;
}

static bool
check_prefix(const struct config *c)
{
	struct in6_addr	want;

	inet_pton(AF_INET6, "64:ff9b:1::", &want);
	return c->has_nat46_prefix && memcmp(&c->nat46_prefix, &want, 16) == 0;
}

static bool
check_proxy_v1(const struct config *c)
{
	return c->proxy_proto == PROXY_PROTO_V1;
}

static bool
check_unixdir(const struct config *c)
{
	return c->mode == MODE_UNIX && strcmp(c->unix_directory, "/run/snid/b/") == 0;
}

static bool
check_dns(const struct config *c)
{
	const struct sockaddr_in	*s;

	s = (const struct sockaddr_in *)(const void *)&c->dns_servers[0];
	return c->n_dns_servers == 1 && s->sin_family == AF_INET && ntohs(s->sin_port) == 5353 &&
	    s->sin_addr.s_addr == htonl(0x7f000001);
}

static bool
check_dns_timeout(const struct config *c)
{
	return c->dns_timeout == 0.5;
}

static bool
check_dns_stale(const struct config *c)
{
	return c->dns_stale == 0;
}

static bool
check_dns_cache(const struct config *c)
{
	return c->dns_cache_size == 500;
}

static bool
check_idle(const struct config *c)
{
	return c->idle_timeout == 600;
}

static bool
check_half_close(const struct config *c)
{
	return c->half_close_timeout == 2.5;
}

static bool
check_max_conns(const struct config *c)
{
	return c->max_connections == 20000;
}

static bool
check_hello(const struct config *c)
{
	return c->hello_timeout == 7.0;
}

static bool
check_connect(const struct config *c)
{
	return c->connect_timeout == 1.25;
}

static bool
check_shutdown(const struct config *c)
{
	return c->shutdown_timeout == 86400.0;
}

static bool
check_user(const struct config *c)
{
	return strcmp(c->user, "nobody") == 0;
}

static bool
check_log(const struct config *c)
{
	return c->log_level == LOG_LEVEL_DEBUG;
}

static bool
check_metrics(const struct config *c)
{
	const struct sockaddr_in	*s;

	s = (const struct sockaddr_in *)(const void *)&c->metrics.addr;
	return c->metrics.kind == LISTEN_TCP && strcmp(c->metrics.text,
	    "tcp:127.0.0.1:9199") == 0 &&
	    s->sin_family == AF_INET && ntohs(s->sin_port) == 9199;
}

static bool
check_listen(const struct config *c)
{
	return c->n_listeners == 1 && c->listeners[0].kind == LISTEN_FDNAME &&
	    strcmp(c->listeners[0].fdname, "https") == 0;
}

static bool
check_cidr(const struct config *c)
{
	return c->n_backend_cidrs == 1 && c->backend_cidrs[0].family == AF_INET &&
	    c->backend_cidrs[0].prefixlen == 24;
}

static const struct flag_case flag_cases[] = {
	{ "listen", "fdname:https", { "-backend-cidr", "::/0" }, check_listen },
	{ "backend-cidr", "192.0.2.0/24", { "-listen", "tcp:443" }, check_cidr },
	{ "mode", "nat46", { BASE, "-nat46-prefix", "64:ff9b:1::" }, check_mode_nat46 },
	{ "backend-port", "8443", { BASE }, check_port },
	{ "default-hostname", "WWW.example.com.", { BASE }, check_default },
	{ "nat46-prefix", "64:ff9b:1::/96", { BASE, "-mode", "nat46" }, check_prefix },
	{ "proxy-proto", "v1", { BASE }, check_proxy_v1 },
	{ "unix-directory", "/run/snid/b/", { "-listen", "tcp:443", "-mode", "unix" }, check_unixdir },
	{ "dns-server", "127.0.0.1:5353", { BASE }, check_dns },
	{ "dns-timeout", "0.5", { BASE }, check_dns_timeout },
	{ "dns-stale", "0", { BASE }, check_dns_stale },
	{ "dns-cache-size", "500", { BASE }, check_dns_cache },
	{ "hello-timeout", "7", { BASE }, check_hello },
	{ "connect-timeout", "1.25", { BASE }, check_connect },
	{ "shutdown-timeout", "86400", { BASE }, check_shutdown },
	{ "user", "nobody", { BASE }, check_user },
	{ "log-level", "debug", { BASE }, check_log },
	{ "metrics", "tcp:127.0.0.1:9199", { BASE }, check_metrics },
	{ "idle-timeout", "600", { BASE }, check_idle },
	{ "half-close-timeout", "2.5", { BASE }, check_half_close },
	{ "max-connections", "20000", { BASE }, check_max_conns },
};

/* Each flag as -f V, --f V, -f=V and --f=V. */
static void
test_config_each_flag_every_spelling(void **state)
{
	size_t	i, j, k;

	(void)state;
	for (i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]); i++) {
		const struct flag_case *fc = &flag_cases[i];

		for (j = 0; j < 4; j++) {
			const char *words[16];
			char flag[64];
			size_t n = 0;

			for (k = 0; k < 8 && fc->extra[k] != NULL; k++)
				words[n++] = fc->extra[k];
			snprintf(flag, sizeof(flag), "%s%s%s%s", (j & 1) ? "--" : "-", fc->flag,
			    (j & 2) ? "=" : "", (j & 2) ? fc->value : "");
			words[n++] = flag;
			if (!(j & 2))
				words[n++] = fc->value;
			words[n] = NULL;
			load_run(cfg, words);
			if (!fc->check(cfg))
				fail_msg("%s (spelling %zu) did not take effect", flag, j);
		}
	}
}

static void
test_config_proxy_proto_forms(void **state)
{
	(void)state;
	load_run(cfg, WORDS(BASE));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_NONE);
	load_run(cfg, WORDS(BASE, "-proxy-proto"));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V2);
	load_run(cfg, WORDS("-proxy-proto", BASE));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V2);
	load_run(cfg, WORDS(BASE, "-proxy-proto", "v1"));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V1);
	load_run(cfg, WORDS("--proxy-proto", "v2", BASE));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V2);
	load_run(cfg, WORDS(BASE, "-proxy-proto=v1"));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V1);
	/* The Go snid's boolean spellings. */
	load_run(cfg, WORDS(BASE, "-proxy-proto=true"));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V2);
	load_run(cfg, WORDS(BASE, "-proxy-proto", "-proxy-proto=false"));
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_NONE);
	load_usage_error(WORDS(BASE, "-proxy-proto=v3"),
	    "-proxy-proto v3: must be v1 or v2 (or nothing, meaning v2)");
	load_usage_error(WORDS(BASE, "-proxy-proto="),
	    "-proxy-proto : must be v1 or v2 (or nothing, meaning v2)");
	/* Only exactly v1/v2 is taken as a separate word. */
	load_usage_error(WORDS(BASE, "-proxy-proto", "v3"),
	    "unexpected argument 'v3' (every setting is a -flag)");
	load_usage_error(WORDS(BASE, "-proxy-proto", "true"),
	    "unexpected argument 'true' (every setting is a -flag)");
}

static void
test_config_repeatable_flags_accumulate(void **state)
{
	(void)state;
	load_run(cfg, WORDS("-listen", "tcp:0.0.0.0:443", "-listen", "tcp:[::]:443",
	    "--listen=http:tcp:0.0.0.0:80", "-backend-cidr", "2001:db8::/32",
	    "-backend-cidr=10.0.0.0/8", "-dns-server", "127.0.0.1", "-dns-server", "[::1]:53"));
	assert_int_equal(cfg->n_listeners, 3);
	assert_true(cfg->listeners[2].http);
	assert_int_equal(cfg->n_backend_cidrs, 2);
	assert_int_equal(cfg->n_dns_servers, 2);
}

static void
test_config_scalar_flag_last_wins(void **state)
{
	(void)state;
	load_run(cfg, WORDS(BASE, "-log-level", "error", "-log-level", "warn"));
	assert_int_equal(cfg->log_level, LOG_LEVEL_WARN);
	/* An empty value clears -default-hostname and -user. */
	load_run(cfg, WORDS(BASE, "-default-hostname", "a.example", "-default-hostname="));
	assert_string_equal(cfg->default_hostname, "");
	load_run(cfg, WORDS(BASE, "-user", "snid", "-user", ""));
	assert_string_equal(cfg->user, "");
}

static void
test_config_version_and_help(void **state)
{
	struct result	r;
	size_t		i;

	(void)state;
	r = load_words(cfg, WORDS("-version"));
	assert_int_equal(r.status, CONFIG_EXIT_OK);
	assert_string_equal(r.out, "snid " SNID_VERSION "\n");
	assert_string_equal(r.err, "");
	result_free(&r);
	r = load_words(cfg, WORDS("--version"));
	assert_string_equal(r.out, "snid " SNID_VERSION "\n");
	result_free(&r);

	/* -help wins over a missing -config file and needs nothing else. */
	r = load_words(cfg, WORDS("-config", "/nonexistent/snid.conf", "-help"));
	assert_int_equal(r.status, CONFIG_EXIT_OK);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "usage: snid"));
	/* Every row, in table order. */
	{
		const char *at = r.out;

		for (i = 0; i < config_n_options; i++) {
			char needle[64];

			snprintf(needle, sizeof(needle), "\n  -%s ", config_options[i].name);
			at = strstr(at, needle);
			if (at == NULL)
				fail_msg("-help does not describe -%s after the flag before it",
				    config_options[i].name);
		}
	}
	/* Every default is stated. */
	assert_non_null(strstr(r.out, "(default tcp)"));
	assert_non_null(strstr(r.out, "(default 2)"));
	assert_non_null(strstr(r.out, "(default 5)"));
	assert_non_null(strstr(r.out, "(default 30)"));
	assert_non_null(strstr(r.out, "(default info)"));
	/* Fits a terminal. */
	{
		const char *p = r.out, *nl;

		while ((nl = strchr(p, '\n')) != NULL) {
			if (nl - p > 79)
				fail_msg("help line longer than 79: %.*s", (int)(nl - p), p);
			p = nl + 1;
		}
	}
	result_free(&r);
}

static void
test_config_flag_syntax_errors(void **state)
{
	(void)state;
	load_usage_error(WORDS(BASE, "-bogus"), "unknown flag '-bogus'");
	load_usage_error(WORDS(BASE, "--bogus=1"), "unknown flag '-bogus'");
	load_usage_error(WORDS("-list", "tcp:443"),
	    "unknown flag '-list' (flags cannot be abbreviated: -listen)");
	load_usage_error(WORDS(BASE, "-c"), "unknown flag '-c'");
	load_usage_error(WORDS(BASE, "-listen"), "-listen needs a value");
	load_usage_error(WORDS(BASE, "--backend-cidr"), "-backend-cidr needs a value");
	load_usage_error(WORDS(BASE, "-check=yes"), "-check takes no value");
	load_usage_error(WORDS(BASE, "-help=1"), "-help takes no value");
	load_usage_error(WORDS(BASE, "stray"), "unexpected argument 'stray' (every setting "
	    "is a -flag)");
	load_usage_error(WORDS(BASE, "--", "-mode"), "unexpected argument '-mode' (every "
	    "setting is a -flag)");
	load_usage_error(WORDS("stray", BASE), "unexpected argument 'stray' (every setting "
	    "is a -flag)");
}

static void
test_config_value_errors_name_the_flag(void **state)
{
	(void)state;
	load_usage_error(WORDS("-listen", "tcp:99999", "-backend-cidr", "::/0"),
	    "-listen tcp:99999: port must be a number 1..65535");
	load_usage_error(WORDS(BASE, "-mode", "udp"), "-mode udp: must be tcp, nat46 or unix");
	load_usage_error(WORDS("-listen", "tcp:443", "-backend-cidr", "10.0.0.1/8"),
	    "-backend-cidr 10.0.0.1/8: host bits set; did you mean 10.0.0.0/8?");
	load_usage_error(WORDS("-listen", "tcp:443", "-backend-cidr", "2001:db8::1/80"),
	    "-backend-cidr 2001:db8::1/80: host bits set; did you mean 2001:db8::/80?");
	load_usage_error(WORDS(BASE, "-backend-port", "65536"),
	    "-backend-port 65536: must be a port number 1..65535");
	load_usage_error(WORDS(BASE, "-backend-port", "-1"),
	    "-backend-port -1: must be a port number 1..65535");
	load_usage_error(WORDS(BASE, "-default-hostname", "192.0.2.1"),
	    "-default-hostname 192.0.2.1: not a valid host name: IPv4 literal");
	load_usage_error(WORDS(BASE, "-default-hostname", "a..b"),
	    "-default-hostname a..b: not a valid host name: empty label");
	load_usage_error(WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "64:ff9b:1::/64"),
	    "-nat46-prefix 64:ff9b:1::/64: only a /96 prefix is possible (the last 32 bits "
	    "carry the client's IPv4 address)");
	load_usage_error(WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "64:ff9b:1::1"),
	    "-nat46-prefix 64:ff9b:1::1: the last 32 bits must be zero (they carry the "
	    "client's IPv4 address); did you mean 64:ff9b:1::/96?");
	load_usage_error(WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "192.0.2.0"),
	    "-nat46-prefix 192.0.2.0: not an IPv6 address");
	load_usage_error(WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "::ffff:0:0"),
	    "-nat46-prefix ::ffff:0:0: not usable as a source prefix (unspecified, "
	    "IPv4-mapped or multicast); use e.g. 64:ff9b:1::/96");
	load_usage_error(WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "::"),
	    "-nat46-prefix ::: not usable as a source prefix (unspecified, IPv4-mapped or "
	    "multicast); use e.g. 64:ff9b:1::/96");
	load_usage_error(WORDS("-listen", "tcp:443", "-mode", "unix", "-unix-directory",
	    "run/snid"),
	    "-unix-directory run/snid: must be an absolute path");
	load_usage_error(WORDS(BASE, "-dns-server", "dns.google"),
	    "-dns-server dns.google: invalid IPv4 address");
	load_usage_error(WORDS(BASE, "-user", "-root"), "-user -root: not a valid user name");
	load_usage_error(WORDS(BASE, "-user", "a b"), "-user a b: not a valid user name");
	load_usage_error(WORDS(BASE, "-log-level", "trace"),
	    "-log-level trace: must be error, warn, info or debug");
	load_usage_error(WORDS(BASE, "-metrics", "tcp:70000"),
	    "-metrics tcp:70000: port must be a number 1..65535");
	load_usage_error(WORDS(BASE, "-metrics", "unix:/run/snid.metrics"),
	    "-metrics unix:/run/snid.metrics: must be a tcp: listener without proxy: or http:");
	load_usage_error(WORDS(BASE, "-metrics", "http:tcp:9199"),
	    "-metrics http:tcp:9199: must be a tcp: listener without proxy: or http:");
	load_usage_error(WORDS(BASE, "-metrics", "proxy:tcp:9199"),
	    "-metrics proxy:tcp:9199: must be a tcp: listener without proxy: or http:");
	load_usage_error(WORDS(BASE, "-metrics", "fd:3"),
	    "-metrics fd:3: must be a tcp: listener without proxy: or http:");
	load_usage_error(WORDS(BASE, "-config", "/nonexistent/snid.conf"),
	    "-config /nonexistent/snid.conf: No such file or directory");
	load_usage_error(WORDS(BASE, "-config", "/"), "-config /: Is a directory");
	load_usage_error(WORDS(BASE, "-config="), "-config : not a usable file name");
	/* Control characters in a quoted value cannot reach the terminal. */
	load_usage_error(WORDS(BASE, "-mode", "x\x1b[2J\ty"), "-mode x?[2J?y: must be tcp, "
	    "nat46 or unix");
}

static void
test_config_durations(void **state)
{
	static const char *const good[] = { "2", "0.5", "0.001", "86400", "1.250", "30" };
	static const double	good_v[] = { 2, 0.5, 0.001, 86400, 1.25, 30 };
	static const char *const bad[] = {
		"0", "0.0", "0.000", "-1", "1e3", "0x10", " 2", "2 ", "2.", ".5", "86400.001",
		"86401", "inf", "nan", "0.0001", "1,5", "", "+2", "2s", "1000000",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		load_run(cfg, WORDS(BASE, "-hello-timeout", good[i]));
		if (cfg->hello_timeout != good_v[i])
			fail_msg("%s read as %f", good[i], cfg->hello_timeout);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[256];

		snprintf(want, sizeof(want), "-dns-timeout %s: must be seconds above 0 and "
		    "at most 86400, "
		    "such as 2 or 0.5 (at most 3 decimals)", bad[i]);
		load_usage_error(WORDS(BASE, "-dns-timeout", bad[i]), want);
	}
}

/* -dns-stale is a duration that may be 0 (off); -dns-cache-size 16..1000000. */
static void
test_config_dns_cache_values(void **state)
{
	static const char *const bad_stale[] = {
		"-1", "86401", "1e3", "", "2s", "+5"
	};
	static const char *const bad_size[] = {
		"0", "15", "1000001", "x", "", "007"
	};
	char	want[256];
	size_t	i;

	(void)state;
	load_run(cfg, WORDS(BASE, "-dns-stale", "86400", "-dns-cache-size",
	    "16"));
	assert_true(cfg->dns_stale == 86400);
	assert_int_equal(cfg->dns_cache_size, 16);
	load_run(cfg, WORDS(BASE, "-dns-stale", "0"));
	assert_true(cfg->dns_stale == 0);
	for (i = 0; i < sizeof(bad_stale) / sizeof(bad_stale[0]); i++) {
		snprintf(want, sizeof(want), "-dns-stale %s: must be seconds "
		    "from 0 to 86400, such as 2 or 0.5 (at most 3 decimals)",
		    bad_stale[i]);
		load_usage_error(WORDS(BASE, "-dns-stale", bad_stale[i]), want);
	}
	for (i = 0; i < sizeof(bad_size) / sizeof(bad_size[0]); i++) {
		snprintf(want, sizeof(want), "-dns-cache-size %s: must be a "
		    "number from 16 to 1000000", bad_size[i]);
		load_usage_error(WORDS(BASE, "-dns-cache-size", bad_size[i]),
		    want);
	}
}

static void
test_config_max_connections_values(void **state)
{
	static const char *const bad[] = { "0", "-1", "01", "1000001", "1e3", "", "12x",
	    "99999999999999999999" };
	size_t	i;

	(void)state;
	load_run(cfg, WORDS(BASE));
	assert_int_equal(cfg->max_connections, 0);	/* automatic */
	load_run(cfg, WORDS(BASE, "-max-connections", "1"));
	assert_int_equal(cfg->max_connections, 1);
	load_run(cfg, WORDS(BASE, "-max-connections", "1000000"));
	assert_int_equal(cfg->max_connections, 1000000);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[256];

		snprintf(want, sizeof(want), "-max-connections %s: must be a number of "
		    "connections from 1 to 1000000", bad[i]);
		load_usage_error(WORDS(BASE, "-max-connections", bad[i]), want);
	}
}

static void
test_config_limits_name_the_flag(void **state)
{
	const char	*words[MAX_ARGS + 1];
	char		vals[CONFIG_MAX_CIDRS + 1][32];
	size_t		n, i;

	(void)state;
	/* CONFIG_MAX_LISTENERS listeners are fine, one more is not. */
	n = 0;
	words[n++] = "-backend-cidr";
	words[n++] = "::/0";
	for (i = 0; i <= CONFIG_MAX_LISTENERS; i++) {
		snprintf(vals[i], sizeof(vals[i]), "tcp:%zu", 1000 + i);
		words[n++] = "-listen";
		words[n++] = vals[i];
	}
	words[n - 2] = NULL;
	load_run(cfg, words);
	assert_int_equal(cfg->n_listeners, CONFIG_MAX_LISTENERS);
	words[n - 2] = "-listen";
	words[n] = NULL;
	load_usage_error(words, "-listen tcp:1016: too many listeners (at most 16)");

	n = 0;
	words[n++] = "-listen";
	words[n++] = "tcp:443";
	for (i = 0; i < CONFIG_MAX_DNS_SERVERS + 1; i++) {
		snprintf(vals[i], sizeof(vals[i]), "127.0.0.%zu", i + 1);
		words[n++] = "-dns-server";
		words[n++] = vals[i];
	}
	words[n++] = "-backend-cidr";
	words[n++] = "::/0";
	words[n] = NULL;
	load_usage_error(words, "-dns-server 127.0.0.9: too many DNS servers (at most 8)");
}

static void
test_config_too_many_cidrs_in_file(void **state)
{
	char	text[8192], err[512];
	size_t	i, off = 0;

	(void)state;
	for (i = 0; i <= CONFIG_MAX_CIDRS; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "backend-cidr 10.%zu.0.0/16\n", i);
	config_defaults(cfg);
	assert_int_equal(config_parse_text(cfg, "many.conf", text, off, err, sizeof(err)), -1);
	assert_string_equal(err, "many.conf:65: backend-cidr 10.64.0.0/16: too many "
	    "prefixes (at most 64)");
	assert_int_equal(cfg->n_backend_cidrs, CONFIG_MAX_CIDRS);
}

static void
test_config_validation_errors(void **state)
{
	(void)state;
	load_usage_error(WORDS("-backend-cidr", "::/0"), "at least one -listen is required");
	load_usage_error(WORDS("-listen", "tcp:443"), "-mode tcp requires at least one "
	    "-backend-cidr");
	load_usage_error(WORDS("-listen", "tcp:443", "-mode", "nat46", "-nat46-prefix",
	    "64:ff9b:1::"),
	    "-mode nat46 requires at least one -backend-cidr");
	load_usage_error(WORDS(BASE, "-mode", "nat46"), "-mode nat46 requires -nat46-prefix");
	load_usage_error(WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "64:ff9b:1::",
	    "-proxy-proto"),
	    "-proxy-proto cannot be used with -mode nat46 (the backend sees the client's "
	    "address already)");
	load_usage_error(WORDS(BASE, "-backend-cidr", "192.0.2.0/24", "-mode", "nat46",
	    "-nat46-prefix", "64:ff9b:1::"),
	    "-backend-cidr 192.0.2.0/24: -mode nat46 connects over IPv6 only; an IPv4 "
	    "prefix cannot be used");
	load_usage_error(WORDS(BASE, "-nat46-prefix", "64:ff9b:1::"),
	    "-nat46-prefix can only be used with -mode nat46");
	load_usage_error(WORDS(BASE, "-unix-directory", "/run/snid"),
	    "-unix-directory can only be used with -mode unix");
	load_usage_error(WORDS("-listen", "tcp:443", "-mode", "unix"),
	    "-mode unix requires -unix-directory");
	load_usage_error(WORDS(BASE, "-mode", "unix", "-unix-directory", "/run/snid"),
	    "-backend-cidr cannot be used with -mode unix");
	load_usage_error(WORDS("-listen", "tcp:443", "-mode", "unix", "-unix-directory",
	    "/run/snid",
	    "-backend-port", "443"), "-backend-port cannot be used with -mode unix");
	load_usage_error(WORDS("-listen", "tcp:443", "-mode", "unix", "-unix-directory",
	    "/run/snid",
	    "-dns-server", "127.0.0.1"), "-dns-server cannot be used with -mode unix (no "
	    "DNS lookups)");
	load_usage_error(WORDS(BASE, "-listen", "tcp:0.0.0.0:443"),
	    "-listen tcp:0.0.0.0:443: given twice");
}

static void
test_config_valid_modes(void **state)
{
	(void)state;
	load_run(cfg, WORDS("-listen", "tcp:443", "-mode", "unix", "-unix-directory", "/run/snid",
	    "-proxy-proto", "-default-hostname", "example.com"));
	assert_int_equal(cfg->mode, MODE_UNIX);
	assert_string_equal(cfg->unix_directory, "/run/snid");
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V2);
	load_run(cfg, WORDS("-listen", "tcp:443", "-mode", "unix", "-unix-directory", "/"));
	assert_string_equal(cfg->unix_directory, "/");
	load_run(cfg, WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "64:ff9b:1::",
	    "-backend-port", "443"));
	assert_int_equal(cfg->mode, MODE_NAT46);
	assert_int_equal(cfg->backend_port, 443);
	/* -backend-port 0 is the Go snid's default: the client's port. */
	load_run(cfg, WORDS(BASE, "-backend-port", "0"));
	assert_int_equal(cfg->backend_port, 0);
}

static void
test_config_check_prints_and_exits_ok(void **state)
{
	struct result	r;

	(void)state;
	r = load_words(cfg, WORDS(BASE, "-check"));
	assert_int_equal(r.status, CONFIG_EXIT_OK);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
	    "# snid " SNID_VERSION ": effective configuration\n"
	    "listen tcp:0.0.0.0:443\n"
	    "mode tcp\n"
	    "backend-cidr 2001:db8:1:2:3::/80\n"
	    "dns-timeout 2\n"
	    "dns-stale 3600\n"
	    "dns-cache-size 10000\n"
	    "hello-timeout 5\n"
	    "connect-timeout 5\n"
	    "shutdown-timeout 30\n"
	    "idle-timeout 3600\n"
	    "half-close-timeout 60\n"
	    "workers 0\n"
	    "max-connections-per-source 256\n"
	    "log-level info\n");
	assert_true(cfg->check);
	result_free(&r);
	/* An invalid configuration is an error under -check too. */
	load_usage_error(WORDS("-check"), "at least one -listen is required");
}

/*
 * -diagnose NAME: a run's configuration (validated as for a run) with the
 * name kept as given, even an invalid one (its first step says why); a
 * name longer than the field is cut, still invalid.  Not with -check.
 */
static void
test_config_diagnose(void **state)
{
	char	longname[400];

	(void)state;
	load_run(cfg, WORDS(BASE, "-diagnose", "Git.Example.COM."));
	assert_true(cfg->has_diagnose);
	assert_string_equal(cfg->diagnose, "Git.Example.COM.");
	load_run(cfg, WORDS(BASE, "-diagnose", ""));
	assert_true(cfg->has_diagnose);
	assert_string_equal(cfg->diagnose, "");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	load_run(cfg, WORDS(BASE, "-diagnose", longname));
	assert_int_equal(strlen(cfg->diagnose), CONFIG_DIAGNOSE_MAX - 1);
	load_run(cfg, WORDS(BASE));
	assert_false(cfg->has_diagnose);
	load_usage_error(WORDS(BASE, "-diagnose"), "-diagnose needs a value");
	load_usage_error(WORDS("-diagnose", "x.example"),
	    "at least one -listen is required");
	load_usage_error(WORDS(BASE, "-check", "-diagnose", "x.example"),
	    "-check and -diagnose: give one");
}

/* Print cfg, parse the text into a fresh struct, print again: both texts equal, fields equal. */
static void
assert_print_round_trips(const struct config *c)
{
	struct config	*back = calloc(1, sizeof(*back));
	char		*t1 = NULL, *t2 = NULL, err[512] = "";
	size_t		l1 = 0, l2 = 0, i;
	FILE		*f;

	assert_non_null(back);
	f = open_memstream(&t1, &l1);
	config_print(c, f);
	fclose(f);
	config_defaults(back);
	if (config_parse_text(back, "printed", t1, l1, err, sizeof(err)) != 0)
		fail_msg("printed configuration does not parse: %s\n%s", err, t1);
	assert_int_equal(config_validate(back, err, sizeof(err)), 0);
	f = open_memstream(&t2, &l2);
	config_print(back, f);
	fclose(f);
	assert_string_equal(t1, t2);

	assert_int_equal(back->n_listeners, c->n_listeners);
	for (i = 0; i < c->n_listeners; i++)
		assert_memory_equal(&back->listeners[i], &c->listeners[i], sizeof(c->listeners[i]));
	assert_int_equal(back->n_backend_cidrs, c->n_backend_cidrs);
	assert_memory_equal(back->backend_cidrs, c->backend_cidrs,
	    c->n_backend_cidrs * sizeof(c->backend_cidrs[0]));
	assert_int_equal(back->n_dns_servers, c->n_dns_servers);
	assert_memory_equal(back->dns_servers, c->dns_servers,
	    c->n_dns_servers * sizeof(c->dns_servers[0]));
	assert_memory_equal(back->dns_server_lens, c->dns_server_lens,
	    c->n_dns_servers * sizeof(c->dns_server_lens[0]));
	assert_int_equal(back->mode, c->mode);
	assert_int_equal(back->backend_port, c->backend_port);
	assert_string_equal(back->default_hostname, c->default_hostname);
	assert_int_equal(back->has_nat46_prefix, c->has_nat46_prefix);
	assert_memory_equal(&back->nat46_prefix, &c->nat46_prefix, sizeof(c->nat46_prefix));
	assert_int_equal(back->proxy_proto, c->proxy_proto);
	assert_string_equal(back->unix_directory, c->unix_directory);
	assert_true(back->hello_timeout == c->hello_timeout);
	assert_true(back->connect_timeout == c->connect_timeout);
	assert_true(back->dns_timeout == c->dns_timeout);
	assert_true(back->shutdown_timeout == c->shutdown_timeout);
	assert_true(back->idle_timeout == c->idle_timeout);
	assert_true(back->half_close_timeout == c->half_close_timeout);
	assert_int_equal(back->max_connections, c->max_connections);
	assert_string_equal(back->user, c->user);
	assert_memory_equal(&back->metrics, &c->metrics, sizeof(c->metrics));
	assert_int_equal(back->log_level, c->log_level);
	free(t1);
	free(t2);
	free(back);
}

static void
test_config_check_output_round_trips(void **state)
{
	(void)state;
	load_run(cfg, WORDS(BASE, "-listen", "proxy:http:unix:/run/snid.sock", "-listen", "fd:3",
	    "-listen", "fdname:https", "-listen", "tcp:[2001:db8::1]:8443",
	    "-backend-cidr", "192.0.2.0/24", "-backend-port", "8443",
	    "-default-hostname", "Example.COM.", "-proxy-proto", "v1", "-dns-server",
	    "127.0.0.1:5353",
	    "-dns-server", "[::1]:53", "-dns-server", "2001:db8::53", "-dns-timeout", "0.125",
	    "-hello-timeout", "10", "-connect-timeout", "0.5", "-shutdown-timeout", "86400",
	    "-user", "snid", "-log-level", "warn", "-metrics", "tcp:[::1]:9199"));
	assert_print_round_trips(cfg);
	assert_string_equal(cfg->metrics.text, "tcp:[::1]:9199");
	load_run(cfg, WORDS(BASE, "-mode", "nat46", "-nat46-prefix", "64:ff9b:1:2:3:4::",
	    "-log-level", "error"));
	assert_print_round_trips(cfg);
	load_run(cfg, WORDS("-listen", "tcp:443", "-mode", "unix", "-unix-directory", "/run/snid",
	    "-proxy-proto", "-log-level", "debug"));
	assert_print_round_trips(cfg);
}

static void
parse_error(const char *text, const char *want)
{
	char	err[512] = "";

	config_defaults(cfg);
	assert_int_equal(config_parse_text(cfg, "t.conf", text, strlen(text), err,
	    sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void
parse_ok(const char *text)
{
	char	err[512] = "";

	config_defaults(cfg);
	if (config_parse_text(cfg, "t.conf", text, strlen(text), err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

static void
test_config_file_syntax(void **state)
{
	char	buf[CIDR_STRLEN];

	(void)state;
	parse_ok("");
	parse_ok("\n\n   \n\t\n# only a comment\n   # indented comment\n");
	assert_int_equal(cfg->n_listeners, 0);
	parse_ok("  listen \t tcp:443   # trailing comment\nmode\ttcp\r\nbackend-cidr "
	    "2001:db8::/32\t#c");
	assert_string_equal(cfg->listeners[0].text, "tcp:443");
	assert_int_equal(cfg->n_backend_cidrs, 1);
	/* '#' not after white space is part of the value. */
	parse_ok("listen unix:/run/a#b.sock\n");
	assert_string_equal(cfg->listeners[0].path, "/run/a#b.sock");
	parse_ok("listen unix:/run/with space.sock\n");
	assert_string_equal(cfg->listeners[0].path, "/run/with space.sock");
	/* No newline at the end. */
	parse_ok("backend-cidr 2001:db8::/32");
	cidr_format(&cfg->backend_cidrs[0], buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::/32");
	/* Repeatable keys accumulate. */
	parse_ok("listen tcp:1\nlisten tcp:2\nbackend-cidr ::/0\nbackend-cidr "
	    "0.0.0.0/0\ndns-server ::1\n");
	assert_int_equal(cfg->n_listeners, 2);
	assert_int_equal(cfg->n_backend_cidrs, 2);
	assert_int_equal(cfg->n_dns_servers, 1);
	/* proxy-proto alone or with a version. */
	parse_ok("proxy-proto\n");
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V2);
	parse_ok("proxy-proto   v1  \n");
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V1);
}

static void
test_config_file_errors_name_file_and_line(void **state)
{
	char	big[2100];

	(void)state;
	parse_error("# c\n\nfrobnicate yes\n", "t.conf:3: unknown setting 'frobnicate'");
	parse_error("mode tcp\n-listen tcp:443\n", "t.conf:2: unknown setting '-listen'");
	parse_error("Listen tcp:443\n", "t.conf:1: unknown setting 'Listen'");
	parse_error("listen=tcp:443\n", "t.conf:1: unknown setting 'listen=tcp:443'");
	parse_error("\n\nlisten tcp:0\n", "t.conf:3: listen tcp:0: port must be a number 1..65535");
	parse_error("mode tcp\r\nbackend-cidr 10.0.0.1/8\r\n",
	    "t.conf:2: backend-cidr 10.0.0.1/8: host bits set; did you mean 10.0.0.0/8?");
	parse_error("backend-cidr 2001:db8::/32#x\n",
	    "t.conf:1: backend-cidr 2001:db8::/32#x: invalid prefix length");
	parse_error("mode tcp extra\n", "t.conf:1: mode tcp extra: must be tcp, nat46 or unix");
	parse_error("listen\n", "t.conf:1: 'listen' needs a value");
	parse_error("mode   # nothing\n", "t.conf:1: 'mode' needs a value");
	parse_error("config /etc/other.conf\n", "t.conf:1: 'config' is a command-line "
	    "flag, not a file setting");
	parse_error("check\n", "t.conf:1: 'check' is a command-line flag, not a file setting");
	parse_error("help\n", "t.conf:1: 'help' is a command-line flag, not a file setting");
	parse_error("version\n", "t.conf:1: 'version' is a command-line flag, not a file setting");
	parse_error("mode tcp\nlog-level info\nmode unix\n", "t.conf:3: 'mode' already set "
	    "on line 1");
	parse_error("proxy-proto v3\n", "t.conf:1: proxy-proto v3: must be v1 or v2 (or "
	    "nothing, meaning v2)");
	parse_error("hello-timeout 0\n",
	    "t.conf:1: hello-timeout 0: must be seconds above 0 and at most 86400, such as "
	    "2 or 0.5 (at most 3 decimals)");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	parse_error(big, "t.conf:1: line longer than 1024 bytes");
	{
		char err[512];
		static const char nul[] = "mode tcp\nlisten tcp:443\0garbage\n";

		config_defaults(cfg);
		assert_int_equal(config_parse_text(cfg, "t.conf", nul, sizeof(nul) - 1, err,
		    sizeof(err)), -1);
		assert_string_equal(err, "t.conf:2: NUL byte");
	}
}

static void
test_config_file_error_through_config_load(void **state)
{
	char	*name = temp_file("listen tcp:443\n\n# x\nbackend-cidr ::/0\nmode sideways\n");
	char	want[256];

	(void)state;
	snprintf(want, sizeof(want), "%s:5: mode sideways: must be tcp, nat46 or unix", name);
	load_usage_error(WORDS("-config", name), want);
	unlink(name);
	free(name);
}

static void
test_config_flags_override_file(void **state)
{
	char	*name = temp_file(
	    "listen tcp:0.0.0.0:443\n"
	    "listen tcp:[::]:443\n"
	    "backend-cidr 2001:db8::/32\n"
	    "backend-cidr 192.0.2.0/24\n"
	    "dns-server 127.0.0.1\n"
	    "log-level debug\n"
	    "hello-timeout 9\n"
	    "default-hostname file.example\n");
	char	buf[CIDR_STRLEN];

	(void)state;
	/* File alone. */
	load_run(cfg, WORDS("-config", name));
	assert_string_equal(cfg->config_file, name);
	assert_int_equal(cfg->n_listeners, 2);
	assert_int_equal(cfg->n_backend_cidrs, 2);
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_true(cfg->hello_timeout == 9.0);

	/* A scalar flag replaces the file's value, wherever -config stands. */
	load_run(cfg, WORDS("-log-level", "error", "-config", name, "-default-hostname",
	    "flag.example"));
	assert_int_equal(cfg->log_level, LOG_LEVEL_ERROR);
	assert_string_equal(cfg->default_hostname, "flag.example");
	assert_true(cfg->hello_timeout == 9.0);

	/*
	 * A repeatable flag replaces the file's whole list; lists not given
	 * on the command line stay.
	 */
	load_run(cfg, WORDS("-config", name, "-backend-cidr", "2001:db8:1:2:3::/80",
	    "-backend-cidr", "10.0.0.0/8"));
	assert_int_equal(cfg->n_backend_cidrs, 2);
	cidr_format(&cfg->backend_cidrs[0], buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2:3::/80");
	cidr_format(&cfg->backend_cidrs[1], buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8");
	assert_int_equal(cfg->n_listeners, 2);
	assert_int_equal(cfg->n_dns_servers, 1);
	load_run(cfg, WORDS("-listen", "tcp:8443", "-config", name));
	assert_int_equal(cfg->n_listeners, 1);
	assert_string_equal(cfg->listeners[0].text, "tcp:8443");

	/* An empty flag value clears the file's default host name. */
	load_run(cfg, WORDS("-config", name, "-default-hostname="));
	assert_string_equal(cfg->default_hostname, "");
	unlink(name);
	free(name);
}

/* Every *.conf in tests/data/config (the fuzzer's seeds) passes -check. */
static void
test_config_sample_files_are_valid(void **state)
{
	DIR		*d = opendir("tests/data/config");
	struct dirent	*e;
	int		n = 0;

	(void)state;
	if (d == NULL)
		fail_msg("cannot open tests/data/config (run from the top of the tree)");
	while ((e = readdir(d)) != NULL) {
		char path[512];
		struct result r;
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 5, ".conf") != 0)
			continue;
		snprintf(path, sizeof(path), "tests/data/config/%s", e->d_name);
		r = load_words(cfg, WORDS("-check", "-config", path));
		if (r.status != CONFIG_EXIT_OK)
			fail_msg("%s: %s", path, r.err);
		assert_print_round_trips(cfg);
		result_free(&r);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

static void
test_config_sample_everything(void **state)
{
	char	buf[128];

	(void)state;
	load_run(cfg, WORDS("-config", "tests/data/config/everything-tcp.conf"));
	assert_int_equal(cfg->n_listeners, 7);
	assert_true(cfg->listeners[2].proxy);
	assert_true(cfg->listeners[3].http);
	assert_string_equal(cfg->default_hostname, "www.example.com");
	assert_int_equal(cfg->proxy_proto, PROXY_PROTO_V1);
	assert_int_equal(cfg->backend_port, 8443);
	assert_int_equal(cfg->n_dns_servers, 3);
	addrspec_format((struct sockaddr *)&cfg->dns_servers[2], cfg->dns_server_lens[2],
	    buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.53:53");
	assert_true(cfg->dns_timeout == 1.5);
	assert_true(cfg->connect_timeout == 0.25);
	assert_true(cfg->shutdown_timeout == 60);
	assert_string_equal(cfg->user, "snid");
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
}

static void
test_config_example_file_is_valid(void **state)
{
	struct result	r;
	char		buf[CIDR_STRLEN];

	(void)state;
	r = load_words(cfg, WORDS("-check", "-config", "snid.conf.example"));
	if (r.status != CONFIG_EXIT_OK)
		fail_msg("snid.conf.example: %s", r.err);
	assert_non_null(strstr(r.out, "\nlisten tcp:0.0.0.0:443\n"));
	result_free(&r);
	assert_int_equal(cfg->mode, MODE_TCP);
	assert_int_equal(cfg->n_listeners, 1);
	assert_int_equal(cfg->n_backend_cidrs, 1);
	cidr_format(&cfg->backend_cidrs[0], buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2:3::/80");
}

/* Every flag has an entry in snid(8) and every file key one in snid.conf(5). */
static void
test_config_man_pages_document_every_flag(void **state)
{
	char	*man8 = read_whole("man/snid.8");
	char	*man5 = read_whole("man/snid.conf.5");
	size_t	i;

	(void)state;
	for (i = 0; i < config_n_options; i++) {
		const struct config_option *o = &config_options[i];
		char needle[64];

		snprintf(needle, sizeof(needle), ".It Fl %s", o->name);
		if (strstr(man8, needle) == NULL)
			fail_msg("snid.8 has no '%s'", needle);
		if (o->flags & CONFIG_O_CMDLINE)
			continue;
		snprintf(needle, sizeof(needle), ".It Ic %s", o->name);
		if (strstr(man5, needle) == NULL)
			fail_msg("snid.conf.5 has no '%s'", needle);
	}
	free(man8);
	free(man5);
}

/*
 * The text of doc between the first from and the next to after it (both
 * must be there); *whole_doc is freed by the caller.
 */
static char *
doc_between(const char *doc, const char *from, const char *to)
{
	const char	*a = strstr(doc, from), *b;
	char		*out;

	if (a == NULL)
		fail_msg("no '%s' in the document", from);
	b = strstr(a, to);
	if (b == NULL)
		fail_msg("no '%s' after '%s'", to, from);
	out = strndup(a, (size_t)(b - a));
	assert_non_null(out);
	return out;
}

/*
 * Whether text names the setting as the word prefix NAME: "-NAME"
 * (markdown), "Fl NAME" (snid.8) or "Ic NAME" (snid.conf.5).
 */
static bool
doc_names_flag(const char *text, const char *prefix, const char *name)
{
	char		needle[64];
	const char	*p = text;
	size_t		n;

	snprintf(needle, sizeof(needle), "%s%s", prefix, name);
	n = strlen(needle);
	while ((p = strstr(p, needle)) != NULL) {
		char next = p[n];

		if (next != '-' && (next < 'a' || next > 'z') && (next < '0' || next > '9') &&
		    (p == text || p[-1] != '-'))
			return true;
		p += n;
	}
	return false;
}

/*
 * The SIGHUP paragraphs of README.md, snid(8) and snid.conf(5) name every
 * reloadable setting among what a reload applies, and every other file
 * setting among what keeps its running value: the reload bit of the table
 * is documented.
 */
static void
test_config_reload_docs_match_the_table(void **state)
{
	static const struct {
		const char	*path;
		const char	*prefix;	/* how the document names a setting */
		const char	*applies, *stays, *restart;
	} docs[] = {
		{ "README.md", "-", "`SIGHUP`: reload.", "Connections whose bytes",
		  "need a restart" },
		{ "man/snid.8", "Fl ", ".It Dv SIGHUP", "Connections whose bytes",
		  "need a restart" },
		{ "man/snid.conf.5", "Ic ", "reads the file again and applies",
		  "to new connections.", "until a restart" },
	};
	size_t	d, i;

	(void)state;
	for (d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		char *doc = read_whole(docs[d].path);
		char *applies = doc_between(doc, docs[d].applies, docs[d].stays);
		char *restart = doc_between(strstr(doc, docs[d].applies), docs[d].stays,
		    docs[d].restart);

		for (i = 0; i < config_n_options; i++) {
			const struct config_option *o = &config_options[i];
			bool reload = (o->flags & CONFIG_O_RELOAD) != 0;

			if (o->flags & CONFIG_O_CMDLINE)
				continue;
			if (reload && !doc_names_flag(applies, docs[d].prefix, o->name))
				fail_msg("%s: SIGHUP does not list %s among what a reload applies",
				    docs[d].path, o->name);
			if (!reload && !doc_names_flag(restart, docs[d].prefix, o->name))
				fail_msg("%s: SIGHUP does not list %s among what needs a restart",
				    docs[d].path, o->name);
			if (!reload && doc_names_flag(applies, docs[d].prefix, o->name))
				fail_msg("%s: SIGHUP says a reload applies %s, which needs "
				    "a restart",
				    docs[d].path, o->name);
		}
		free(applies);
		free(restart);
		free(doc);
	}
}

/*
 * Every row is complete: a unique name of [a-z0-9-], help text that fits
 * -help's column, a value name exactly when it takes a value, and the
 * fields its kind needs, of the size its kind stores.
 */
static void
test_config_table_rows_are_complete(void **state)
{
	size_t	i, j;

	(void)state;
	assert_true(config_n_options > 0 && config_n_options <= CONFIG_OPTIONS_MAX);
	for (i = 0; i < config_n_options; i++) {
		const struct config_option *o = &config_options[i];
		const char *h, *nl;

		assert_non_null(o->name);
		if (o->name[0] == '\0' || strspn(o->name,
		    "abcdefghijklmnopqrstuvwxyz0123456789-") !=
		    strlen(o->name))
			fail_msg("row %zu: bad name '%s'", i, o->name);
		for (j = 0; j < i; j++)
			if (strcmp(o->name, config_options[j].name) == 0)
				fail_msg("-%s is in the table twice", o->name);
		if (o->help == NULL || o->help[0] == '\0')
			fail_msg("-%s has no help text", o->name);
		/* -help's column starts at 25: 79 - 25 is left for a line of help. */
		for (h = o->help; h != NULL; h = nl != NULL ? nl + 1 : NULL) {
			nl = strchr(h, '\n');
			if ((nl != NULL ? (size_t)(nl - h) : strlen(h)) > 54)
				fail_msg("-%s: help line too long: %s", o->name, h);
		}
		if ((o->arg == NULL) != ((o->flags & CONFIG_O_NOVALUE) != 0))
			fail_msg("-%s: a value name (arg) iff it takes a value", o->name);
		if ((o->flags & CONFIG_O_REPEAT) && (o->n_off == 0 || o->max == 0 ||
		    o->what == NULL))
			fail_msg("-%s: a list needs n_off, max and what", o->name);
		if ((o->flags & CONFIG_O_ZERO) && o->kind != CONFIG_K_DURATION)
			fail_msg("-%s: CONFIG_O_ZERO is for durations", o->name);
		if ((o->flags & CONFIG_O_OPTVALUE) && o->choices == NULL)
			fail_msg("-%s: an optional value needs the words it may be", o->name);
		if (o->off + o->size > sizeof(struct config))
			fail_msg("-%s: off/size outside struct config", o->name);
		switch (o->kind) {
		case CONFIG_K_HELP:
		case CONFIG_K_VERSION:
			assert_true(o->flags & CONFIG_O_CMDLINE);
			break;
		case CONFIG_K_BOOL:
			assert_int_equal(o->size, sizeof(bool));
			break;
		case CONFIG_K_CHOICE:
			assert_int_equal(o->size, sizeof(int));
			assert_non_null(o->choices);
			break;
		case CONFIG_K_UINT:
			assert_true(o->size == sizeof(unsigned) || o->size == sizeof(size_t));
			assert_true(o->min <= o->max);
			if (o->size == sizeof(unsigned))
				assert_true(o->max <= UINT_MAX);
			break;
		case CONFIG_K_PORT:
			assert_int_equal(o->size, sizeof(uint16_t));
			break;
		case CONFIG_K_DURATION:
			assert_int_equal(o->size, sizeof(double));
			break;
		case CONFIG_K_FILE:
		case CONFIG_K_STRING:
			assert_non_null(o->set);
			assert_true(o->size > 1);
			break;
		case CONFIG_K_CIDRS:
		case CONFIG_K_LISTENERS:
			assert_true(o->flags & CONFIG_O_REPEAT);
			break;
		case CONFIG_K_CUSTOM:
			if (o->set == NULL || o->format == NULL)
				fail_msg("-%s: a custom row needs set and format", o->name);
			break;
		}
		/* A list's count is inside what a reload copies. */
		if (o->flags & CONFIG_O_REPEAT)
			assert_true(o->n_off >= o->off &&
			    o->n_off + sizeof(size_t) <= o->off + o->size);
	}
}

/* Two files that set every setting, each differently: reload_a runs, reload_b is the new file. */
static const char reload_a[] =
    "listen tcp:0.0.0.0:443\n"
    "mode tcp\n"
    "backend-cidr 2001:db8::/32\n"
    "backend-port 443\n"
    "backend-ports 443\n"
    "default-hostname a.example\n"
    "proxy-proto v1\n"
    "dns-server 127.0.0.1\n"
    "dns-timeout 1\n"
    "dns-stale 60\n"
    "dns-cache-size 100\n"
    "hello-timeout 1\n"
    "connect-timeout 1\n"
    "shutdown-timeout 1\n"
    "idle-timeout 1\n"
    "half-close-timeout 1\n"
    "workers 1\n"
    "max-connections 10\n"
    "max-connections-per-source 5\n"
    "hello-memory 65536\n"
    "client-cidr 192.0.2.0/24\n"
    "deny-client-cidr 198.51.100.0/24\n"
    "proxy-from 10.0.0.0/8\n"
    "user nobody\n"
    "metrics tcp:127.0.0.1:9199\n"
    "log-level error\n";
static const char reload_b[] =
    "listen tcp:8443\n"
    "mode nat46\n"
    "nat46-prefix 64:ff9b:1::\n"
    "backend-cidr 2001:db8:1::/48\n"
    "backend-port 8443\n"
    "backend-ports 443,5222-5223\n"
    "default-hostname b.example\n"
    "dns-server [::1]:5353\n"
    "dns-timeout 2.5\n"
    "dns-stale 0\n"
    "dns-cache-size 200\n"
    "hello-timeout 2.5\n"
    "connect-timeout 2.5\n"
    "shutdown-timeout 2.5\n"
    "idle-timeout 2.5\n"
    "half-close-timeout 2.5\n"
    "workers 2\n"
    "max-connections 20\n"
    "max-connections-per-source 0\n"
    "hello-memory 1048576\n"
    "client-cidr 2001:db8::/32\n"
    "deny-client-cidr 203.0.113.7/32\n"
    "proxy-from ::1/128\n"
    "user snid\n"
    "metrics tcp:[::1]:9199\n"
    "log-level debug\n";
static const char reload_unix[] = "mode unix\nunix-directory /run/snid\n";

static void
parse_into(struct config *c, const char *text)
{
	char	err[CONFIG_ERR_MAX];

	config_defaults(c);
	if (config_parse_text(c, "fixture", text, strlen(text), err, sizeof(err)) != 0)
		fail_msg("fixture: %s", err);
}

/*
 * What a reload applies is what the table marks CONFIG_O_RELOAD, nothing
 * else: config_take_reloadable (worker_reload's copy) moves exactly those
 * rows from the new configuration into the running one, and
 * config_option_equal (its "needs a restart" diff) sees the rest unchanged.
 */
static void
test_config_reload_takes_exactly_the_reloadable_rows(void **state)
{
	struct config	*a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct config	*u = calloc(1, sizeof(*u)), *out = calloc(1, sizeof(*out));
	size_t		i;

	(void)state;
	assert_true(a != NULL && b != NULL && u != NULL && out != NULL);
	parse_into(a, reload_a);
	parse_into(b, reload_b);
	parse_into(u, reload_unix);
	for (i = 0; i < config_n_options; i++) {
		const struct config_option *o = &config_options[i];
		const struct config *other = strcmp(o->name, "unix-directory") == 0 ? u : b;

		if (o->flags & CONFIG_O_CMDLINE)
			continue;
		if (config_option_equal(o, a, other))
			fail_msg("reload fixture: give %s a different value in reload_a and "
			    "reload_b", o->name);
		memcpy(out, a, sizeof(*out));
		config_take_reloadable(out, other);
		if (o->flags & CONFIG_O_RELOAD) {
			if (!config_option_equal(o, out, other))
				fail_msg("a reload does not apply %s", o->name);
		} else if (!config_option_equal(o, out, a))
			fail_msg("a reload changes %s, which needs a restart", o->name);
	}
	free(a);
	free(b);
	free(u);
	free(out);
}

/* A list is equal whatever its order; an unset scalar differs from a set one. */
static void
test_config_option_equal_compares_values(void **state)
{
	struct config			*a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	const struct config_option	*listen = config_option_find("listen", 6);
	const struct config_option	*user = config_option_find("user", 4);
	const struct config_option	*mode = config_option_find("mode", 4);

	(void)state;
	assert_true(a != NULL && b != NULL && listen != NULL && user != NULL && mode != NULL);
	assert_null(config_option_find("lis", 3));
	parse_into(a, "listen tcp:1\nlisten tcp:2\nuser snid\n");
	parse_into(b, "listen tcp:2\nlisten tcp:1\n");
	assert_true(config_option_equal(listen, a, b));
	assert_true(config_option_equal(mode, a, b));
	assert_false(config_option_equal(user, a, b));
	assert_false(config_option_equal(user, b, a));
	parse_into(b, "listen tcp:2\n");
	assert_false(config_option_equal(listen, a, b));
	assert_false(config_option_equal(listen, b, a));
	free(a);
	free(b);
}

/*
 * The kinds a future row may use the way no current row does: a UINT
 * stored in a size_t, without a noun, from 0 (printed even when 0); a
 * DURATION where 0 means off.  Rows of the test's own, on a spare field.
 */
static void
test_config_kinds_beyond_the_current_rows(void **state)
{
	static const struct config_option	count = {
		.name = "count", .kind = CONFIG_K_UINT,
		.off = offsetof(struct config, n_dns_servers), .size = sizeof(size_t),
		.min = 0, .max = 1000000, .arg = "N", .help = "h",
	};
	static const struct config_option	stale = {
		.name = "stale", .kind = CONFIG_K_DURATION, .flags = CONFIG_O_ZERO,
		.off = offsetof(struct config, idle_timeout), .size = sizeof(double),
		.arg = "SEC", .help = "h",
	};
	char	err[CONFIG_ERR_MAX], buf[CONFIG_VALUE_MAX];

	(void)state;
	config_defaults(cfg);
	assert_int_equal(config_option_set(cfg, &count, "1000000", err, sizeof(err)), 0);
	assert_int_equal(cfg->n_dns_servers, 1000000);
	assert_true(config_option_format(cfg, &count, 0, buf, sizeof(buf)));
	assert_string_equal(buf, "1000000");
	assert_int_equal(config_option_set(cfg, &count, "0", err, sizeof(err)), 0);
	assert_true(config_option_format(cfg, &count, 0, buf, sizeof(buf)));
	assert_string_equal(buf, "0");
	assert_int_equal(config_option_set(cfg, &count, "1000001", err, sizeof(err)), -1);
	assert_string_equal(err, "1000001: must be a number from 0 to 1000000");
	assert_int_equal(config_option_set(cfg, &count, "007", err, sizeof(err)), -1);

	assert_int_equal(config_option_set(cfg, &stale, "0", err, sizeof(err)), 0);
	assert_true(cfg->idle_timeout == 0);
	assert_true(config_option_format(cfg, &stale, 0, buf, sizeof(buf)));
	assert_string_equal(buf, "0");
	assert_int_equal(config_option_set(cfg, &stale, "1.5", err, sizeof(err)), 0);
	assert_true(cfg->idle_timeout == 1.5);
	assert_int_equal(config_option_set(cfg, &stale, "-1", err, sizeof(err)), -1);
	assert_string_equal(err, "-1: must be seconds from 0 to 86400, such as 2 or 0.5 "
	    "(at most 3 decimals)");
	/* Without CONFIG_O_ZERO, 0 stays refused. */
	assert_int_equal(config_option_set(cfg, config_option_find("idle-timeout", 12), "0",
	    err, sizeof(err)), -1);
}

/* A reload passes no output stream: -check then prints nothing. */
static void
test_config_load_without_output(void **state)
{
	char	*argv[] = { (char *)(uintptr_t)"snid", (char *)(uintptr_t)"-check",
	    (char *)(uintptr_t)"-listen", (char *)(uintptr_t)"tcp:443",
	    (char *)(uintptr_t)"-backend-cidr", (char *)(uintptr_t)"::/0", NULL };
	char	err[CONFIG_ERR_MAX] = "";

	(void)state;
	assert_int_equal(config_load(cfg, 6, argv, NULL, err, sizeof(err)), CONFIG_EXIT_OK);
	assert_true(cfg->check);
	argv[1] = (char *)(uintptr_t)"-mode=\x1b[31m";
	assert_int_equal(config_load(cfg, 6, argv, NULL, err, sizeof(err)), CONFIG_EXIT_USAGE);
	/* The message has no "snid: " and no control character: ready for a log line. */
	assert_string_equal(err, "-mode ?[31m: must be tcp, nat46 or unix");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_minimal_tcp),
		cmocka_unit_test(test_config_each_flag_every_spelling),
		cmocka_unit_test(test_config_proxy_proto_forms),
		cmocka_unit_test(test_config_repeatable_flags_accumulate),
		cmocka_unit_test(test_config_scalar_flag_last_wins),
		cmocka_unit_test(test_config_version_and_help),
		cmocka_unit_test(test_config_flag_syntax_errors),
		cmocka_unit_test(test_config_value_errors_name_the_flag),
		cmocka_unit_test(test_config_durations),
		cmocka_unit_test(test_config_dns_cache_values),
		cmocka_unit_test(test_config_max_connections_values),
		cmocka_unit_test(test_config_limits_name_the_flag),
		cmocka_unit_test(test_config_too_many_cidrs_in_file),
		cmocka_unit_test(test_config_validation_errors),
		cmocka_unit_test(test_config_valid_modes),
		cmocka_unit_test(test_config_check_prints_and_exits_ok),
		cmocka_unit_test(test_config_diagnose),
		cmocka_unit_test(test_config_check_output_round_trips),
		cmocka_unit_test(test_config_file_syntax),
		cmocka_unit_test(test_config_file_errors_name_file_and_line),
		cmocka_unit_test(test_config_file_error_through_config_load),
		cmocka_unit_test(test_config_flags_override_file),
		cmocka_unit_test(test_config_sample_files_are_valid),
		cmocka_unit_test(test_config_sample_everything),
		cmocka_unit_test(test_config_example_file_is_valid),
		cmocka_unit_test(test_config_man_pages_document_every_flag),
		cmocka_unit_test(test_config_reload_docs_match_the_table),
		cmocka_unit_test(test_config_table_rows_are_complete),
		cmocka_unit_test(test_config_reload_takes_exactly_the_reloadable_rows),
		cmocka_unit_test(test_config_option_equal_compares_values),
		cmocka_unit_test(test_config_load_without_output),
		cmocka_unit_test(test_config_kinds_beyond_the_current_rows),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
