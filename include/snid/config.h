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
#include "snid/portset.h"

#ifndef SNID_VERSION
#define SNID_VERSION		"0.1.0"
#endif

#define CONFIG_MAX_LISTENERS	16
#define CONFIG_MAX_CIDRS	64
#define CONFIG_MAX_CLIENT_CIDRS	1024	/* a deny-list fed by fail2ban grows */
#define CONFIG_MAX_DNS_SERVERS	8
#define CONFIG_USER_MAX		64
#define CONFIG_MAX_CONNECTIONS	1000000
#define CONFIG_MAX_WORKERS	64
#define CONFIG_MAX_HELLO_MEMORY	((unsigned long)1 << 40)
/*
 * -diagnose NAME is kept as given (its validity is the first step it
 * checks); a longer NAME is cut, which keeps it invalid (over HOSTNAME_MAX).
 */
#define CONFIG_DIAGNOSE_MAX	(HOSTNAME_MAX + 3)

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
	struct portset		backend_ports;		/* empty: listeners' and backend_port */
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
	size_t			dns_cache_size;		/* -dns-cache-size: entries, all workers */
	double			shutdown_timeout;
	double			idle_timeout;		/* pump: no traffic for this long */
	double			half_close_timeout;	/* pump: idle bound once one side is done */
	unsigned		workers;		/* event loops (threads); 0: one per CPU */
	unsigned		max_connections;	/* 0: from RLIMIT_NOFILE at start-up */
	unsigned		max_connections_per_source;	/* 0: no limit */
	size_t			hello_memory;		/* bytes; 0: 4 KiB per connection */
	struct cidr		client_cidrs[CONFIG_MAX_CLIENT_CIDRS];	/* none: all */
	size_t			n_client_cidrs;
	struct cidr		deny_client_cidrs[CONFIG_MAX_CLIENT_CIDRS];
	size_t			n_deny_client_cidrs;
	struct cidr		proxy_from[CONFIG_MAX_CIDRS];	/* none: loopback */
	size_t			n_proxy_from;
	char			user[CONFIG_USER_MAX];	/* "": stay who we are */
	struct listen_spec	metrics;		/* -metrics (tcp only); text "": off */
	enum log_level		log_level;
	bool			check;			/* -check: print and exit */
	bool			has_diagnose;		/* -diagnose NAME: check, exit */
	char			diagnose[CONFIG_DIAGNOSE_MAX];	/* as given, cut */
};

enum config_status {
	CONFIG_RUN,		/* valid: run */
	CONFIG_EXIT_OK,		/* -help, -version or -check done: exit 0 */
	CONFIG_EXIT_USAGE,	/* error in errbuf: exit 2 */
};

/* Room for any message of config_load(); a longer one is truncated. */
#define CONFIG_ERR_MAX		1024

/*
 * Build the configuration from argv (and the file named by -config).
 * -help, -version and -check print to out (NULL: print nothing, as a reload
 * whose argv passed at start-up wants).  An error (CONFIG_EXIT_USAGE) leaves
 * in errbuf one line naming the flag or FILE:LINE, without any "snid: "
 * prefix, with control characters replaced by '?' so that it can go to a
 * terminal or a log as it is.  Resets getopt's state (optind), so it may be
 * called more than once.
 */
enum config_status	config_load(struct config *cfg, int argc, char **argv,
    FILE *out, char *errbuf, size_t errlen);

/* A command-line error as snid prints it: "snid: MESSAGE" and a hint line. */
void	config_usage_error(FILE *err, const char *msg);

/*
 * Parse configuration-file text (name is used in messages as NAME:LINE) on
 * top of cfg.  Returns 0, or -1 with a message in errbuf.  Does not validate
 * cross-field rules: see config_validate().
 */
int	config_parse_text(struct config *cfg, const char *name, const char *text,
	    size_t len, char *errbuf, size_t errlen);

/* Defaults, as if no flag and no file were given (the rows' dflt). */
void	config_defaults(struct config *cfg);

/* Cross-field rules (nat46 needs a prefix, ...).  Returns 0 or -1 with errbuf. */
int	config_validate(const struct config *cfg, char *errbuf, size_t errlen);

/* The effective configuration, in config-file syntax (used by -check). */
void	config_print(const struct config *cfg, FILE *out);

/* The -help text. */
void	config_usage(FILE *out);

/*
 * The settings table (config_table.c): one row per flag.  The command line
 * (getopt_long_only's option array), the file, -help, -check, the defaults
 * and a reload's diff all read these rows, so a flag is one row (and its
 * documentation).  The kind says how the value is parsed, stored at off in
 * struct config and printed back.
 */
