/*
 * libFuzzer target for the -metrics request parser (metrics_http_parse).
 * metricsd hands it at most METRICS_HTTP_HEAD_MAX bytes (its buffer), so
 * longer inputs are cut there.  Beyond "no crash, no read outside the
 * buffer" it checks:
 * - the answer is NEED_MORE only while the head is incomplete and shorter
 *   than the bound, else DONE with 200, 400, 404 or 405;
 * - the status is what a separate reading of the request line says (the
 *   oracle below: 200 exactly for GET /metrics, query string ignored);
 * - a prefix of the input answers NEED_MORE or exactly what the whole
 *   input answers (metricsd parses again after every read).
 * Each parse of a prefix gets a copy of exactly that many bytes, so ASan
 * catches a read past the prefix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snid/metrics.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

/* The parse of a copy of exactly buf[0..len). */
static enum metrics_http
parse_copy(const uint8_t *buf, size_t len, int *status)
{
	enum metrics_http	 st;
	char			*copy = malloc(len > 0 ? len : 1);

	CHECK(copy != NULL);
	memcpy(copy, buf, len);
	*status = -1;
	st = metrics_http_parse(copy, len, status);
	free(copy);
	return st;
}

/* What the answer must be, or 0 for NEED_MORE. */
static int
oracle(const char *b, size_t len)
{
	const char	*eol, *sp1, *sp2, *q;
	size_t		 plen;

	if (memmem(b, len, "\r\n\r\n", 4) == NULL &&
	    memmem(b, len, "\n\n", 2) == NULL)
		return len >= METRICS_HTTP_HEAD_MAX ? 400 : 0;
	eol = memchr(b, '\n', len);
	sp1 = memchr(b, ' ', (size_t)(eol - b));
	if (sp1 == NULL || sp1 == b)
		return 400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1 || eol - sp2 < 6 ||
	    strncmp(sp2, " HTTP/", 6) != 0)
		return 400;
	if (sp1 - b != 3 || strncmp(b, "GET", 3) != 0)
		return 405;
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	plen = (size_t)((q != NULL ? q : sp2) - (sp1 + 1));
	return plen == 8 && strncmp(sp1 + 1, "/metrics", 8) == 0 ? 200 : 404;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum metrics_http	st, pst;
	int			status, pstatus, want;

	if (size > METRICS_HTTP_HEAD_MAX)
		size = METRICS_HTTP_HEAD_MAX;
	st = parse_copy(data, size, &status);
	want = oracle((const char *)data, size);
	if (want == 0) {
		CHECK(st == METRICS_HTTP_NEED_MORE);
		CHECK(size < METRICS_HTTP_HEAD_MAX);
	} else {
		CHECK(st == METRICS_HTTP_DONE);
		CHECK(status == want);
	}
	/* Every prefix, as metricsd sees the request grow read by read. */
	for (size_t k = 0; k < size; k++) {
		pst = parse_copy(data, k, &pstatus);
		if (pst == METRICS_HTTP_NEED_MORE)
			continue;
		CHECK(st == METRICS_HTTP_DONE && pstatus == status);
	}
	return 0;
}
