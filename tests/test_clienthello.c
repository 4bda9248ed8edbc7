/*
 * Tests for the ClientHello parser: real captures from tests/data/clienthello
 * (parsed whole, byte by byte, re-framed into records of every size,
 * truncated at every offset) and hellos built here with one thing wrong.
 * Run from the repository root.  Every parse gets a copy of exactly the
 * bytes it may read, so valgrind and ASan see any read past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snid/clienthello.h"
#include "testutil.h"

#define DATA_DIR	"tests/data/clienthello/"

/* ---- helpers ---- */

/* Parse a copy of exactly n bytes, so that a read past the end is caught. */
static enum clienthello_status
parse(const uint8_t *b, size_t n, struct clienthello *r)
{
	uint8_t			*p = xmalloc(n);
	enum clienthello_status	st;

	if (n > 0)
		memcpy(p, b, n);
	st = clienthello_parse(p, n, r);
	free(p);
	return st;
}

static uint8_t *
load(const char *name, size_t *len)
{
	return load_data_in(DATA_DIR, name, len);
}

static void
assert_same_result(const struct clienthello *a, const struct clienthello *b)
{
	size_t	i;

	assert_int_equal(a->sslv2, b->sslv2);
	assert_int_equal(a->has_sni, b->has_sni);
	assert_int_equal(a->sni_len, b->sni_len);
	assert_memory_equal(a->sni, b->sni, a->sni_len + 1);
	assert_int_equal(a->alpn_count, b->alpn_count);
	for (i = 0; i < a->alpn_count && i < CLIENTHELLO_MAX_ALPN; i++) {
		assert_int_equal(a->alpn_len[i], b->alpn_len[i]);
		assert_memory_equal(a->alpn[i], b->alpn[i], a->alpn_len[i] + 1u);
	}
	assert_int_equal(a->legacy_version, b->legacy_version);
	assert_int_equal(a->versions_count, b->versions_count);
	for (i = 0; i < a->versions_count; i++)
		assert_int_equal(a->versions[i], b->versions[i]);
	assert_int_equal(a->ech, b->ech);
	assert_int_equal(a->wire_len, b->wire_len);
	assert_int_equal(a->alert, b->alert);
	if (a->error == NULL)
		assert_null(b->error);
	else
		assert_string_equal(a->error, b->error);
}

static void
expect_error(enum clienthello_status st, const struct clienthello *r,
    uint8_t alert, const char *why)
{
	assert_string_equal(clienthello_status_str(st), "error");
	assert_int_equal(r->alert, alert);
	assert_non_null(r->error);
	assert_string_equal(r->error, why);
	assert_false(r->has_sni);
	assert_int_equal(r->wire_len, 0);
}

/* The handshake bytes carried by the records of a well-formed capture. */
static size_t
handshake_of(const uint8_t *w, size_t wlen, uint8_t *hs, size_t *nrec)
{
	size_t	off = 0, n = 0;

	*nrec = 0;
	while (off < wlen) {
		size_t rlen;

		assert_true(off + 5 <= wlen);
		assert_int_equal(w[off], 22);
		rlen = (size_t)w[off + 3] << 8 | w[off + 4];
		assert_true(off + 5 + rlen <= wlen);
		memcpy(hs + n, w + off + 5, rlen);
		n += rlen;
		off += 5 + rlen;
		(*nrec)++;
	}
	return n;
}

/* Frame hs into records of at most frag bytes; versions cycle 0x0301..0x0303. */
static size_t
reframe(const uint8_t *hs, size_t hslen, size_t frag, uint8_t *w)
{
	size_t	off = 0, n = 0, rec = 0;

	while (off < hslen) {
		size_t take = hslen - off < frag ? hslen - off : frag;

		w[n++] = 22;
		w[n++] = 3;
		w[n++] = (uint8_t)(1 + rec++ % 3);
		w[n++] = (uint8_t)(take >> 8);
		w[n++] = (uint8_t)take;
		memcpy(w + n, hs + off, take);
		n += take;
		off += take;
	}
	return n;
}

/* ---- the real captures ---- */

struct capture {
	const char	*file;
	const char	*sni;		/* NULL: no server_name */
	const char	*alpn[3];	/* NULL-terminated */
	uint16_t	 versions[4];
	size_t		 nversions;
	bool		 ech;
	size_t		 records;
};

static const struct capture captures[] = {
	{ "openssl_tls12.bin", "tls12.example.com", { NULL }, { 0 }, 0, false, 1 },
	{ "openssl_tls13.bin", "tls13.example.com", { NULL }, { 0x0304 }, 1, false, 1 },
	{ "openssl_nosni.bin", NULL, { NULL },
	  { 0x0304, 0x0303, 0x0302, 0x0301 }, 4, false, 1 },
	{ "openssl_alpn.bin", "alpn.example.net", { "h2", "http/1.1", NULL },
	  { 0x0304, 0x0303, 0x0302, 0x0301 }, 4, false, 1 },
	{ "openssl_fragmented.bin", "frag.example.org", { NULL },
	  { 0x0304, 0x0303, 0x0302, 0x0301 }, 4, false, 3 },
	{ "gnutls.bin", "gnutls.example.com", { "h2", "http/1.1", NULL },
	  { 0x0304, 0x0303, 0x0302, 0x0301 }, 4, false, 1 },
	{ "curl.bin", "curl.example.com", { "h2", "http/1.1", NULL },
	  { 0x0304, 0x0303, 0x0302, 0x0301 }, 4, false, 1 },
	{ "python.bin", "python.example.com", { NULL },
	  { 0x0304, 0x0303, 0x0302, 0x0301 }, 4, false, 1 },
	{ "chromium.bin", "chromium.example.com", { "h2", "http/1.1", NULL },
	  { 0x0304, 0x0303 }, 2, true, 1 },
};
#define NCAPTURES	(sizeof(captures) / sizeof(captures[0]))

static void
assert_capture_result(const struct capture *c, const struct clienthello *r, size_t wire)
{
	size_t	i, nalpn = 0;

	assert_null(r->error);
	assert_int_equal(r->alert, 0);
	assert_false(r->sslv2);
	if (c->sni == NULL) {
		assert_false(r->has_sni);
		assert_int_equal(r->sni_len, 0);
	} else {
		assert_true(r->has_sni);
		assert_int_equal(r->sni_len, strlen(c->sni));
		assert_string_equal(r->sni, c->sni);
	}
	while (c->alpn[nalpn] != NULL)
		nalpn++;
	assert_int_equal(r->alpn_count, nalpn);
	for (i = 0; i < nalpn; i++) {
		assert_int_equal(r->alpn_len[i], strlen(c->alpn[i]));
		assert_string_equal(r->alpn[i], c->alpn[i]);
	}
	assert_int_equal(r->legacy_version, 0x0303);
	assert_int_equal(r->versions_count, c->nversions);
	for (i = 0; i < c->nversions; i++)
		assert_int_equal(r->versions[i], c->versions[i]);
	assert_int_equal(r->ech, c->ech);
	assert_int_equal(r->wire_len, wire);
}

