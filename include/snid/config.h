/*
 * config: snid's command line (compatible with the Go snid: single-dash long
 * flags through getopt_long_only, never abbreviated) and configuration file,
 * merged into one validated struct config.  Flags override the file: a
 * single-valued flag replaces the file's value, a repeatable flag (-listen,
 * -backend-cidr, -dns-server) given on the command line replaces the file's
 * whole list.  Pure apart from reading the file named by -config.
 */
#ifndef SNID_CONFIG_H
#define SNID_CONFIG_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "snid/addrspec.h"
#include "snid/cidr.h"
#include "snid/hostname.h"

#ifndef SNID_VERSION
#define SNID_VERSION		"0.1.0"
#endif

#define CONFIG_MAX_LISTENERS	16
#define CONFIG_MAX_CIDRS	64
#define CONFIG_MAX_DNS_SERVERS	8
#define CONFIG_USER_MAX		64
#define CONFIG_MAX_CONNECTIONS	1000000

enum snid_mode { MODE_TCP, MODE_NAT46, MODE_UNIX };
enum proxy_proto { PROXY_PROTO_NONE, PROXY_PROTO_V1, PROXY_PROTO_V2 };
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

struct config {
	struct listen_spec	listeners[CONFIG_MAX_LISTENERS];
	size_t			n_listeners;
	enum snid_mode		mode;
	struct cidr		backend_cidrs[CONFIG_MAX_CIDRS];
	size_t			n_backend_cidrs;
	uint16_t		backend_port;		/* 0: the port the client connected to */
	char			default_hostname[HOSTNAME_MAX + 1];	/* canonical; "": none */
	bool			has_nat46_prefix;
	struct in6_addr		nat46_prefix;		/* first 12 bytes used, last 4 zero */
	enum proxy_proto	proxy_proto;
	char			unix_directory[PATH_MAX];	/* absolute, as written; "": none */
	struct sockaddr_storage	dns_servers[CONFIG_MAX_DNS_SERVERS];
	socklen_t		dns_server_lens[CONFIG_MAX_DNS_SERVERS];
	size_t			n_dns_servers;		/* 0: /etc/resolv.conf */
	char			config_file[PATH_MAX];	/* "": none */
	double			hello_timeout;		/* seconds, 0.001..86400 */
	double			connect_timeout;
	double			dns_timeout;
	double			dns_stale;		/* -dns-stale: seconds, 0: off */
	size_t			dns_cache_size;		/* -dns-cache-size: entries per worker */
	double			shutdown_timeout;
	double			idle_timeout;		/* pump: no traffic for this long */
	double			half_close_timeout;	/* pump: idle bound once one side is done */
	unsigned		max_connections;	/* 0: from RLIMIT_NOFILE at start-up */
	char			user[CONFIG_USER_MAX];	/* "": stay who we are */
	struct listen_spec	metrics;		/* -metrics (tcp only); text "": off */
	enum log_level		log_level;
	bool			check;			/* -check: print and exit */
};

enum config_status {
	CONFIG_RUN,		/* valid: run */
	CONFIG_EXIT_OK,		/* -help, -version or -check done: exit 0 */
	CONFIG_EXIT_USAGE,	/* error printed to err stream: exit 2 */
};

/*
 * Build the configuration from argv (and the file named by -config), print
 * -help/-version/-check output to out and every error, naming the flag or
 * FILE:LINE, to err as "snid: MESSAGE" and a hint line.  Resets getopt's
 * state (optind), so it may be called more than once.
 */
enum config_status config_load(struct config *cfg, int argc, char **argv,
    FILE *out, FILE *err);

/*
 * Parse configuration-file text (name is used in messages as NAME:LINE) on
 * top of cfg.  Returns 0, or -1 with a message in errbuf.  Does not validate
 * cross-field rules: see config_validate().
 */
int	config_parse_text(struct config *cfg, const char *name, const char *text,
	    size_t len, char *errbuf, size_t errlen);

/* Defaults, as if no flag and no file were given. */
void	config_defaults(struct config *cfg);

/* Cross-field rules (nat46 needs a prefix, ...).  Returns 0 or -1 with errbuf. */
int	config_validate(const struct config *cfg, char *errbuf, size_t errlen);

/* The effective configuration, in config-file syntax (used by -check). */
void	config_print(const struct config *cfg, FILE *out);

/* The -help text. */
void	config_usage(FILE *out);

#endif
