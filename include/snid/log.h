/*
 * log: lines on stderr with a level, and the one access line per connection.
 *
 * When stderr is connected to the systemd journal (JOURNAL_STREAM names
 * stderr's device and inode) lines carry an sd-daemon "<N>" priority prefix
 * and no timestamp (the journal adds its own); otherwise each line starts
 * with an RFC 3339 UTC timestamp.  Every line goes out in a single write(2)
 * so lines from several processes or threads never interleave.
 *
 * Logging never blocks the event loop: a stderr nobody drains (a full pipe,
 * a stalled journal stream, a terminal stopped with ^S) would otherwise
 * freeze every connection, and clients decide how many lines are written.
 * A line that cannot be written at once is dropped and counted; before the
 * next line that can be written comes "warning: N log lines dropped (stderr
 * was full)".  (How, per kind of stderr: see log_init in log.c.)
 */
#ifndef SNID_LOG_H
#define SNID_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "snid/config.h"
#include "snid/outcome.h"

/* Longest line written; longer lines are truncated. */
#define LOG_LINE_MAX	1024
/* Longest sanitized SNI in an access line, "..." included when cut. */
#define LOG_SNI_MAX	200

/*
 * Set the destination fd (normally 2) and the threshold.  Called at
 * start-up, and again on a reload (SIGHUP) to change the threshold; only
 * ever from the thread that runs the loop, between callbacks (there is one
 * loop).  For a pipe or a terminal it opens a private non-blocking fd for
 * the same file, kept while fd stays the same file (a reload, after the
 * privileges are dropped, could not open it again).  The settings are the
 * only process-wide state outside main; the per-line state (dropped count,
 * a partly written line) is behind a lock held only around non-blocking
 * calls.
 */
void	log_init(int fd, enum log_level level);

/* Whether lines of this level are written. */
bool	log_enabled(enum log_level level);

void	log_msg(enum log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* What the access line says about one connection. */
struct log_access {
	const struct sockaddr	*client;	/* NULL: "-" */
	socklen_t		 clientlen;
	const char		*sni;		/* already sanitized; NULL: "-" */
	const struct sockaddr	*backend;	/* NULL: "-" */
	socklen_t		 backendlen;
	uint64_t		 up;		/* bytes client -> backend */
	uint64_t		 down;		/* bytes backend -> client */
	double			 duration;	/* seconds */
	enum outcome		 outcome;
};

/*
 * Format the access line without prefix or newline:
 * "conn client=192.0.2.7:51234 sni=example.com backend=[2001:db8::5]:443
 *  up=517 down=4096 duration=0.012 outcome=ok".  Returns its length.
 */
size_t	log_format_access(char *buf, size_t len, const struct log_access *a);

/* Write the access line (at info level). */
void	log_access(const struct log_access *a);

/*
 * Copy in[0..inlen) into out (outlen bytes, NUL-terminated) so that it is
 * one printable, space-free token: bytes outside '!'..'~' and the backslash
 * become \xNN.  When the result would be longer than outlen - 1 or
 * LOG_SNI_MAX, it is cut at a character boundary and ends in "...".
 * Returns the length written.
 */
size_t	log_sanitize(const char *in, size_t inlen, char *out, size_t outlen);

#endif