static void
test_captures_parse_whole(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		struct clienthello r;
		uint8_t *w, *hs;
		size_t len, nrec;

		w = load(captures[i].file, &len);
		hs = xmalloc(len);
		handshake_of(w, len, hs, &nrec);
		assert_int_equal(nrec, captures[i].records);
		assert_int_equal(parse(w, len, &r), CLIENTHELLO_DONE);
		assert_capture_result(&captures[i], &r, len);
		free(hs);
		free(w);
	}
}

/* The post-quantum capture is the large one the issue asks for. */
static void
test_capture_chromium_is_post_quantum(void **state)
{
	uint8_t	*w;
	size_t	len;

	(void)state;
	w = load("chromium.bin", &len);
	assert_true(len > 1500);
	/* X25519MLKEM768 (0x11ec) key share of 1216 bytes: group, then length 0x04c0. */
	assert_non_null(memmem(w, len, "\x11\xec\x04\xc0", 4));
	free(w);
}

/* As a connection delivers it: the buffer grows one byte per read. */
static void
test_captures_one_byte_at_a_time(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		struct clienthello whole, r;
		uint8_t *w, *conn = NULL;
		size_t len, n;

		w = load(captures[i].file, &len);
		assert_int_equal(clienthello_parse(w, len, &whole), CLIENTHELLO_DONE);
		for (n = 1; n <= len; n++) {
			enum clienthello_status st;

			conn = realloc(conn, n);	/* exactly n bytes: ASan sees overreads */
			assert_non_null(conn);
			conn[n - 1] = w[n - 1];
			st = clienthello_parse(conn, n, &r);
			if (n < len) {
				if (st != CLIENTHELLO_NEED_MORE)
					fail_msg("%s: %s at %zu of %zu bytes", captures[i].file,
					    clienthello_status_str(st), n, len);
				assert_null(r.error);
			} else {
				assert_int_equal(st, CLIENTHELLO_DONE);
				assert_same_result(&whole, &r);
			}
		}
		free(conn);
		free(w);
	}
}

/*
 * Re-framed into records of every size from 1 byte up: DONE with the same
 * result as long as at most CLIENTHELLO_MAX_RECORDS records are needed.
 */
static void
test_captures_reframed(void **state)
{
	static const size_t	big[] = { 300, 511, 512, 513, 1000, 1500, 2047, 4096, 16384 };
	size_t			i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		struct clienthello whole, r;
		uint8_t *w, *hs, *re;
		size_t len, hslen, nrec, k;

		w = load(captures[i].file, &len);
		hs = xmalloc(len);
		hslen = handshake_of(w, len, hs, &nrec);
		re = xmalloc(hslen * 6);
		assert_int_equal(clienthello_parse(w, len, &whole), CLIENTHELLO_DONE);
		for (k = 0; k < 300 + sizeof(big) / sizeof(big[0]); k++) {
			size_t frag = k < 300 ? k + 1 : big[k - 300];
			size_t rlen = reframe(hs, hslen, frag, re);
			size_t records = (hslen + frag - 1) / frag;
			enum clienthello_status st = parse(re, rlen, &r);

			if (records <= CLIENTHELLO_MAX_RECORDS) {
				if (st != CLIENTHELLO_DONE)
					fail_msg("%s in records of %zu: %s (%s)", captures[i].file,
					    frag, clienthello_status_str(st), r.error);
				whole.wire_len = rlen;
				assert_same_result(&whole, &r);
			} else {
				expect_error(st, &r, TLS_ALERT_ILLEGAL_PARAMETER,
				    "ClientHello spans more than 64 records");
			}
		}
		free(re);
		free(hs);
		free(w);
	}
}

/* A valid prefix is NEED_MORE, whatever the framing. */
static void
test_captures_truncated_at_every_offset(void **state)
{
	static const size_t	frags[] = { 37, 64, 100, 255, 512, 16384 };
	size_t			i, f;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		uint8_t *w, *hs, *re;
		size_t len, hslen, nrec;

		w = load(captures[i].file, &len);
		hs = xmalloc(len);
		hslen = handshake_of(w, len, hs, &nrec);
		re = xmalloc(hslen * 6);
		for (f = 0; f < sizeof(frags) / sizeof(frags[0]); f++) {
			size_t rlen = reframe(hs, hslen, frags[f], re), n;
			struct clienthello r;

			for (n = 0; n < rlen; n++) {
				enum clienthello_status st = parse(re, n, &r);

				if (st != CLIENTHELLO_NEED_MORE)
					fail_msg("%s in records of %zu cut at %zu: %s (%s)",
					    captures[i].file, frags[f], n,
					    clienthello_status_str(st), r.error);
			}
			assert_int_equal(parse(re, rlen, &r), CLIENTHELLO_DONE);
		}
		free(re);
		free(hs);
		free(w);
	}
}

/* What follows the hello (a ChangeCipherSpec, early data, junk) is the backend's. */
static void
test_captures_bytes_after_hello_ignored(void **state)
{
	static const uint8_t	after[] = {
		0x14, 0x03, 0x03, 0x00, 0x01, 0x01,		/* ChangeCipherSpec */
		0x17, 0x03, 0x03, 0x00, 0x03, 'a', 'b', 'c',	/* application_data */
		'G', 'E', 'T', ' ', 0x00, 0xff,
	};
	size_t	i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		struct clienthello r;
		uint8_t *w, *more;
		size_t len, n;

		w = load(captures[i].file, &len);
		more = xmalloc(len + sizeof(after));
		memcpy(more, w, len);
		memcpy(more + len, after, sizeof(after));
		for (n = len; n <= len + sizeof(after); n++) {
			assert_int_equal(parse(more, n, &r), CLIENTHELLO_DONE);
			assert_capture_result(&captures[i], &r, len);
		}
		free(more);
		free(w);
	}
}

/*
 * Every extension length of every capture off by one, and the record,
 * handshake and extensions-block lengths: never DONE.
 */
