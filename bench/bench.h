/*
 * The little protocol between bench/loadgen and bench/sink.
 *
 * The client sends a TLS ClientHello record (so that an SNI proxy can route
 * it) and, in the same write, a 16-byte command that tells the sink what to
 * do with the rest of the connection.  The proxies forward both unchanged;
 * the sink skips the hello record by its length and acts on the command:
 *
 *   'c' connection: answer BENCH_REPLY and close.
 *   'd' down:       send COUNT bytes, then close.
 *   'u' up:         read to EOF, then send the 8-byte count read, close.
 *   'b' both:       send COUNT bytes and read to EOF at the same time, close.
 *   'i' idle:       send one byte ('A') so the client knows the path is
 *                   established end to end, then wait for EOF.
 */
#ifndef BENCH_H
#define BENCH_H

#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BENCH_MAGIC "SNIB"
#define BENCH_CMD_LEN 16 /* magic[4] mode[1] pad[3] count[8] big-endian */

/* 64 bytes: the "short reply" of connection mode, checked byte for byte. */
#define BENCH_REPLY "snid-bench sink reply 0123456789abcdefghijklmnopqrstuvwxyzABCD\n"
#define BENCH_REPLY_LEN 64

#define BENCH_IDLE_ACK 'A'

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
bench_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The bench tools' one way out on a set-up error: perror, exit 2. */
static inline void
bench_die(const char *what)
{
	perror(what);
	exit(2);
}

static inline void
bench_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static inline uint64_t
bench_get64(const uint8_t *p)
{
	uint64_t	v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * "1.2.3.4:P" or "[::1]:P" (numeric only) into *res (getaddrinfo with
 * flags | AI_NUMERICHOST | AI_NUMERICSERV; free it with freeaddrinfo).
 * Returns 0, or -1 for a malformed address.
 */
static inline int
bench_addr(const char *s, int flags, struct addrinfo **res)
{
	char		host[256];
	const char	*port, *e;
	struct addrinfo	hints = { .ai_flags = flags | AI_NUMERICHOST |
			    AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };

	if (s[0] == '[') {
		e = strchr(s, ']');
		if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = 0;
		port = e + 2;
	} else {
		e = strrchr(s, ':');
		if (!e || (size_t)(e - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(e - s));
		host[e - s] = 0;
		port = e + 1;
	}
	return getaddrinfo(host, port, &hints, res) == 0 ? 0 : -1;
}

#endif
