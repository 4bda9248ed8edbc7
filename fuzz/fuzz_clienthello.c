/*
 * libFuzzer target for the ClientHello parser.  Beyond "no crash, no read
 * outside the buffer" it checks the promises the connection code relies on:
 * - the result is self-consistent (lengths within bounds, NUL-terminated);
 * - with CLIENTHELLO_MAX_WIRE bytes or more there is an answer;
 * - a prefix of the input answers NEED_MORE or exactly what the whole input
 *   answers (so a prefix of a DONE input is never ERROR, and a DONE input
 *   is DONE from wire_len on);
 * - once the answer is not NEED_MORE, appending bytes does not change it.
 * Each parse of a prefix gets a copy of exactly that many bytes, so ASan
 * catches a read past the prefix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snid/clienthello.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

static void
check_result(enum clienthello_status st, const struct clienthello *r, size_t size)
{
	size_t	i;

	switch (st) {
	case CLIENTHELLO_NEED_MORE:
		CHECK(size < CLIENTHELLO_MAX_WIRE);
		CHECK(r->error == NULL && r->alert == 0);
		break;
	case CLIENTHELLO_ERROR:
		CHECK(r->error != NULL);
		CHECK(r->alert == TLS_ALERT_DECODE_ERROR ||
		    r->alert == TLS_ALERT_ILLEGAL_PARAMETER ||
		    r->alert == TLS_ALERT_UNEXPECTED_MESSAGE ||
		    r->alert == TLS_ALERT_RECORD_OVERFLOW);
		CHECK(!r->has_sni && r->wire_len == 0);
		break;
	case CLIENTHELLO_NOT_TLS:
		CHECK(r->error != NULL && r->alert == 0);
		break;
	case CLIENTHELLO_DONE:
		CHECK(r->error == NULL && r->alert == 0);
		CHECK(r->sslv2 || r->wire_len <= size);
		CHECK(r->wire_len > 0);
		CHECK(r->has_sni == (r->sni_len > 0));
		CHECK(r->sni_len <= CLIENTHELLO_SNI_MAX && r->sni[r->sni_len] == '\0');
		for (i = 0; i < r->alpn_count && i < CLIENTHELLO_MAX_ALPN; i++)
			CHECK(r->alpn_len[i] > 0 && r->alpn[i][r->alpn_len[i]] == '\0');
		CHECK(r->versions_count <= CLIENTHELLO_MAX_VERSIONS);
		for (i = 0; i < r->versions_count; i++)
			CHECK((r->versions[i] & 0x0f0f) != 0x0a0a ||
			    (r->versions[i] >> 8) != (r->versions[i] & 0xff));
		if (r->sslv2)
			CHECK(!r->has_sni && r->alpn_count == 0);
		break;
	default:
		CHECK(0);
	}
}

static void
check_same(const struct clienthello *a, const struct clienthello *b)
{
	size_t	i;

	CHECK(a->alert == b->alert);
	CHECK(a->error == b->error || (a->error && b->error && strcmp(a->error, b->error) == 0));
	CHECK(a->sslv2 == b->sslv2 && a->has_sni == b->has_sni && a->sni_len == b->sni_len);
	CHECK(memcmp(a->sni, b->sni, a->sni_len + 1) == 0);
	CHECK(a->alpn_count == b->alpn_count);
	for (i = 0; i < a->alpn_count && i < CLIENTHELLO_MAX_ALPN; i++)
		CHECK(a->alpn_len[i] == b->alpn_len[i] &&
		    memcmp(a->alpn[i], b->alpn[i], a->alpn_len[i]) == 0);
	CHECK(a->legacy_version == b->legacy_version && a->versions_count == b->versions_count);
	CHECK(memcmp(a->versions, b->versions, a->versions_count * sizeof(a->versions[0])) == 0);
	CHECK(a->ech == b->ech && a->wire_len == b->wire_len);
}

static void
check_prefix(const uint8_t *data, size_t cut, enum clienthello_status st,
    const struct clienthello *whole)
{
	uint8_t			*p = malloc(cut ? cut : 1);
	enum clienthello_status	pst;
	struct clienthello	r;

	CHECK(p != NULL);
	if (cut > 0)
		memcpy(p, data, cut);
	pst = clienthello_parse(p, cut, &r);
	free(p);
	check_result(pst, &r, cut);
	if (pst == CLIENTHELLO_NEED_MORE) {
		/* A TLS hello that is DONE is DONE as soon as its records are in. */
		CHECK(!(st == CLIENTHELLO_DONE && !whole->sslv2 && cut >= whole->wire_len));
		return;
	}
	CHECK(pst == st);
	check_same(&r, whole);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum clienthello_status	st;
	struct clienthello	whole, r;
	uint32_t		h = 2166136261u;
	size_t			i;

	st = clienthello_parse(data, size, &whole);
	check_result(st, &whole, size);

	/*
	 * Every prefix of a short input; of a long one the first bytes, the
	 * last ones, the byte before the hello's end, and some spread by a
	 * hash of the input (every prefix would make each run quadratic).
	 */
	if (size <= 64) {
		for (i = 0; i < size; i++)
			check_prefix(data, i, st, &whole);
	} else {
		for (i = 0; i < 16; i++)
			check_prefix(data, i, st, &whole);
		check_prefix(data, size - 1, st, &whole);
		check_prefix(data, size - 2, st, &whole);
		if (st == CLIENTHELLO_DONE && !whole.sslv2) {
			check_prefix(data, whole.wire_len - 1, st, &whole);
			check_prefix(data, whole.wire_len, st, &whole);
		}
		for (i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		for (i = 0; i < 16; i++) {
			h = h * 1103515245u + 12345u;
			check_prefix(data, (h >> 8) % size, st, &whole);
		}
	}

	/* Bytes appended to a decided input change nothing. */
	if (st != CLIENTHELLO_NEED_MORE) {
		size_t extra = size < 64 ? size + 1 : 64;
		uint8_t *more = malloc(size + extra);

		CHECK(more != NULL);
		memcpy(more, data, size);
		for (i = 0; i < extra; i++)
			more[size + i] = i < size ? data[size - 1 - i] : 0x16;
		CHECK(clienthello_parse(more, size + extra, &r) == st);
		check_same(&r, &whole);
		free(more);
	}
	return 0;
}