static void
test_captures_length_off_by_one(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		uint8_t *w, *hs, *re;
		size_t len, hslen, nrec, rlen, p, end, nfields = 0;
		size_t at[64];

		w = load(captures[i].file, &len);
		hs = xmalloc(len);
		hslen = handshake_of(w, len, hs, &nrec);
		re = xmalloc(hslen + 5);
		rlen = reframe(hs, hslen, 16384, re);	/* one record: offsets are simple */
		/* Walk to the extensions: record 5, handshake 4, version 2, random 32. */
		p = 5 + 4 + 2 + 32;
		p += 1 + re[p];
		p += 2 + ((size_t)re[p] << 8 | re[p + 1]);
		p += 1 + re[p];
		at[nfields++] = p;	/* extensions block */
		end = p + 2 + ((size_t)re[p] << 8 | re[p + 1]);
		assert_int_equal(end, rlen);
		p += 2;
		while (p < end) {
			at[nfields++] = p + 2;
			p += 4 + ((size_t)re[p + 2] << 8 | re[p + 3]);
		}
		assert_int_equal(p, end);
		for (p = 0; p < nfields; p++) {
			int d;

			for (d = -1; d <= 1; d += 2) {
				struct clienthello r;
				size_t v = (size_t)re[at[p]] << 8 | re[at[p] + 1];
				enum clienthello_status st;

				v = (size_t)((long)v + d);
				re[at[p]] = (uint8_t)(v >> 8);
				re[at[p] + 1] = (uint8_t)v;
				st = parse(re, rlen, &r);
				if (st != CLIENTHELLO_ERROR || r.alert != TLS_ALERT_DECODE_ERROR)
					fail_msg("%s: length at %zu %+d: %s (%s)", captures[i].file,
					    at[p], d, clienthello_status_str(st), r.error);
				v = (size_t)((long)v - d);
				re[at[p]] = (uint8_t)(v >> 8);
				re[at[p] + 1] = (uint8_t)v;
			}
		}
		free(re);
		free(hs);
		free(w);
	}
}

/* ---- a builder for hellos with one thing wrong ---- */

enum field {
	F_RECORD, F_HANDSHAKE, F_SESSION_ID, F_CIPHERS, F_COMPRESSION,
	F_EXTENSIONS, F_EXT_SNI, F_SNI_LIST, F_SNI_NAME, F_EXT_ALPN, F_ALPN_LIST,
	F_ALPN_FIRST, F_ALPN_LAST, F_EXT_VERSIONS, F_VERSIONS, F_EXT_LAST,
	F_NONE, NFIELDS = F_NONE
};

#define HB_MAX	(CLIENTHELLO_MAX_WIRE + 1024)

struct hb {
	uint8_t	b[HB_MAX];
	size_t	n;
	size_t	at[NFIELDS];		/* offset of each length field */
	size_t	width[NFIELDS];
	size_t	open[16], open_w[16], nopen;
};

static void
hb_u8(struct hb *h, unsigned v)
{
	assert_true(h->n < HB_MAX);
	h->b[h->n++] = (uint8_t)v;
}

static void
hb_u16(struct hb *h, unsigned v)
{
	hb_u8(h, v >> 8);
	hb_u8(h, v & 0xff);
}

