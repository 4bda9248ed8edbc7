/*
 * log: level-filtered lines on stderr, journald-aware, one write(2) per line,
 * and never a write that blocks the event loop.
 */
#include "snid/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snid/addrspec.h"

/* How a line is handed to the kernel without ever waiting (see log_init). */
enum log_how {
	LOG_HOW_WRITE,		/* write(2): a regular file, or our non-blocking fd */
	LOG_HOW_SEND,		/* send(MSG_DONTWAIT): a socket (the journal stream) */
	LOG_HOW_POLL,		/* a pipe we could not reopen: write only if poll says so */
};

/*
 * Set by log_init() between callbacks (start-up, reload) and read
 * afterwards.  What changes per line (the pending rest, the count of
 * dropped lines) is under log_lock, held only around non-blocking calls.
 */
static struct {
	int		fd;		/* the fd given to log_init (2) */
	int		wfd;		/* where lines go: fd, or our reopening of it */
	enum log_how	how;
	dev_t		dev;		/* fd's identity, to keep wfd across log_init */
	ino_t		ino;
	enum log_level	level;
	bool		journal;
} log_state = { 2, 2, LOG_HOW_WRITE, 0, 0, LOG_LEVEL_INFO, false };

static pthread_mutex_t	log_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t		log_dropped;		/* lines lost since the last notice */
static char		log_pending[LOG_LINE_MAX];	/* a line's unsent rest */
static size_t		log_pending_len;

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

/*
 * Choose how lines reach fd without blocking.  stderr is shared with the
 * processes that gave it to us (a shell's pipe, systemd's journal stream),
 * so O_NONBLOCK must not be set on its file description: the flag lives
 * there, not in the descriptor, and would change the others' writes too.
 *  - A socket (the journal stream): send(MSG_DONTWAIT) is non-blocking for
 *    this call only.
 *  - A pipe, a FIFO, a terminal (which blocks on flow control, ^S): open
 *    /proc/self/fd/N again with O_NONBLOCK.  For a pipe that open gives a
 *    new file description of the same pipe (checked on Linux 6.x: the
 *    original description keeps its flags), for a terminal a new one of the
 *    same device; we write through that private fd.  Should /proc not be
 *    there, a pipe is written only when poll() says it has room (a page,
 *    more than LOG_LINE_MAX; racy against other writers, but bounded), and
 *    anything else is written as before.
 *  - A regular file, /dev/null...: write(2) does not wait for a reader.
 * A line that cannot go out at once is dropped and counted; the count goes
 * out as a line of its own before the next line that can.
 */
void
log_init(int fd, enum log_level level)
{
	struct stat	st;
	bool		known;
	char		path[64];
	int		p;

	known = fstat(fd, &st) == 0;
	log_state.level = level;
	log_state.journal = log_fd_is_journal(fd);
	/*
	 * Again on a reload: the same stderr keeps its private fd.  (It could
	 * not be opened again: /proc/self/fd is closed to us once privileges
	 * are dropped.)
	 */
	if (known && fd == log_state.fd && log_state.wfd != fd &&
	    st.st_dev == log_state.dev && st.st_ino == log_state.ino)
		return;
	if (log_state.wfd != log_state.fd && log_state.wfd != -1)
		(void)close(log_state.wfd);
	log_state.fd = log_state.wfd = fd;
	log_state.how = LOG_HOW_WRITE;
	log_state.dev = known ? st.st_dev : 0;
	log_state.ino = known ? st.st_ino : 0;
	log_pending_len = 0;
	if (!known || S_ISREG(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		log_state.how = LOG_HOW_SEND;
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	p = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (p != -1)
		log_state.wfd = p;
	else if (S_ISFIFO(st.st_mode))
		log_state.how = LOG_HOW_POLL;
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

/* One non-blocking attempt to write buf[0..n): bytes written, or -1 with errno. */
static ssize_t
log_put(const char *buf, size_t n)
{
	struct pollfd	pfd;
	ssize_t		r;

	for (;;) {
		switch (log_state.how) {
		case LOG_HOW_SEND:
			r = send(log_state.wfd, buf, n, MSG_DONTWAIT |
			    MSG_NOSIGNAL);
			break;
		case LOG_HOW_POLL:
			pfd.fd = log_state.wfd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)) {
				errno = EAGAIN;
				return -1;
			}
			/* FALLTHROUGH */
		case LOG_HOW_WRITE:
		default:
			r = write(log_state.wfd, buf, n);
			break;
		}
		if (r != -1 || errno != EINTR)
			return r;
	}
}

/*
 * Write buf[0..n) in one call if it can go out now, else drop it and count
 * it.  A pipe takes a line of up to PIPE_BUF bytes whole or not at all; a
 * stream socket or a terminal may take part of it: the rest is kept and
 * goes first next time, so the reader never sees half a line followed by
 * another.  Called with log_lock held.  Returns whether the line went out
 * (or its rest is pending).
 */
static bool
log_put_line(const char *buf, size_t n)
{
	ssize_t	r;

	if (log_pending_len > 0) {
		r = log_put(log_pending, log_pending_len);
		if (r > 0) {
			memmove(log_pending, log_pending + r,
			    log_pending_len - (size_t)r);
			log_pending_len -= (size_t)r;
		}
		if (log_pending_len > 0) {
			log_dropped++;
			return false;
		}
	}
	r = log_put(buf, n);
	if (r == -1) {
		/* Only a full stderr is counted; a closed one just loses the line. */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			log_dropped++;
		return false;
	}
	if ((size_t)r < n) {
		memcpy(log_pending, buf + r, n - (size_t)r);
		log_pending_len = n - (size_t)r;
	}
	return true;
}

/* Write buf[0..n) plus a newline; a log line is never worth blocking or dying for. */
static void
log_write_line(char *buf, size_t n, size_t size)
{
	char	note[128];
	size_t	k;
	int	m;

	if (n >= size - 1)
		n = size - 2;
	buf[n++] = '\n';
	(void)pthread_mutex_lock(&log_lock);
	if (log_dropped > 0) {
		k = log_prefix(note, sizeof(note), LOG_LEVEL_WARN);
		m = snprintf(note + k, sizeof(note) - k, "warning: %llu log lines "
		    "dropped (stderr was full)\n", (unsigned long long)log_dropped);
		if (m > 0 && (size_t)m < sizeof(note) - k) {
			uint64_t	was = log_dropped;

			/* The notice itself is not counted if it cannot go either. */
			if (!log_put_line(note, k + (size_t)m)) {
				log_dropped = was + 1;
				(void)pthread_mutex_unlock(&log_lock);
				return;
			}
			log_dropped = 0;
		}
	}
	(void)log_put_line(buf, n);
	(void)pthread_mutex_unlock(&log_lock);
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
