/*
 * libFuzzer target for the HTTP request-head parser.  Beyond "no crash, no
 * read outside the buffer" it checks the promises the router relies on:
 * - the result is self-consistent: a DONE head ends in CRLF CRLF, holds no
 *   NUL and no bare LF, its host lies inside it, and name / name_error are
 *   exactly what hostname_canonicalize() says of the host;
 * - an HTTP/1.1 head is DONE only with a host;
 * - with HTTPHOST_MAX_HEAD bytes or more there is an answer;
 * - a prefix of the input answers NEED_MORE or exactly what the whole input
 *   answers, and a DONE head is DONE from head_len on;
 * - once the answer is not NEED_MORE, appending bytes does not change it;
 * - httphost_parse_resume() fed the input in segments (the sizes drawn from
 *   the input itself) answers exactly what httphost_parse() answers for the
 *   same prefix.
 * Each parse of a prefix gets a copy of exactly that many bytes, so ASan
 * catches a read past the prefix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snid/hostname.h"
#include "snid/httphost.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

static void
check_result(enum httphost_status st, const struct httphost *r, const uint8_t *buf, size_t size)
{
	char		canon[HOSTNAME_MAX + 1];
	const char	*why;
	size_t		i;

	switch (st) {
	case HTTPHOST_NEED_MORE:
		CHECK(size < HTTPHOST_MAX_HEAD);
		CHECK(r->error == NULL && r->status == 0 && !r->has_host && r->head_len == 0);
		break;
	case HTTPHOST_ERROR:
		CHECK(r->error != NULL);
		CHECK(r->status == 400 || r->status == 414 || r->status == 431 || r->status == 505);
		CHECK(!r->has_host && r->head_len == 0 && r->name[0] == '\0');
		break;
	case HTTPHOST_DONE:
		CHECK(r->error == NULL && r->status == 0);
		CHECK(r->head_len >= 16 && r->head_len <= size && r->head_len <= HTTPHOST_MAX_HEAD);
		CHECK(memcmp(buf + r->head_len - 4, "\r\n\r\n", 4) == 0);
		for (i = 0; i < r->head_len; i++) {
			CHECK(buf[i] != '\0');
			CHECK(buf[i] != '\n' || (i > 0 && buf[i - 1] == '\r'));
			CHECK(buf[i] != '\r' || (i + 1 < r->head_len && buf[i + 1] == '\n'));
		}
		CHECK(r->version_minor == 0 || r->version_minor == 1);
		if (r->version_minor == 1)
			CHECK(r->has_host);
		if (!r->has_host) {
			CHECK(r->host_len == 0 && r->name_error == NULL && r->name[0] == '\0');
			CHECK(!r->from_target && !r->ip_literal);
			break;
		}
		CHECK(r->host_len > 0 && r->host_off + r->host_len <= r->head_len);
		CHECK(r->ip_literal == (buf[r->host_off] == '['));
		why = hostname_canonicalize((const char *)buf + r->host_off, r->host_len, canon);
		CHECK((why == NULL) == (r->name_error == NULL));
		if (why == NULL)
			CHECK(strcmp(canon, r->name) == 0 && r->name[0] != '\0');
		else
			CHECK(strcmp(why, r->name_error) == 0 && r->name[0] == '\0');
		if (r->ip_literal)
			CHECK(r->name_error != NULL);
		break;
	default:
		CHECK(0);
	}
}

static void
check_same(const struct httphost *a, const struct httphost *b)
{
	CHECK(a->error == b->error || (a->error && b->error && strcmp(a->error, b->error) == 0));
	CHECK(a->status == b->status && a->version_minor == b->version_minor);
	CHECK(a->has_host == b->has_host && a->from_target == b->from_target);
	CHECK(a->ip_literal == b->ip_literal && a->host_off == b->host_off);
	CHECK(a->host_len == b->host_len && a->head_len == b->head_len);
	CHECK(a->name_error == b->name_error ||
	    (a->name_error && b->name_error && strcmp(a->name_error, b->name_error) == 0));
	CHECK(strcmp(a->name, b->name) == 0);
}

static void
check_prefix(const uint8_t *data, size_t cut, enum httphost_status st,
    const struct httphost *whole)
{
	uint8_t			*p = malloc(cut ? cut : 1);
	enum httphost_status	pst;
	struct httphost		r;

	CHECK(p != NULL);
	if (cut > 0)
		memcpy(p, data, cut);
	pst = httphost_parse(p, cut, &r);
	check_result(pst, &r, p, cut);
	free(p);
	if (pst == HTTPHOST_NEED_MORE) {
		CHECK(!(st == HTTPHOST_DONE && cut >= whole->head_len));
		return;
	}
	CHECK(pst == st);
	check_same(&r, whole);
}

/* The input in segments of 1..16 bytes into one growing buffer, resuming. */
static void
check_resume(const uint8_t *data, size_t size)
{
	struct httphost_resume	rs;
	struct httphost		got, want;
	enum httphost_status	st, wst;
	uint8_t			*acc = malloc(size ? size : 1);
	size_t			n = 0, step, calls = 0;

	CHECK(acc != NULL);
	memset(&rs, 0, sizeof(rs));
	while (n < size) {
		step = 1 + (size_t)(data[n] & 15);
		if (step > size - n)
			step = size - n;
		memcpy(acc + n, data + n, step);
		n += step;
		calls++;
		st = httphost_parse_resume(acc, n, &rs, &got);
		wst = httphost_parse(acc, n, &want);
		CHECK(st == wst);
		check_same(&got, &want);
		if (st != HTTPHOST_NEED_MORE)
			break;
	}
	CHECK(rs.pos <= n && calls <= size);
	free(acc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum httphost_status	st;
	struct httphost		whole, r;
	uint32_t		h = 2166136261u;
	size_t			i;

	st = httphost_parse(data, size, &whole);
	check_result(st, &whole, data, size);

	if (size <= 128) {
		for (i = 0; i < size; i++)
			check_prefix(data, i, st, &whole);
	} else {
		for (i = 0; i < 32; i++)
			check_prefix(data, i, st, &whole);
		check_prefix(data, size - 1, st, &whole);
		if (st == HTTPHOST_DONE) {
			check_prefix(data, whole.head_len - 1, st, &whole);
			check_prefix(data, whole.head_len, st, &whole);
		}
		for (i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		for (i = 0; i < 16; i++) {
			h = h * 1103515245u + 12345u;
			check_prefix(data, (h >> 8) % size, st, &whole);
		}
	}

	check_resume(data, size);

	if (st != HTTPHOST_NEED_MORE) {
		size_t extra = size < 64 ? size + 1 : 64;
		uint8_t *more = malloc(size + extra);

		CHECK(more != NULL);
		memcpy(more, data, size);
		for (i = 0; i < extra; i++)
			more[size + i] = i < size ? data[size - 1 - i] : '\n';
		CHECK(httphost_parse(more, size + extra, &r) == st);
		check_same(&r, &whole);
		free(more);
	}
	return 0;
}