static void
hb_bytes(struct hb *h, const void *p, size_t n)
{
	assert_true(h->n + n <= HB_MAX);
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void
hb_fill(struct hb *h, unsigned v, size_t n)
{
	while (n-- > 0)
		hb_u8(h, v);
}

/* Start a length-prefixed structure; its length is written by hb_close. */
static void
hb_open(struct hb *h, enum field f, size_t width)
{
	if (f != F_NONE) {
		h->at[f] = h->n;
		h->width[f] = width;
	}
	h->open[h->nopen] = h->n;
	h->open_w[h->nopen++] = width;
	hb_fill(h, 0, width);
}

static void
hb_close(struct hb *h)
{
	size_t	at, w, len, i;

	assert_true(h->nopen > 0);
	at = h->open[--h->nopen];
	w = h->open_w[h->nopen];
	len = h->n - at - w;
	for (i = 0; i < w; i++)
		h->b[at + i] = (uint8_t)(len >> (8 * (w - 1 - i)));
}

/* Record header, handshake header and the fixed fields; leaves the extensions open. */
static void
hello_begin(struct hb *h)
{
	static const uint8_t	suites[] = { 0x13, 0x01, 0x13, 0x02, 0x13, 0x03 };

	memset(h, 0, sizeof(*h));
	hb_u8(h, 22);
	hb_u16(h, 0x0301);
	hb_open(h, F_RECORD, 2);
	hb_u8(h, 1);
	hb_open(h, F_HANDSHAKE, 3);
	hb_u16(h, 0x0303);
	hb_fill(h, 0x11, 32);			/* random */
	hb_open(h, F_SESSION_ID, 1);
	hb_fill(h, 0x22, 32);
	hb_close(h);
	hb_open(h, F_CIPHERS, 2);
	hb_bytes(h, suites, sizeof(suites));
	hb_close(h);
	hb_open(h, F_COMPRESSION, 1);
	hb_u8(h, 0);
	hb_close(h);
	hb_open(h, F_EXTENSIONS, 2);
}

/* Take back the extensions length hello_begin left open: the body ends after compression. */
static void
hello_drop_extensions(struct hb *h)
{
	h->n = h->open[--h->nopen];
}

static void
hello_end(struct hb *h)
{
	hb_close(h);	/* extensions */
	hb_close(h);	/* handshake */
	hb_close(h);	/* record */
	assert_int_equal(h->nopen, 0);
}

static void
ext_sni(struct hb *h, const char *name)
{
	hb_u16(h, 0);
	hb_open(h, F_EXT_SNI, 2);
	hb_open(h, F_SNI_LIST, 2);
	hb_u8(h, 0);
	hb_open(h, F_SNI_NAME, 2);
	hb_bytes(h, name, strlen(name));
	hb_close(h);
	hb_close(h);
	hb_close(h);
}

static void
ext_alpn_h2_http11(struct hb *h)
{
	hb_u16(h, 16);
	hb_open(h, F_EXT_ALPN, 2);
	hb_open(h, F_ALPN_LIST, 2);
	hb_open(h, F_ALPN_FIRST, 1);
	hb_bytes(h, "h2", 2);
	hb_close(h);
	hb_open(h, F_ALPN_LAST, 1);
	hb_bytes(h, "http/1.1", 8);
	hb_close(h);
	hb_close(h);
	hb_close(h);
}

static void
ext_versions(struct hb *h, const uint16_t *v, size_t n)
{
	size_t	i;

	hb_u16(h, 43);
	hb_open(h, F_EXT_VERSIONS, 2);
	hb_open(h, F_VERSIONS, 1);
	for (i = 0; i < n; i++)
		hb_u16(h, v[i]);
	hb_close(h);
	hb_close(h);
}

static void
ext_raw(struct hb *h, unsigned type, const void *data, size_t len)
{
	hb_u16(h, type);
	hb_u16(h, (unsigned)len);
	hb_bytes(h, data, len);
}

/* server_name, ALPN h2,http/1.1, supported_versions 1.3 1.2, supported_groups x25519. */
static void
hello_default(struct hb *h)
{
	static const uint16_t	v[] = { 0x0304, 0x0303 };

	hello_begin(h);
	ext_sni(h, "example.com");
	ext_alpn_h2_http11(h);
	ext_versions(h, v, 2);
	hb_u16(h, 10);
	hb_open(h, F_EXT_LAST, 2);
	hb_bytes(h, "\x00\x02\x00\x1d", 4);
	hb_close(h);
	hello_end(h);
}

static struct hb *
hb_new(void)
{
	return xmalloc(sizeof(struct hb));
}

static void
test_builder_default_is_valid(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;
	size_t			n;

	(void)state;
	hello_default(h);
	assert_int_equal(h->n, 143);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_true(r.has_sni);
	assert_string_equal(r.sni, "example.com");
	assert_int_equal(r.sni_len, 11);
	assert_int_equal(r.alpn_count, 2);
	assert_string_equal(r.alpn[0], "h2");
	assert_string_equal(r.alpn[1], "http/1.1");
	assert_int_equal(r.versions_count, 2);
	assert_int_equal(r.versions[0], 0x0304);
	assert_int_equal(r.versions[1], 0x0303);
	assert_false(r.ech);
	assert_false(r.sslv2);
	assert_int_equal(r.wire_len, 143);
	for (n = 0; n < h->n; n++)
		assert_int_equal(parse(h->b, n, &r), CLIENTHELLO_NEED_MORE);
	free(h);
}

struct off_by_one {
	enum field		f;
	int			delta;
	enum clienthello_status	st;
	uint8_t			alert;
	const char		*why;
};

#define DE	TLS_ALERT_DECODE_ERROR
#define UM	TLS_ALERT_UNEXPECTED_MESSAGE
#define E_REC_AFTER	"record continues after the ClientHello"
#define E_SNI_LEN	"server_name list length does not match the extension"
#define E_SNI_ENTRY	"server_name entry overruns the list"
#define E_ALPN_LEN	"ALPN list length does not match the extension"
#define E_ALPN_ENTRY	"ALPN protocol overruns the list"
#define E_SV_LEN	"supported_versions length does not match the extension"
#define E_EXT		"extension overruns the extensions block"
#define E_EXTS		"extensions length does not match the ClientHello"
#define E_CS_EVEN	"cipher_suites length is not an even number of at least 2"

/*
 * Each length field of the default hello one more and one less than right.
 * Why each answer: a longer handshake length makes the input a valid prefix
 * of a longer hello (NEED_MORE); one byte missing from the record makes the
 * hello's last byte (0x1d) read as the next record's type; a shorter session_id
 * makes its last 0x22 the high byte of the cipher_suites length; a longer
 * compression list swallows the extensions length's high byte; the others
 * are caught by the enclosing length.
 */
static const struct off_by_one off_by_one[] = {
	{ F_RECORD, +1, CLIENTHELLO_ERROR, UM, E_REC_AFTER },
	{ F_RECORD, -1, CLIENTHELLO_ERROR, UM,
	  "record carrying the ClientHello is not a handshake record" },
	{ F_HANDSHAKE, +1, CLIENTHELLO_NEED_MORE, 0, NULL },
	{ F_HANDSHAKE, -1, CLIENTHELLO_ERROR, UM, E_REC_AFTER },
	{ F_SESSION_ID, +1, CLIENTHELLO_ERROR, DE, "session_id is longer than 32 bytes" },
	{ F_SESSION_ID, -1, CLIENTHELLO_ERROR, DE, "cipher_suites overrun the ClientHello" },
	{ F_CIPHERS, +1, CLIENTHELLO_ERROR, DE, E_CS_EVEN },
	{ F_CIPHERS, -1, CLIENTHELLO_ERROR, DE, E_CS_EVEN },
	{ F_COMPRESSION, +1, CLIENTHELLO_ERROR, DE, E_EXTS },
	{ F_COMPRESSION, -1, CLIENTHELLO_ERROR, DE, "compression_methods is empty" },
	{ F_EXTENSIONS, +1, CLIENTHELLO_ERROR, DE, E_EXTS },
	{ F_EXTENSIONS, -1, CLIENTHELLO_ERROR, DE, E_EXTS },
	{ F_EXT_SNI, +1, CLIENTHELLO_ERROR, DE, E_SNI_LEN },
	{ F_EXT_SNI, -1, CLIENTHELLO_ERROR, DE, E_SNI_LEN },
	{ F_SNI_LIST, +1, CLIENTHELLO_ERROR, DE, E_SNI_LEN },
	{ F_SNI_LIST, -1, CLIENTHELLO_ERROR, DE, E_SNI_LEN },
	{ F_SNI_NAME, +1, CLIENTHELLO_ERROR, DE, E_SNI_ENTRY },
	{ F_SNI_NAME, -1, CLIENTHELLO_ERROR, DE, E_SNI_ENTRY },
	{ F_EXT_ALPN, +1, CLIENTHELLO_ERROR, DE, E_ALPN_LEN },
	{ F_EXT_ALPN, -1, CLIENTHELLO_ERROR, DE, E_ALPN_LEN },
	{ F_ALPN_LIST, +1, CLIENTHELLO_ERROR, DE, E_ALPN_LEN },
	{ F_ALPN_LIST, -1, CLIENTHELLO_ERROR, DE, E_ALPN_LEN },
	{ F_ALPN_FIRST, +1, CLIENTHELLO_ERROR, DE, E_ALPN_ENTRY },
	{ F_ALPN_FIRST, -1, CLIENTHELLO_ERROR, DE, E_ALPN_ENTRY },
	{ F_ALPN_LAST, +1, CLIENTHELLO_ERROR, DE, E_ALPN_ENTRY },
	{ F_ALPN_LAST, -1, CLIENTHELLO_ERROR, DE, E_ALPN_ENTRY },
	{ F_EXT_VERSIONS, +1, CLIENTHELLO_ERROR, DE, E_SV_LEN },
	{ F_EXT_VERSIONS, -1, CLIENTHELLO_ERROR, DE, E_SV_LEN },
	{ F_VERSIONS, +1, CLIENTHELLO_ERROR, DE, E_SV_LEN },
	{ F_VERSIONS, -1, CLIENTHELLO_ERROR, DE, E_SV_LEN },
	{ F_EXT_LAST, +1, CLIENTHELLO_ERROR, DE, E_EXT },
	{ F_EXT_LAST, -1, CLIENTHELLO_ERROR, DE, E_EXT },
};

static void
test_every_length_off_by_one(void **state)
{
	struct hb	*h = hb_new();
	bool		covered[NFIELDS][2] = { { false } };
	size_t		i, f;

	(void)state;
	for (i = 0; i < sizeof(off_by_one) / sizeof(off_by_one[0]); i++) {
		const struct off_by_one *t = &off_by_one[i];
		struct clienthello r;
		enum clienthello_status st;
		size_t at, w, v = 0, k;

		hello_default(h);
		at = h->at[t->f];
		w = h->width[t->f];
		for (k = 0; k < w; k++)
			v = v << 8 | h->b[at + k];
		v = (size_t)((long)v + t->delta);
		for (k = 0; k < w; k++)
			h->b[at + k] = (uint8_t)(v >> (8 * (w - 1 - k)));
		st = parse(h->b, h->n, &r);
		if (st != t->st || r.alert != t->alert ||
		    (t->why == NULL ? r.error != NULL : r.error == NULL || strcmp(r.error,
		    t->why) != 0))
			fail_msg("field %d %+d: %s alert %u (%s), want %s alert %u (%s)",
			    (int)t->f, t->delta, clienthello_status_str(st), r.alert,
			    r.error ? r.error : "-", clienthello_status_str(t->st), t->alert,
			    t->why ? t->why : "-");
		covered[t->f][t->delta > 0] = true;
	}
	for (f = 0; f < NFIELDS; f++) {
		assert_true(covered[f][0]);
		assert_true(covered[f][1]);
	}
	free(h);
}

static void
test_duplicate_extension(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;

	(void)state;
	hello_begin(h);
	ext_sni(h, "example.com");
	ext_raw(h, 0x1234, "ab", 2);
	ext_alpn_h2_http11(h);
	ext_raw(h, 0x1234, "", 0);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, "duplicate extension");

	hello_begin(h);
	ext_sni(h, "example.com");
	ext_sni(h, "example.com");
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, "duplicate extension");
	free(h);
}

