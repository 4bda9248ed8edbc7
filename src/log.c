/*
 * log: level-filtered lines on stderr, journald-aware, one write(2) per line.
 */
#include "snid/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snid/addrspec.h"

/*
 * Set once by log_init() before the loop starts and only read afterwards
 * (see log.h), so workers on several threads may log without locks.
 */
static struct {
	int		fd;
	enum log_level	level;
	bool		journal;
} log_state = { 2, LOG_LEVEL_INFO, false };

static const char *const log_level_word[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN]  = "warning",
	[LOG_LEVEL_INFO]  = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* sd-daemon(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const int log_level_prio[] = {
	[LOG_LEVEL_ERROR] = 3,
	[LOG_LEVEL_WARN]  = 4,
	[LOG_LEVEL_INFO]  = 6,
	[LOG_LEVEL_DEBUG] = 7,
};

/* Whether fd is the stream systemd named in JOURNAL_STREAM ("DEV:INODE"). */
static bool
log_fd_is_journal(int fd)
{
	const char		*env = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;
	int			 used = 0;

	if (env == NULL || fstat(fd, &st) == -1)
		return false;
	if (sscanf(env, "%llu:%llu%n", &dev, &ino, &used) != 2 ||
	    env[used] != '\0')
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(int fd, enum log_level level)
{
	log_state.fd = fd;
	log_state.level = level;
	log_state.journal = log_fd_is_journal(fd);
}

bool
log_enabled(enum log_level level)
{
	return level <= log_state.level;
}

/* The line's prefix: "<6>" for the journal, else an RFC 3339 UTC timestamp and a space. */
static size_t
log_prefix(char *buf, size_t len, enum log_level level)
{
	struct timespec	ts;
	struct tm	tm;
	int		n;

	if (log_state.journal)
		n = snprintf(buf, len, "<%d>", log_level_prio[level]);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	}
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

/* Write buf[0..n) plus a newline in one call; a log line is never worth blocking or dying for. */
static void
log_write_line(char *buf, size_t n, size_t size)
{
	ssize_t	r;

	if (n >= size - 1)
		n = size - 2;
	buf[n++] = '\n';
	do
		r = write(log_state.fd, buf, n);
	while (r == -1 && errno == EINTR);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char	buf[LOG_LINE_MAX];
	size_t	n;
	int	m;
	va_list	ap;

	if (!log_enabled(level))
		return;
	n = log_prefix(buf, sizeof(buf), level);
	m = snprintf(buf + n, sizeof(buf) - n, "%s: ", log_level_word[level]);
	if (m > 0)
		n += (size_t)m;
	if (n < sizeof(buf)) {
		va_start(ap, fmt);
		m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n > sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	log_write_line(buf, n, sizeof(buf));
}

/* Bytes that stay as they are in a log token; everything else becomes \xNN. */
static bool
log_byte_plain(unsigned char c)
{
	return c >= '!' && c <= '~' && c != '\\';
}

size_t
log_sanitize(const char *in, size_t inlen, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 max, total = 0, limit, o = 0, i;

	if (outlen == 0)
		return 0;
	max = outlen - 1;
	if (max > LOG_SNI_MAX)
		max = LOG_SNI_MAX;
	for (i = 0; i < inlen; i++)
		total += log_byte_plain((unsigned char)in[i]) ? 1 : 4;
	/* When cut, whole characters only (never half an escape), then "...". */
	limit = total <= max ? max : (max >= 3 ? max - 3 : 0);
	for (i = 0; i < inlen; i++) {
		unsigned char	c = (unsigned char)in[i];

		if (log_byte_plain(c)) {
			if (o + 1 > limit)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 > limit)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (total > max && max >= 3) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}

size_t
log_format_access(char *buf, size_t len, const struct log_access *a)
{
	char	client[ADDRSPEC_TEXT_MAX], backend[ADDRSPEC_TEXT_MAX];
	double	d = a->duration < 0 ? 0 : a->duration;
	int	n;

	if (a->client != NULL)
		addrspec_format(a->client, a->clientlen, client, sizeof(client));
	else
		strcpy(client, "-");
	if (a->backend != NULL)
		addrspec_format(a->backend, a->backendlen, backend,
		    sizeof(backend));
	else
		strcpy(backend, "-");
	n = snprintf(buf, len, "conn client=%s sni=%s backend=%s up=%" PRIu64
	    " down=%" PRIu64 " duration=%.3f outcome=%s", client,
	    a->sni != NULL && a->sni[0] != '\0' ? a->sni : "-", backend, a->up,
	    a->down, d, outcome_word(a->outcome));
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

void
log_access(const struct log_access *a)
{
	char	buf[LOG_LINE_MAX];
	size_t	n;

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	n = log_prefix(buf, sizeof(buf), LOG_LEVEL_INFO);
	n += log_format_access(buf + n, sizeof(buf) - n, a);
	log_write_line(buf, n, sizeof(buf));
}