enum config_kind {
	CONFIG_K_HELP,		/* -help: print the usage, exit */
	CONFIG_K_VERSION,	/* -version: print the version, exit */
	CONFIG_K_FILE,		/* -config: char[size], read before the flags */
	CONFIG_K_BOOL,		/* bool, set by the flag alone */
	CONFIG_K_CHOICE,	/* an int-sized enum: its index in choices */
	CONFIG_K_UINT,		/* unsigned or size_t, min..max; 0 < min: 0 unset */
	CONFIG_K_PORT,		/* uint16_t port; 0: unset */
	CONFIG_K_DURATION,	/* double seconds, 0.001..86400 (0 with _ZERO) */
	CONFIG_K_STRING,	/* char[size], stored by set(); "": unset */
	CONFIG_K_CIDRS,		/* struct cidr[max], size_t count at n_off */
	CONFIG_K_LISTENERS,	/* struct listen_spec[max], count at n_off */
	CONFIG_K_CUSTOM,	/* set() and format() of its own */
};

#define CONFIG_O_REPEAT		0x01	/* a list: each use adds a value */
#define CONFIG_O_CMDLINE	0x02	/* flag only: no file key, not printed */
#define CONFIG_O_RELOAD		0x04	/* SIGHUP applies it to a running snid */
#define CONFIG_O_NOVALUE	0x08	/* takes no value (-check) */
#define CONFIG_O_OPTVALUE	0x10	/* the value may be left out */
#define CONFIG_O_ZERO		0x20	/* DURATION: 0 is a value too (off) */

/* Room for any one value as text (unix-directory is the longest). */
#define CONFIG_VALUE_MAX	PATH_MAX
/* Most settings a table holds; config.c sizes getopt's array with it. */
#define CONFIG_OPTIONS_MAX	64

struct config_option;

/* Store value (NULL: none given) into cfg; on error err is "VALUE: reason". */
typedef int	config_set_fn(struct config *cfg, const struct config_option *o,
		    const char *value, char *err, size_t errlen);
/* Write value number i of the setting as text; false: there is none. */
typedef bool	config_format_fn(const struct config *cfg,
		    const struct config_option *o, size_t i, char *buf,
		    size_t len);

struct config_option {
	const char		*name;	/* the flag without its dash = file key */
	enum config_kind	 kind;
	unsigned		 flags;	/* CONFIG_O_* */
	size_t			 off;	/* the setting's bytes in struct config, */
	size_t			 size;	/* which a reload copies */
	size_t			 n_off;	/* lists: where the size_t count is */
	unsigned long		 min;	/* UINT: the smallest value */
	unsigned long		 max;	/* UINT: the largest; lists: capacity */
	const char		*what;	/* lists, UINT (optional): what is counted */
	const char *const	*choices; /* CHOICE: names; OPTVALUE: words */
	const char		*dflt;	/* set by config_defaults(); NULL: 0 */
	config_set_fn		*set;	/* FILE, STRING, CUSTOM */
	config_format_fn	*format; /* CUSTOM */
	const char		*arg;	/* -help: the value's name */
	const char		*help;	/* -help: lines, with the default */
};

/* Every flag, in -help and -check order.  A flag not here does not exist. */
extern const struct config_option	config_options[];
extern const size_t			config_n_options;

/* The row named name[0..len), or NULL. */
const struct config_option	*config_option_find(const char *name, size_t len);

/* Apply one value of o to cfg.  Returns 0, or -1 with "VALUE: reason". */
int	config_option_set(struct config *cfg, const struct config_option *o,
	    const char *value, char *err, size_t errlen);

/*
 * Value number i of o in cfg as text (a list's values from 0, a scalar's
 * at 0), as -check prints it.  False: there is no such value (a scalar
 * that is unset prints nothing).  len is at most CONFIG_VALUE_MAX.
 */
bool	config_option_format(const struct config *cfg,
	    const struct config_option *o, size_t i, char *buf, size_t len);

/* Empty the list of a CONFIG_O_REPEAT row (a flag replaces the file's list). */
void	config_option_clear(struct config *cfg, const struct config_option *o);

/*
 * Whether o has the same value in a and b: the same -check lines, in any
 * order (two lists with the same values differ in nothing that matters).
 */
bool	config_option_equal(const struct config_option *o,
	    const struct config *a, const struct config *b);

/*
 * snprintf that may truncate, for messages that quote input of any length
 * (config.c and config_table.c, the two halves of this module).
 */
__attribute__((format(printf, 3, 4)))
void	config_errf(char *buf, size_t len, const char *fmt, ...);

/* Copy every CONFIG_O_RELOAD setting of next into cfg; the rest stays. */
void	config_take_reloadable(struct config *cfg, const struct config *next);

#endif