/* GREASE types (RFC 8701) are opaque and skipped, even the same one twice. */
static void
test_grease_extensions_and_versions_ignored(void **state)
{
	static const uint16_t	v[] = { 0x1a1a, 0x0304, 0xfafa, 0x0303, 0x0a0a };
	struct hb		*h = hb_new();
	struct clienthello	r;

	(void)state;
	hello_begin(h);
	ext_raw(h, 0x0a0a, "", 0);
	ext_sni(h, "grease.example");
	ext_raw(h, 0x0a0a, "x", 1);
	ext_raw(h, 0xdada, "\x00", 1);
	ext_versions(h, v, 5);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_string_equal(r.sni, "grease.example");
	assert_int_equal(r.versions_count, 2);
	assert_int_equal(r.versions[0], 0x0304);
	assert_int_equal(r.versions[1], 0x0303);

	/* 0x0a1a and 0x1a0a look alike but are not GREASE: a duplicate counts. */
	hello_begin(h);
	ext_raw(h, 0x0a1a, "", 0);
	ext_raw(h, 0x0a1a, "", 0);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, "duplicate extension");
	free(h);
}

static void
test_ech_flag(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;

	(void)state;
	hello_begin(h);
	ext_sni(h, "public.example");
	ext_raw(h, 0xfe0d, "\x00\x00\x01\x00\x01\x05", 6);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_true(r.ech);
	assert_string_equal(r.sni, "public.example");

	hello_begin(h);
	ext_sni(h, "public.example");
	ext_raw(h, 0xfe0c, "", 0);	/* an older draft's code point is not ECH */
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_false(r.ech);
	free(h);
}

/* A server_name extension with the given entries: (type, name) pairs. */
static void
ext_sni_entries(struct hb *h, size_t n, const unsigned *types, const char *const *names)
{
	size_t	i;

	hb_u16(h, 0);
	hb_open(h, F_NONE, 2);
	hb_open(h, F_NONE, 2);
	for (i = 0; i < n; i++) {
		hb_u8(h, types[i]);
		hb_open(h, F_NONE, 2);
		hb_bytes(h, names[i], strlen(names[i]));
		hb_close(h);
	}
	hb_close(h);
	hb_close(h);
}

static void
test_sni_entries(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;

	(void)state;
	{	/* a second host_name */
		static const unsigned t[] = { 0, 0 };
		static const char *const n[] = { "a.example", "b.example" };

		hello_begin(h);
		ext_sni_entries(h, 2, t, n);
		hello_end(h);
		expect_error(parse(h->b, h->n, &r), &r, DE,
		    "server_name has two names of one type");
	}
	{	/* a second name of an unknown type */
		static const unsigned t[] = { 7, 0, 7 };
		static const char *const n[] = { "x", "a.example", "y" };

		hello_begin(h);
		ext_sni_entries(h, 3, t, n);
		hello_end(h);
		expect_error(parse(h->b, h->n, &r), &r, DE,
		    "server_name has two names of one type");
	}
	{	/* other types around the host_name are skipped */
		static const unsigned t[] = { 1, 0, 255 };
		static const char *const n[] = { "other", "a.example", "" };

		hello_begin(h);
		ext_sni_entries(h, 3, t, n);
		hello_end(h);
		assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
		assert_true(r.has_sni);
		assert_string_equal(r.sni, "a.example");
	}
	{	/* only a non-host_name type: DONE without SNI */
		static const unsigned t[] = { 1 };
		static const char *const n[] = { "not.a.host.name" };

		hello_begin(h);
		ext_sni_entries(h, 1, t, n);
		hello_end(h);
		assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
		assert_false(r.has_sni);
		assert_int_equal(r.sni_len, 0);
		assert_string_equal(r.sni, "");
	}
	{	/* zero-length host_name */
		static const unsigned t[] = { 0 };
		static const char *const n[] = { "" };

		hello_begin(h);
		ext_sni_entries(h, 1, t, n);
		hello_end(h);
		expect_error(parse(h->b, h->n, &r), &r, DE, "server_name host_name is empty");
	}
	/* an empty list, and an empty extension (what a server sends back) */
	hello_begin(h);
	ext_sni_entries(h, 0, NULL, NULL);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, "server_name list is empty");
	hello_begin(h);
	ext_raw(h, 0, "", 0);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, E_SNI_LEN);
	free(h);
}

