/*
 * config: the command line and the configuration file, merged into one
 * validated struct config.  What each setting is (name, kind of value,
 * default, help, reload bit) is a row of config_table.c; this file walks the
 * rows: for argv and the file, for -help and -check, for a reload's copy and
 * comparison.  It also holds the rules between settings (config_validate).
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
#include "snid/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_FILE_MAX		(1024 * 1024)	/* a configuration file is small */
#define CONFIG_LINE_MAX		1024
/* getopt_long_only's val for row i: above every char getopt may return. */
#define CONFIG_OPT_BASE		256

/* Whether c may separate a key from its value or end a value. */
static bool
config_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Cut line into key and value in place: a '#' at the start or after white
 * space starts a comment, white space around both is dropped.  *key is ""
 * for a blank line, *value "" when none is given.
 */
static void
config_split_line(char *line, char **key, char **value)
{
	char	*p, *end;

	for (p = line; *p != '\0'; p++)
		if (*p == '#' && (p == line || config_space(p[-1]))) {
			*p = '\0';
			break;
		}
	p = line;
	while (config_space(*p))
		p++;
	end = p + strlen(p);
	while (end > p && config_space(end[-1]))
		*--end = '\0';
	*key = p;
	while (*p != '\0' && !config_space(*p))
		p++;
	if (*p != '\0') {
		*p++ = '\0';
		while (config_space(*p))
			p++;
	}
	*value = p;
}

/*
 * Apply "key value" from line lineno of file name.  set_on[i] is the line
 * that set row i, so that a scalar set twice is refused.
 */
static int
config_apply_line(struct config *cfg, const char *name, unsigned long lineno,
    const char *key, const char *value, unsigned long *set_on, char *errbuf,
    size_t errlen)
{
	const struct config_option	*o;
	char				 err[CONFIG_ERR_MAX];
	size_t				 i;

	o = config_option_find(key, strlen(key));
	if (o == NULL) {
		config_errf(errbuf, errlen, "%s:%lu: unknown setting '%s'",
		    name, lineno, key);
		return -1;
	}
	if (o->flags & CONFIG_O_CMDLINE) {
		config_errf(errbuf, errlen, "%s:%lu: '%s' is a command-line "
		    "flag, not a file setting", name, lineno, key);
		return -1;
	}
	i = (size_t)(o - config_options);
	if (!(o->flags & CONFIG_O_REPEAT)) {
		if (set_on[i] != 0) {
			config_errf(errbuf, errlen, "%s:%lu: '%s' already set "
			    "on line %lu", name, lineno, key, set_on[i]);
			return -1;
		}
		set_on[i] = lineno;
	}
	if (*value == '\0' && !(o->flags & (CONFIG_O_OPTVALUE |
	    CONFIG_O_NOVALUE))) {
		config_errf(errbuf, errlen, "%s:%lu: '%s' needs a value", name,
		    lineno, key);
		return -1;
	}
	if (*value != '\0' && (o->flags & CONFIG_O_NOVALUE)) {
		config_errf(errbuf, errlen, "%s:%lu: '%s' takes no value",
		    name, lineno, key);
		return -1;
	}
	if (config_option_set(cfg, o, *value == '\0' ? NULL : value, err,
	    sizeof(err)) == -1) {
		config_errf(errbuf, errlen, "%s:%lu: %s %s", name, lineno, key,
		    err);
		return -1;
	}
	return 0;
}