static void
test_sni_length_limit(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;
	char			name[300];

	(void)state;
	memset(name, 'a', sizeof(name));
	name[255] = '\0';
	hello_begin(h);
	ext_sni(h, name);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.sni_len, 255);
	assert_int_equal(strlen(r.sni), 255);

	name[255] = 'a';
	name[256] = '\0';
	hello_begin(h);
	ext_sni(h, name);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE,
	    "server_name host_name is longer than 255 bytes");

	/* A NUL inside the name is kept as is; the hostname module refuses it. */
	hello_begin(h);
	hb_u16(h, 0);
	hb_u16(h, 8);
	hb_u16(h, 6);
	hb_u8(h, 0);
	hb_u16(h, 3);
	hb_bytes(h, "a\0b", 3);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.sni_len, 3);
	assert_memory_equal(r.sni, "a\0b", 4);
	free(h);
}

static void
ext_alpn_list(struct hb *h, size_t n, const char *const *names)
{
	size_t	i;

	hb_u16(h, 16);
	hb_open(h, F_NONE, 2);
	hb_open(h, F_NONE, 2);
	for (i = 0; i < n; i++) {
		hb_open(h, F_NONE, 1);
		hb_bytes(h, names[i], strlen(names[i]));
		hb_close(h);
	}
	hb_close(h);
	hb_close(h);
}

static void
test_alpn(void **state)
{
	static const char *const many[] = {
		"h2", "http/1.1", "a", "b", "c", "d", "e", "f", "ninth", "tenth",
	};
	struct hb		*h = hb_new();
	struct clienthello	r;
	char			longest[256];
	const char		*one[1];
	size_t			i;

	(void)state;
	hello_begin(h);
	ext_alpn_list(h, 10, many);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.alpn_count, 10);
	for (i = 0; i < CLIENTHELLO_MAX_ALPN; i++) {
		assert_string_equal(r.alpn[i], many[i]);
		assert_int_equal(r.alpn_len[i], strlen(many[i]));
	}

	memset(longest, 'p', 255);
	longest[255] = '\0';
	one[0] = longest;
	hello_begin(h);
	ext_alpn_list(h, 1, one);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.alpn_count, 1);
	assert_int_equal(r.alpn_len[0], 255);
	assert_string_equal(r.alpn[0], longest);

	one[0] = "";
	hello_begin(h);
	ext_alpn_list(h, 1, one);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, "ALPN protocol name is empty");

	hello_begin(h);
	ext_alpn_list(h, 0, NULL);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, "ALPN list is empty");
	free(h);
}

static void
test_supported_versions(void **state)
{
	uint16_t		v[127];
	struct hb		*h = hb_new();
	struct clienthello	r;
	size_t			i;

	(void)state;
	for (i = 0; i < 127; i++)
		v[i] = (uint16_t)(0x0300 + i);
	hello_begin(h);
	ext_versions(h, v, 127);	/* 254 bytes, the most there can be */
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.versions_count, CLIENTHELLO_MAX_VERSIONS);
	for (i = 0; i < CLIENTHELLO_MAX_VERSIONS; i++)
		assert_int_equal(r.versions[i], 0x0300 + i);

	hello_begin(h);
	ext_versions(h, v, 0);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE,
	    "supported_versions length is not an even number from 2 to 254");

	/* An odd length whose enclosing lengths agree. */
	hello_begin(h);
	ext_raw(h, 43, "\x03\x03\x04\x03", 4);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE,
	    "supported_versions length is not an even number from 2 to 254");

	/* Only GREASE: DONE, nothing listed. */
	hello_begin(h);
	ext_raw(h, 43, "\x02\x4a\x4a", 3);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.versions_count, 0);
	free(h);
}

static void
test_fixed_fields(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;
	size_t			n;

	(void)state;
	/* No extensions block at all (SSLv3/TLS 1.0 style): DONE, no SNI. */
	hello_begin(h);
	hello_drop_extensions(h);
	hb_close(h);
	hb_close(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
	assert_false(r.has_sni);
	assert_int_equal(r.wire_len, h->n);
	for (n = 0; n < h->n; n++)
		assert_int_equal(parse(h->b, n, &r), CLIENTHELLO_NEED_MORE);

	/* An empty extensions block. */
	hello_begin(h);
	hello_end(h);
	assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);

	/* One stray byte where the extensions length would be. */
	hello_begin(h);
	hello_drop_extensions(h);
	hb_u8(h, 0);
	hb_close(h);
	hb_close(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, E_EXTS);

	/* A compression list running past the end of a hello without extensions. */
	hello_begin(h);
	hello_drop_extensions(h);
	hb_close(h);
	hb_close(h);
	h->b[h->at[F_COMPRESSION]] = 2;
	expect_error(parse(h->b, h->n, &r), &r, DE, "compression_methods overrun the ClientHello");

	/* No cipher suite. */
	hello_begin(h);
	h->n = h->at[F_CIPHERS];
	h->nopen = 2;
	hb_u16(h, 0);
	hb_u8(h, 1);
	hb_u8(h, 0);
	hb_close(h);
	hb_close(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, E_CS_EVEN);

	/* Cut right after the random, and inside it. */
	for (n = 0; n <= 32; n += 16) {
		hello_begin(h);
		h->n = h->at[F_SESSION_ID] - n;
		h->nopen = 2;
		hb_close(h);
		hb_close(h);
		expect_error(parse(h->b, h->n, &r), &r, DE,
		    n == 0 ? "session_id overruns the ClientHello"
			   : "ClientHello too short for version and random");
	}
	/* An empty handshake body. */
	{
		static const uint8_t empty[] = { 22, 3, 1, 0, 4, 1, 0, 0, 0 };

		expect_error(parse(empty, sizeof(empty), &r), &r, DE,
		    "ClientHello too short for version and random");
	}
	free(h);
}

static void
test_record_layer(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;
	uint8_t			*re;
	size_t			rlen, n;

	(void)state;
	hello_default(h);
	re = xmalloc(h->n * 6);
	for (n = 0x0300; n <= 0x0304; n++) {
		h->b[1] = (uint8_t)(n >> 8);
		h->b[2] = (uint8_t)n;
		if (n >= 0x0301 && n <= 0x0303) {
			assert_int_equal(parse(h->b, h->n, &r), CLIENTHELLO_DONE);
		} else {
			expect_error(parse(h->b, h->n, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
			    "record version is not 0x0301-0x0303");
			/* Refused as soon as the bad byte is there. */
			expect_error(parse(h->b, 3, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
			    "record version is not 0x0301-0x0303");
		}
	}
	h->b[1] = 2;
	h->b[2] = 1;
	expect_error(parse(h->b, 2, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
	    "record version is not 0x0301-0x0303");

	/* A second record of another content type between the fragments. */
	hello_default(h);
	rlen = reframe(h->b + 5, h->n - 5, 50, re);
	re[55] = 23;
	expect_error(parse(re, rlen, &r), &r, UM,
	    "record carrying the ClientHello is not a handshake record");
	expect_error(parse(re, 56, &r), &r, UM,
	    "record carrying the ClientHello is not a handshake record");
	assert_int_equal(parse(re, 55, &r), CLIENTHELLO_NEED_MORE);
	/* ...and of a bad version there. */
	re[55] = 22;
	re[56] = 3;
	re[57] = 0;
	expect_error(parse(re, 58, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
	    "record version is not 0x0301-0x0303");

	/* A zero-length handshake record, first or between fragments. */
	{
		static const uint8_t zero[] = { 22, 3, 1, 0, 0 };

		expect_error(parse(zero, sizeof(zero), &r), &r, DE, "zero-length handshake record");
		assert_int_equal(parse(zero, 4, &r), CLIENTHELLO_NEED_MORE);
	}
	rlen = reframe(h->b + 5, h->n - 5, 50, re);
	memmove(re + 60, re + 55, rlen - 55);
	memcpy(re + 55, "\x16\x03\x03\x00\x00", 5);
	expect_error(parse(re, rlen + 5, &r), &r, DE, "zero-length handshake record");

	/* A record longer than 2^14. */
	{
		static const uint8_t big[] = { 22, 3, 1, 0x40, 0x01 };
		static const uint8_t max[] = { 22, 3, 1, 0x40, 0x00 };

		expect_error(parse(big, sizeof(big), &r), &r, TLS_ALERT_RECORD_OVERFLOW,
		    "record longer than 2^14 bytes");
		assert_int_equal(parse(max, sizeof(max), &r), CLIENTHELLO_NEED_MORE);
	}

	/* A handshake message other than client_hello, known at its first byte. */
	hello_default(h);
	h->b[5] = 2;
	expect_error(parse(h->b, 6, &r), &r, UM, "first handshake message is not a ClientHello");
	expect_error(parse(h->b, h->n, &r), &r, UM, "first handshake message is not a ClientHello");
	free(re);
	free(h);
}

/* Not a TLS handshake record: NOT_TLS at the first byte, without an alert. */
static void
test_not_tls(void **state)
{
	static const char *const inputs[] = {
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"\x15\x03\x01\x00\x02\x02\x28",		/* an alert record */
		"\x17\x03\x03\x00\x01x",			/* application_data */
		"\x14\x03\x03\x00\x01\x01",			/* ChangeCipherSpec first */
		"\x01",
	};
	struct clienthello	r;
	size_t			i, n;

	(void)state;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = strlen(inputs[i]);

		for (n = 1; n <= len; n++) {
			assert_int_equal(parse((const uint8_t *)inputs[i], n, &r),
			    CLIENTHELLO_NOT_TLS);
			assert_int_equal(r.alert, 0);
			assert_string_equal(r.error, "first byte is not a TLS handshake record");
		}
	}
	assert_int_equal(parse((const uint8_t *)"\0", 1, &r), CLIENTHELLO_NOT_TLS);
	assert_int_equal(parse(NULL, 0, &r), CLIENTHELLO_NEED_MORE);
	assert_int_equal(clienthello_parse(NULL, 0, &r), CLIENTHELLO_NEED_MORE);
	assert_null(r.error);
}

/* An SSLv2-compatible CLIENT-HELLO (RFC 5246 E.2) as old clients sent it. */
static void
test_sslv2_hello(void **state)
{
	uint8_t			v2[2 + 9 + 9 + 32];
	struct clienthello	r;
	size_t			n;

	(void)state;
	v2[0] = 0x80;
	v2[1] = sizeof(v2) - 2;
	memcpy(v2 + 2, "\x01\x03\x01\x00\x09\x00\x00\x00\x20", 9);
	memcpy(v2 + 11, "\x00\x00\x2f\x00\x00\x35\x00\x00\xff", 9);
	memset(v2 + 20, 0x5a, 32);
	assert_int_equal(parse(v2, 1, &r), CLIENTHELLO_NEED_MORE);
	assert_int_equal(parse(v2, 2, &r), CLIENTHELLO_NEED_MORE);
	for (n = 3; n <= sizeof(v2); n++) {
		assert_int_equal(parse(v2, n, &r), CLIENTHELLO_DONE);
		assert_true(r.sslv2);
		assert_false(r.has_sni);
		assert_int_equal(r.alpn_count, 0);
		assert_int_equal(r.wire_len, sizeof(v2));
		assert_null(r.error);
	}

	v2[2] = 4;	/* SERVER-HELLO */
	assert_int_equal(parse(v2, 3, &r), CLIENTHELLO_NOT_TLS);
	assert_string_equal(r.error, "SSLv2 record is not a CLIENT-HELLO");
	v2[2] = 1;
	v2[1] = 27;
	assert_int_equal(parse(v2, 2, &r), CLIENTHELLO_NOT_TLS);
	assert_string_equal(r.error, "SSLv2 record too short for a CLIENT-HELLO");
	v2[0] = 0xff;
	v2[1] = 0xff;
	assert_int_equal(parse(v2, 3, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.wire_len, 2 + 0x7fff);
}

/* The largest hello: a body of exactly CLIENTHELLO_MAX_HANDSHAKE bytes. */
static size_t
hello_largest(struct hb *h)
{
	static uint8_t	pad[CLIENTHELLO_MAX_HANDSHAKE];
	size_t		body;

	hello_begin(h);
	ext_sni(h, "example.com");
	hello_end(h);
	body = h->n - 9;
	hello_begin(h);
	ext_sni(h, "example.com");
	ext_raw(h, 21, pad, CLIENTHELLO_MAX_HANDSHAKE - body - 4);
	hello_end(h);
	return h->n - 5;
}

static void
test_oversize_hello(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;
	uint8_t			*re;
	size_t			hslen, rlen, i;

	(void)state;
	hslen = hello_largest(h);
	assert_int_equal(hslen, 4 + CLIENTHELLO_MAX_HANDSHAKE);
	/* 4 + 16384 bytes do not fit one record of at most 2^14... */
	expect_error(parse(h->b, 5, &r), &r, TLS_ALERT_RECORD_OVERFLOW,
	    "record longer than 2^14 bytes");
	/* ...but do fit two. */
	re = xmalloc(HB_MAX * 2);
	rlen = reframe(h->b + 5, hslen, 16384, re);
	assert_int_equal(rlen, hslen + 10);
	for (i = 0; i < rlen; i += 97)
		assert_int_equal(parse(re, i, &r), CLIENTHELLO_NEED_MORE);
	assert_int_equal(parse(re, rlen, &r), CLIENTHELLO_DONE);
	assert_string_equal(r.sni, "example.com");
	assert_int_equal(r.wire_len, rlen);

	/* In 64 records of 257 bytes it is exactly CLIENTHELLO_MAX_WIRE long. */
	rlen = reframe(h->b + 5, hslen, 257, re);
	assert_int_equal(rlen, CLIENTHELLO_MAX_WIRE);
	assert_int_equal(parse(re, rlen, &r), CLIENTHELLO_DONE);
	assert_int_equal(r.wire_len, CLIENTHELLO_MAX_WIRE);
	assert_string_equal(r.sni, "example.com");
	assert_int_equal(parse(re, rlen - 1, &r), CLIENTHELLO_NEED_MORE);

	/* In 65 records it is refused when the 64th ends. */
	rlen = reframe(h->b + 5, hslen, 256, re);
	expect_error(parse(re, rlen, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
	    "ClientHello spans more than 64 records");
	expect_error(parse(re, 64 * 261, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
	    "ClientHello spans more than 64 records");
	assert_int_equal(parse(re, 64 * 261 - 1, &r), CLIENTHELLO_NEED_MORE);

	/* One byte more than the most, known from the handshake header. */
	h->b[3] = 0x40;
	h->b[4] = 0x00;
	h->b[5 + 1] = 0;
	h->b[5 + 2] = 0x40;
	h->b[5 + 3] = 0x01;
	expect_error(parse(h->b, 9, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
	    "ClientHello longer than 16384 bytes");
	h->b[5 + 1] = 0xff;
	expect_error(parse(h->b, 9, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
	    "ClientHello longer than 16384 bytes");

	/* The handshake header itself split over records of one byte. */
	rlen = reframe(h->b + 5, 4, 1, re);
	for (i = 0; i < rlen; i++)
		assert_int_equal(parse(re, i, &r), CLIENTHELLO_NEED_MORE);
	expect_error(parse(re, rlen, &r), &r, TLS_ALERT_ILLEGAL_PARAMETER,
	    "ClientHello longer than 16384 bytes");
	free(re);
	free(h);
}

/*
 * CLIENTHELLO_MAX_WIRE is a promise to the caller: with that many bytes
 * there is an answer.  Slow-drip shapes that try to stay NEED_MORE longest.
 */
static void
test_max_wire_always_answers(void **state)
{
	static const size_t	frags[] = { 1, 2, 3, 100, 255, 256, 257, 16384 };
	struct hb		*h = hb_new();
	struct clienthello	r;
	uint8_t			*re;
	size_t			hslen, f;

	(void)state;
	hslen = hello_largest(h);
	re = xmalloc(HB_MAX * 8);
	for (f = 0; f < sizeof(frags) / sizeof(frags[0]); f++) {
		size_t rlen = reframe(h->b + 5, hslen, frags[f], re);
		size_t n = rlen < CLIENTHELLO_MAX_WIRE ? rlen : CLIENTHELLO_MAX_WIRE;

		assert_int_not_equal(parse(re, n, &r), CLIENTHELLO_NEED_MORE);
	}
	free(re);
	free(h);
}

static void
test_error_clears_result(void **state)
{
	struct hb		*h = hb_new();
	struct clienthello	r;

	(void)state;
	/* The SNI is read before the bad ALPN; on ERROR none of it remains. */
	hello_begin(h);
	ext_sni(h, "example.com");
	ext_raw(h, 16, "\x00\x00", 2);
	hello_end(h);
	expect_error(parse(h->b, h->n, &r), &r, DE, "ALPN list is empty");
	assert_int_equal(r.sni_len, 0);
	assert_string_equal(r.sni, "");
	free(h);
}

static void
test_status_str(void **state)
{
	(void)state;
	assert_string_equal(clienthello_status_str(CLIENTHELLO_NEED_MORE), "need_more");
	assert_string_equal(clienthello_status_str(CLIENTHELLO_DONE), "done");
	assert_string_equal(clienthello_status_str(CLIENTHELLO_ERROR), "error");
	assert_string_equal(clienthello_status_str(CLIENTHELLO_NOT_TLS), "not_tls");
	assert_string_equal(clienthello_status_str((enum clienthello_status)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_captures_parse_whole),
		cmocka_unit_test(test_capture_chromium_is_post_quantum),
		cmocka_unit_test(test_captures_one_byte_at_a_time),
		cmocka_unit_test(test_captures_reframed),
		cmocka_unit_test(test_captures_truncated_at_every_offset),
		cmocka_unit_test(test_captures_bytes_after_hello_ignored),
		cmocka_unit_test(test_captures_length_off_by_one),
		cmocka_unit_test(test_builder_default_is_valid),
		cmocka_unit_test(test_every_length_off_by_one),
		cmocka_unit_test(test_duplicate_extension),
		cmocka_unit_test(test_grease_extensions_and_versions_ignored),
		cmocka_unit_test(test_ech_flag),
		cmocka_unit_test(test_sni_entries),
		cmocka_unit_test(test_sni_length_limit),
		cmocka_unit_test(test_alpn),
		cmocka_unit_test(test_supported_versions),
		cmocka_unit_test(test_fixed_fields),
		cmocka_unit_test(test_record_layer),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_sslv2_hello),
		cmocka_unit_test(test_oversize_hello),
		cmocka_unit_test(test_max_wire_always_answers),
		cmocka_unit_test(test_error_clears_result),
		cmocka_unit_test(test_status_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