int
config_parse_text(struct config *cfg, const char *name, const char *text,
    size_t len, char *errbuf, size_t errlen)
{
	unsigned long	set_on[CONFIG_OPTIONS_MAX];
	unsigned long	lineno = 0;
	char		line[CONFIG_LINE_MAX + 1], *key, *value;
	size_t		pos = 0;

	memset(set_on, 0, sizeof(set_on));
	while (pos < len) {
		const char	*nl = memchr(text + pos, '\n', len - pos);
		size_t		 n = nl != NULL ? (size_t)(nl - (text + pos)) :
				    len - pos;

		lineno++;
		if (n > CONFIG_LINE_MAX) {
			config_errf(errbuf, errlen, "%s:%lu: line longer than "
			    "%d bytes", name, lineno, CONFIG_LINE_MAX);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL ? 1 : 0);
		if (memchr(line, '\0', n) != NULL) {
			config_errf(errbuf, errlen, "%s:%lu: NUL byte", name,
			    lineno);
			return -1;
		}
		config_split_line(line, &key, &value);
		if (*key != '\0' && config_apply_line(cfg, name, lineno, key,
		    value, set_on, errbuf, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Rules between -mode and the settings it needs or cannot use. */
static int
config_validate_mode(const struct config *cfg, char *errbuf, size_t errlen)
{
	switch (cfg->mode) {
	case MODE_TCP:
	case MODE_NAT46:
		if (cfg->n_backend_cidrs == 0) {
			config_errf(errbuf, errlen, "-mode %s requires at least "
			    "one -backend-cidr",
			    cfg->mode == MODE_TCP ? "tcp" : "nat46");
			return -1;
		}
		if (cfg->unix_directory[0] != '\0') {
			config_errf(errbuf, errlen, "-unix-directory can only "
			    "be used with -mode unix");
			return -1;
		}
		break;
	case MODE_UNIX:
		if (cfg->unix_directory[0] == '\0') {
			config_errf(errbuf, errlen,
			    "-mode unix requires -unix-directory");
			return -1;
		}
		/*
		 * The Go snid ignores these in unix mode; a setting that does
		 * nothing is a mistake.
		 */
		if (cfg->n_backend_cidrs != 0) {
			config_errf(errbuf, errlen,
			    "-backend-cidr cannot be used with -mode unix");
			return -1;
		}
		if (cfg->backend_port != 0) {
			config_errf(errbuf, errlen,
			    "-backend-port cannot be used with -mode unix");
			return -1;
		}
		if (cfg->n_dns_servers != 0) {
			config_errf(errbuf, errlen, "-dns-server cannot be used "
			    "with -mode unix (no DNS lookups)");
			return -1;
		}
		break;
	}
	return 0;
}

/* Rules of -mode nat46 and its prefix. */
static int
config_validate_nat46(const struct config *cfg, char *errbuf, size_t errlen)
{
	char	c[CIDR_STRLEN];
	size_t	i;

	if (cfg->mode != MODE_NAT46) {
		if (cfg->has_nat46_prefix) {
			config_errf(errbuf, errlen,
			    "-nat46-prefix can only be used with -mode nat46");
			return -1;
		}
		return 0;
	}
	if (!cfg->has_nat46_prefix) {
		config_errf(errbuf, errlen, "-mode nat46 requires -nat46-prefix");
		return -1;
	}
	if (cfg->proxy_proto != PROXY_PROTO_NONE) {
		config_errf(errbuf, errlen, "-proxy-proto cannot be used with "
		    "-mode nat46 (the backend sees the client's address "
		    "already)");
		return -1;
	}
	/* nat46 connects from an IPv6 source, so only IPv6 backends can be reached. */
	for (i = 0; i < cfg->n_backend_cidrs; i++)
		if (cfg->backend_cidrs[i].family == AF_INET) {
			cidr_format(&cfg->backend_cidrs[i], c, sizeof(c));
			config_errf(errbuf, errlen, "-backend-cidr %s: -mode "
			    "nat46 connects over IPv6 only; an IPv4 prefix "
			    "cannot be used", c);
			return -1;
		}
	return 0;
}

int
config_validate(const struct config *cfg, char *errbuf, size_t errlen)
{
	size_t	i, j;

	if (cfg->n_listeners == 0) {
		config_errf(errbuf, errlen, "at least one -listen is required");
		return -1;
	}
	for (i = 0; i < cfg->n_listeners; i++)
		for (j = 0; j < i; j++)
			if (strcmp(cfg->listeners[i].text,
			    cfg->listeners[j].text) == 0) {
				config_errf(errbuf, errlen, "-listen %s: given "
				    "twice", cfg->listeners[i].text);
				return -1;
			}
	if (cfg->check && cfg->has_diagnose) {
		config_errf(errbuf, errlen, "-check and -diagnose: give one");
		return -1;
	}
	if (config_validate_mode(cfg, errbuf, errlen) == -1 ||
	    config_validate_nat46(cfg, errbuf, errlen) == -1)
		return -1;
	return 0;
}

/* Read the file named by -config into a NUL-terminated heap buffer. */
static char *
config_read_file(const char *path, size_t *lenp, char *errbuf, size_t errlen)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	f = fopen(path, "re");
	if (f == NULL) {
		config_errf(errbuf, errlen, "-config %s: %s", path,
		    strerror(errno));
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
		config_errf(errbuf, errlen, "-config %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (n > CONFIG_FILE_MAX) {
		config_errf(errbuf, errlen, "-config %s: larger than %d bytes",
		    path, CONFIG_FILE_MAX);
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

/* Take the file named by -config: its name, then its settings. */
static int
config_load_file(struct config *cfg, const struct config_option *o,
    const char *path, char *errbuf, size_t errlen)
{
	char	 err[CONFIG_ERR_MAX], *text;
	size_t	 len;
	int	 rc;

	if (config_option_set(cfg, o, path, err, sizeof(err)) == -1) {
		config_errf(errbuf, errlen, "-%s %s", o->name, err);
		return -1;
	}
	text = config_read_file(cfg->config_file, &len, errbuf, errlen);
	if (text == NULL)
		return -1;
	rc = config_parse_text(cfg, cfg->config_file, text, len, errbuf,
	    errlen);
	free(text);
	return rc;
}

/* What the first pass over argv finds. */
struct config_early {
	bool				 help;
	bool				 version;
	const struct config_option	*file;		/* -config */
	const char			*path;
};

/* getopt_long_only's view of the table; row i returns CONFIG_OPT_BASE + i. */
static void
config_longopts(struct option *lo)
{
	size_t	i;

	for (i = 0; i < config_n_options; i++) {
		const struct config_option	*o = &config_options[i];

		lo[i].name = o->name;
		lo[i].has_arg = (o->flags & CONFIG_O_NOVALUE) ? no_argument :
		    (o->flags & CONFIG_O_OPTVALUE) ? optional_argument :
		    required_argument;
		lo[i].flag = NULL;
		lo[i].val = CONFIG_OPT_BASE + (int)i;
	}
	memset(&lo[config_n_options], 0, sizeof(lo[0]));
}

static const struct config_option *
config_option_by_val(int val)
{
	if (val < CONFIG_OPT_BASE ||
	    (size_t)(val - CONFIG_OPT_BASE) >= config_n_options)
		return NULL;
	return &config_options[val - CONFIG_OPT_BASE];
}

/* Whether word is one of the words an optional value may be given as. */
static bool
config_is_choice(const struct config_option *o, const char *word)
{
	size_t	i;

	for (i = 0; o->choices != NULL && o->choices[i] != NULL; i++)
		if (strcmp(word, o->choices[i]) == 0)
			return true;
	return false;
}

/*
 * The next flag of argv and its value (NULL: none).  Returns 1, 0 at the
 * end of the flags, or -1 with a message: getopt's errors name the flag as
 * written, an abbreviation ("-list") is refused with the full name.
 */
static int
config_next_flag(int argc, char **argv, const struct option *longopts,
    const struct config_option **op, const char **valuep, char *errbuf,
    size_t errlen)
{
	const struct config_option	*o;
	const char			*word, *name, *eq;
	size_t				 namelen;
	int				 at = optind == 0 ? 1 : optind, li = -1, c;

	/* "+": stop at the first non-flag word, which is then an error. */
	c = getopt_long_only(argc, argv, "+:", longopts, &li);
	if (c == -1)
		return 0;
	word = at < argc ? argv[at] : "";
	name = word[0] == '\0' ? word :
	    word + (strncmp(word, "--", 2) == 0 ? 2 : 1);
	eq = strchr(name, '=');
	namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
	o = config_option_by_val(c == '?' ? optopt : c);
	if (c == ':') {
		config_errf(errbuf, errlen, "-%.*s needs a value",
		    (int)namelen, name);
		return -1;
	}
	if (c == '?' && o != NULL) {
		config_errf(errbuf, errlen, "-%s takes no value", o->name);
		return -1;
	}
	if (o == NULL || strlen(o->name) != namelen ||
	    memcmp(o->name, name, namelen) != 0) {
		config_errf(errbuf, errlen, "unknown flag '-%.*s'%s%s%s",
		    (int)namelen, name,
		    o != NULL ? " (flags cannot be abbreviated: -" : "",
		    o != NULL ? o->name : "", o != NULL ? ")" : "");
		return -1;
	}
	*op = o;
	*valuep = optarg;
	/*
	 * getopt only takes an optional value as "-proxy-proto=v1"; also
	 * take "-proxy-proto v1" as two words, but only one of the row's
	 * words, so that "-proxy-proto -listen ..." keeps working.
	 */
	if ((o->flags & CONFIG_O_OPTVALUE) && optarg == NULL && optind < argc &&
	    config_is_choice(o, argv[optind]))
		*valuep = argv[optind++];
	return 1;
}

/*
 * Pass 2: apply one flag.  The first use of a repeatable one empties the
 * file's list.
 */
static int
config_apply_flag(struct config *cfg, const struct config_option *o,
    const char *value, bool *cleared, char *errbuf, size_t errlen)
{
	char	err[CONFIG_ERR_MAX];
	size_t	i = (size_t)(o - config_options);

	if (o->kind == CONFIG_K_HELP || o->kind == CONFIG_K_VERSION)
		return 0;
	if ((o->flags & CONFIG_O_REPEAT) && !cleared[i]) {
		cleared[i] = true;
		config_option_clear(cfg, o);
	}
	if (config_option_set(cfg, o, value, err, sizeof(err)) == -1) {
		config_errf(errbuf, errlen, "-%s %s", o->name, err);
		return -1;
	}
	return 0;
}

/*
 * Walk argv once.  Pass 1 (early != NULL) checks the syntax and notes
 * -config, -help and -version; pass 2 applies every other flag to cfg.  The
 * same walk is used twice so that both passes see exactly the same (flag,
 * value) sequence.
 */
static int
config_walk(struct config *cfg, int argc, char **argv,
    struct config_early *early, char *errbuf, size_t errlen)
{
	struct option			 longopts[CONFIG_OPTIONS_MAX + 1];
	bool				 cleared[CONFIG_OPTIONS_MAX];
	const struct config_option	*o;
	const char			*value;
	int				 rc;

	config_longopts(longopts);
	memset(cleared, 0, sizeof(cleared));
	/* optind 0: glibc's getopt starts over; opterr 0: our messages only. */
	optind = 0;
	opterr = 0;
	while ((rc = config_next_flag(argc, argv, longopts, &o, &value, errbuf,
	    errlen)) == 1) {
		if (early == NULL) {
			if (config_apply_flag(cfg, o, value, cleared, errbuf,
			    errlen) == -1)
				return -1;
		} else if (o->kind == CONFIG_K_HELP)
			early->help = true;
		else if (o->kind == CONFIG_K_VERSION)
			early->version = true;
		else if (o->kind == CONFIG_K_FILE) {
			early->file = o;
			early->path = value;
		}
	}
	if (rc == -1)
		return -1;
	if (optind < argc) {
		config_errf(errbuf, errlen, "unexpected argument '%s' (every "
		    "setting is a -flag)", argv[optind]);
		return -1;
	}
	return 0;
}

void
config_print(const struct config *cfg, FILE *out)
{
	char	buf[CONFIG_VALUE_MAX];
	size_t	i, j;

	fprintf(out, "# snid %s: effective configuration\n", SNID_VERSION);
	for (i = 0; i < config_n_options; i++) {
		const struct config_option	*o = &config_options[i];

		if (o->flags & CONFIG_O_CMDLINE)
			continue;
		for (j = 0; config_option_format(cfg, o, j, buf, sizeof(buf)); j++)
			fprintf(out, "%s%s%s\n", o->name, buf[0] != '\0' ? " " :
			    "", buf);
	}
}

void
config_usage(FILE *out)
{
	size_t	i;

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
	for (i = 0; i < config_n_options; i++) {
		const struct config_option	*o = &config_options[i];
		const char			*h = o->help, *nl;
		char				 head[48];

		snprintf(head, sizeof(head), "-%s%s%s", o->name,
		    o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "");
		fprintf(out, "  %-22s", head);
		/* Continuation lines of a long description go under the first. */
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

/* Whether some value of o in cfg reads text. */
static bool
config_has_value(const struct config *cfg, const struct config_option *o,
    const char *text)
{
	char	buf[CONFIG_VALUE_MAX];
	size_t	i;

	for (i = 0; config_option_format(cfg, o, i, buf, sizeof(buf)); i++)
		if (strcmp(buf, text) == 0)
			return true;
	return false;
}

/* Whether every value of o in a is one of b's. */
static bool
config_values_in(const struct config_option *o, const struct config *a,
    const struct config *b)
{
	char	buf[CONFIG_VALUE_MAX];
	size_t	i;

	for (i = 0; config_option_format(a, o, i, buf, sizeof(buf)); i++)
		if (!config_has_value(b, o, buf))
			return false;
	return true;
}

bool
config_option_equal(const struct config_option *o, const struct config *a,
    const struct config *b)
{
	return config_values_in(o, a, b) && config_values_in(o, b, a);
}

void
config_take_reloadable(struct config *cfg, const struct config *next)
{
	const struct config_option	*o;
	size_t				 i;

	for (i = 0; i < config_n_options; i++) {
		o = &config_options[i];
		if (o->flags & CONFIG_O_RELOAD)
			memcpy((char *)cfg + o->off,
			    (const char *)next + o->off, o->size);
	}
}

/* Control characters become '?', so that input cannot drive a terminal. */
static void
config_sanitize(char *msg)
{
	for (; *msg != '\0'; msg++)
		if ((unsigned char)*msg < 0x20 || *msg == 0x7f)
			*msg = '?';
}

enum config_status
config_load(struct config *cfg, int argc, char **argv, FILE *out,
    char *errbuf, size_t errlen)
{
	struct config_early	early = { false, false, NULL, NULL };

	config_defaults(cfg);
	if (config_walk(cfg, argc, argv, &early, errbuf, errlen) == -1)
		goto usage;
	if (early.help || early.version) {
		if (out != NULL && early.help)
			config_usage(out);
		else if (out != NULL)
			fprintf(out, "snid %s\n", SNID_VERSION);
		return CONFIG_EXIT_OK;
	}
	if (early.file != NULL && config_load_file(cfg, early.file, early.path,
	    errbuf, errlen) == -1)
		goto usage;
	if (config_walk(cfg, argc, argv, NULL, errbuf, errlen) == -1 ||
	    config_validate(cfg, errbuf, errlen) == -1)
		goto usage;
	if (cfg->check) {
		if (out != NULL)
			config_print(cfg, out);
		return CONFIG_EXIT_OK;
	}
	return CONFIG_RUN;
usage:
	config_sanitize(errbuf);
	return CONFIG_EXIT_USAGE;
}

void
config_usage_error(FILE *err, const char *msg)
{
	fprintf(err, "snid: %s\nrun 'snid -help' for usage\n", msg);
}
