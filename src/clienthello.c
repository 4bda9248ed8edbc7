/*
 * clienthello: an incremental, stateless parser of the first TLS ClientHello.
 *
 * Every call walks the record headers from the start of the buffer (at most
 * CLIENTHELLO_MAX_RECORDS of them), notes where each record's fragment of the
 * handshake message lies, and checks the record and handshake headers as
 * their bytes arrive.  The ClientHello body is parsed only once the whole
 * message is present, so the NEED_MORE answer given on every read costs a
 * walk over a few record headers, not a parse.
 *
 * The body is read through a cursor over the list of fragments, because a
 * handshake message may be split over several records (RFC 8446 5.1) and so
 * is not contiguous in the input.  Every structure is read through a reader
 * bounded by its enclosing length; a structure must end exactly where its
 * enclosing length says, else decode_error.
 *
 * Invariants the tests and the fuzzer hold us to: no read outside
 * [buf, buf + len); a prefix of an input that is DONE is NEED_MORE, never
 * ERROR; once DONE, ERROR or NOT_TLS, appending bytes changes nothing.
 */
#include "snid/clienthello.h"

#include <string.h>

#define TLS_RECORD_HEADER	5
#define TLS_RECORD_MAX		16384		/* 2^14, RFC 8446 5.1 */
#define TLS_CONTENT_HANDSHAKE	22
#define TLS_HANDSHAKE_HEADER	4
#define TLS_HS_CLIENT_HELLO	1
#define TLS_RANDOM_LEN		32
#define TLS_SESSION_ID_MAX	32

#define EXT_SERVER_NAME			0
#define EXT_ALPN			16
#define EXT_SUPPORTED_VERSIONS		43
#define EXT_ENCRYPTED_CLIENT_HELLO	0xfe0d

#define SNI_NAME_TYPE_HOST_NAME	0

/*
 * An SSLv2 CLIENT-HELLO (RFC 5246 E.2) is msg_type, version, three 2-byte
 * lengths, cipher specs (3 bytes each, at least one) and a challenge of 16
 * to 32 bytes: 9 + 3 + 16 bytes at the least.
 */
#define SSLV2_MSG_CLIENT_HELLO	1
#define SSLV2_HELLO_MIN		28

/* Where the handshake message lies in buf: one fragment per record. */
struct hs_msg {
	const uint8_t	*buf;
	size_t		 nfrag;
	size_t		 len;	/* message bytes present so far */
	size_t		 frag_off[CLIENTHELLO_MAX_RECORDS];	/* in buf */
	size_t		 frag_start[CLIENTHELLO_MAX_RECORDS];	/* in the message */
	size_t		 frag_len[CLIENTHELLO_MAX_RECORDS];
};

/* A view [pos, end) of the message, for one length-delimited structure. */
struct rd {
	const struct hs_msg	*m;
	size_t			 pos;
	size_t			 end;
};

static enum clienthello_status
ch_fail(struct clienthello *out, uint8_t alert, const char *why)
{
	/* On ERROR only alert and error mean something: drop half-filled fields. */
	memset(out, 0, sizeof(*out));
	out->alert = alert;
	out->error = why;
	return CLIENTHELLO_ERROR;
}

static enum clienthello_status
ch_not_tls(struct clienthello *out, const char *why)
{
	out->error = why;
	return CLIENTHELLO_NOT_TLS;
}

/* Copy n message bytes starting at pos; the caller has checked pos + n <= m->len. */
static void
msg_copy(const struct hs_msg *m, size_t pos, uint8_t *dst, size_t n)
{
	size_t	i = 0;

	/* At most CLIENTHELLO_MAX_RECORDS fragments; only fields are read, not skipped bytes. */
	while (n > 0) {
		size_t in, take;

		while (pos >= m->frag_start[i] + m->frag_len[i])
			i++;
		in = pos - m->frag_start[i];
		take = m->frag_len[i] - in;
		if (take > n)
			take = n;
		memcpy(dst, m->buf + m->frag_off[i] + in, take);
		dst += take;
		pos += take;
		n -= take;
	}
}

static size_t
rd_left(const struct rd *r)
{
	return r->end - r->pos;
}

static int
rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return 0;
	msg_copy(r->m, r->pos, v, 1);
	r->pos += 1;
	return 1;
}

static int
rd_u16(struct rd *r, uint16_t *v)
{
	uint8_t	b[2];

	if (rd_left(r) < 2)
		return 0;
	msg_copy(r->m, r->pos, b, 2);
	r->pos += 2;
	*v = (uint16_t)(b[0] << 8 | b[1]);
	return 1;
}

static int
rd_skip(struct rd *r, size_t n)
{
	if (rd_left(r) < n)
		return 0;
	r->pos += n;
	return 1;
}

/* Split off the next n bytes as their own reader. */
static int
rd_sub(struct rd *r, size_t n, struct rd *sub)
{
	if (rd_left(r) < n)
		return 0;
	sub->m = r->m;
	sub->pos = r->pos;
	sub->end = r->pos + n;
	r->pos += n;
	return 1;
}

/* A vector with a 1-byte length: opaque x<0..2^8-1>. */
static int
rd_vec8(struct rd *r, struct rd *sub)
{
	uint8_t	n;

	return rd_u8(r, &n) && rd_sub(r, n, sub);
}

/* A vector with a 2-byte length: opaque x<0..2^16-1>. */
static int
rd_vec16(struct rd *r, struct rd *sub)
{
	uint16_t	n;

	return rd_u16(r, &n) && rd_sub(r, n, sub);
}

/* RFC 8701: GREASE values are 0x?A?A with both bytes equal. */
static int
ch_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/*
 * server_name (RFC 6066 3): ServerNameList server_name_list<1..2^16-1>, each
 * entry a NameType and, for host_name, HostName<1..2^16-1>.  The list holds
 * at most one name of each type.  An empty extension is what a server sends
 * back, never a client, so here it is malformed.
 */
static enum clienthello_status
ext_server_name(struct rd *d, struct clienthello *out)
{
	uint8_t		seen[256 / 8] = { 0 };
	struct rd	list;

	if (!rd_vec16(d, &list) || rd_left(d) != 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "server_name list length does not match the extension");
	if (rd_left(&list) == 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR, "server_name list is empty");
	while (rd_left(&list) > 0) {
		struct rd name;
		uint8_t type;
		size_t n;

		if (!rd_u8(&list, &type) || !rd_vec16(&list, &name))
			return ch_fail(out, TLS_ALERT_DECODE_ERROR,
			    "server_name entry overruns the list");
		if (seen[type / 8] & (1u << (type % 8)))
			return ch_fail(out, TLS_ALERT_DECODE_ERROR,
			    "server_name has two names of one type");
		seen[type / 8] = (uint8_t)(seen[type / 8] | (1u << (type % 8)));
		if (type != SNI_NAME_TYPE_HOST_NAME)
			continue;	/* unknown name types are skipped, as RFC 6066 allows */
		n = rd_left(&name);
		if (n == 0)
			return ch_fail(out, TLS_ALERT_DECODE_ERROR,
			    "server_name host_name is empty");
		if (n > CLIENTHELLO_SNI_MAX)
			return ch_fail(out, TLS_ALERT_DECODE_ERROR,
			    "server_name host_name is longer than 255 bytes");
		msg_copy(name.m, name.pos, (uint8_t *)out->sni, n);
		out->sni[n] = '\0';
		out->sni_len = n;
		out->has_sni = true;
	}
	return CLIENTHELLO_DONE;
}

/* application_layer_protocol_negotiation (RFC 7301 3.1): ProtocolName<1..2^8-1> list<2..2^16-1>. */
static enum clienthello_status
ext_alpn(struct rd *d, struct clienthello *out)
{
	struct rd	list;

	if (!rd_vec16(d, &list) || rd_left(d) != 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "ALPN list length does not match the extension");
	if (rd_left(&list) == 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR, "ALPN list is empty");
	while (rd_left(&list) > 0) {
		struct rd name;
		size_t n;

		if (!rd_vec8(&list, &name))
			return ch_fail(out, TLS_ALERT_DECODE_ERROR,
			    "ALPN protocol overruns the list");
		n = rd_left(&name);
		if (n == 0)
			return ch_fail(out, TLS_ALERT_DECODE_ERROR, "ALPN protocol name is empty");
		if (out->alpn_count < CLIENTHELLO_MAX_ALPN) {
			msg_copy(name.m, name.pos, (uint8_t *)out->alpn[out->alpn_count], n);
			out->alpn[out->alpn_count][n] = '\0';
			out->alpn_len[out->alpn_count] = (uint8_t)n;
		}
		out->alpn_count++;
	}
	return CLIENTHELLO_DONE;
}

/* supported_versions (RFC 8446 4.2.1): ProtocolVersion versions<2..254>. */
static enum clienthello_status
ext_supported_versions(struct rd *d, struct clienthello *out)
{
	struct rd	list;

	if (!rd_vec8(d, &list) || rd_left(d) != 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "supported_versions length does not match the extension");
	if (rd_left(&list) < 2 || rd_left(&list) % 2 != 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "supported_versions length is not an even number from 2 to 254");
	while (rd_left(&list) > 0) {
		uint16_t v = 0;

		(void)rd_u16(&list, &v);	/* cannot fail: the length is even */
		if (ch_is_grease(v))
			continue;
		if (out->versions_count < CLIENTHELLO_MAX_VERSIONS)
			out->versions[out->versions_count++] = v;
	}
	return CLIENTHELLO_DONE;
}

/*
 * Extensions, in any order.  RFC 8446 4.2 allows one extension of each
 * type; a duplicate is refused, except GREASE types, which are opaque and
 * skipped like any unknown type and not counted as duplicates (BoringSSL
 * picks two different ones, but nothing is routed on them).
 */
static enum clienthello_status
ch_extensions(struct rd *exts, struct clienthello *out)
{
	uint64_t	seen[65536 / 64];

	memset(seen, 0, sizeof(seen));
	while (rd_left(exts) > 0) {
		enum clienthello_status st = CLIENTHELLO_DONE;
		uint16_t type;
		struct rd d;

		if (!rd_u16(exts, &type) || !rd_vec16(exts, &d))
			return ch_fail(out, TLS_ALERT_DECODE_ERROR,
			    "extension overruns the extensions block");
		if (ch_is_grease(type))
			continue;
		if (seen[type / 64] & ((uint64_t)1 << (type % 64)))
			return ch_fail(out, TLS_ALERT_DECODE_ERROR, "duplicate extension");
		seen[type / 64] |= (uint64_t)1 << (type % 64);
		switch (type) {
		case EXT_SERVER_NAME:
			st = ext_server_name(&d, out);
			break;
		case EXT_ALPN:
			st = ext_alpn(&d, out);
			break;
		case EXT_SUPPORTED_VERSIONS:
			st = ext_supported_versions(&d, out);
			break;
		case EXT_ENCRYPTED_CLIENT_HELLO:
			out->ech = true;	/* its payload is for the backend, not for us */
			break;
		default:
			break;
		}
		if (st != CLIENTHELLO_DONE)
			return st;
	}
	return CLIENTHELLO_DONE;
}

/* ClientHello (RFC 8446 4.1.2; RFC 5246 7.4.1.2 for the optional extensions). */
static enum clienthello_status
ch_body(struct rd *b, struct clienthello *out)
{
	struct rd	v, exts;

	if (!rd_u16(b, &out->legacy_version) || !rd_skip(b, TLS_RANDOM_LEN))
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "ClientHello too short for version and random");
	if (!rd_vec8(b, &v))
		return ch_fail(out, TLS_ALERT_DECODE_ERROR, "session_id overruns the ClientHello");
	if (rd_left(&v) > TLS_SESSION_ID_MAX)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR, "session_id is longer than 32 bytes");
	if (!rd_vec16(b, &v))
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "cipher_suites overrun the ClientHello");
	if (rd_left(&v) < 2 || rd_left(&v) % 2 != 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "cipher_suites length is not an even number of at least 2");
	if (!rd_vec8(b, &v))
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "compression_methods overrun the ClientHello");
	if (rd_left(&v) < 1)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR, "compression_methods is empty");
	/* Before TLS 1.2's extensions became universal the block could be absent. */
	if (rd_left(b) == 0)
		return CLIENTHELLO_DONE;
	if (!rd_vec16(b, &exts) || rd_left(b) != 0)
		return ch_fail(out, TLS_ALERT_DECODE_ERROR,
		    "extensions length does not match the ClientHello");
	return ch_extensions(&exts, out);
}

/*
 * An SSLv2-compatible CLIENT-HELLO (RFC 5246 E.2): a 2-byte header with the
 * high bit set and a 15-bit length, then msg_type 1.  It cannot carry
 * extensions, so it is a hello without SNI; three bytes decide.  Anything
 * else with the high bit set is not TLS, and a TLS alert would mean nothing
 * to an SSLv2 peer, so it is NOT_TLS rather than ERROR.
 */
static enum clienthello_status
ch_sslv2(const uint8_t *buf, size_t len, struct clienthello *out)
{
	size_t	mlen;

	if (len < 2)
		return CLIENTHELLO_NEED_MORE;
	mlen = (size_t)(buf[0] & 0x7f) << 8 | buf[1];
	if (mlen < SSLV2_HELLO_MIN)
		return ch_not_tls(out, "SSLv2 record too short for a CLIENT-HELLO");
	if (len < 3)
		return CLIENTHELLO_NEED_MORE;
	if (buf[2] != SSLV2_MSG_CLIENT_HELLO)
		return ch_not_tls(out, "SSLv2 record is not a CLIENT-HELLO");
	out->sslv2 = true;
	out->wire_len = 2 + mlen;
	return CLIENTHELLO_DONE;
}

/*
 * The record header at buf, have bytes of it (and of what follows) here.
 * Each header byte is checked as soon as it is here, so that an error is
 * found on the shortest prefix that shows it.  RFC 8446 5.1 forbids other
 * record types between the fragments of a handshake message;
 * legacy_record_version is 0x0301 in the first hello of most clients and
 * 0x0303 in later records.  Returns true with the record's length in *rlen,
 * or false with the answer in *st.
 */
static bool
ch_record_header(const uint8_t *buf, size_t have, struct clienthello *out,
    size_t *rlen, enum clienthello_status *st)
{
	if (have >= 1 && buf[0] != TLS_CONTENT_HANDSHAKE) {
		*st = ch_fail(out, TLS_ALERT_UNEXPECTED_MESSAGE,
		    "record carrying the ClientHello is not a handshake record");
		return false;
	}
	if ((have >= 2 && buf[1] != 3) ||
	    (have >= 3 && (buf[2] < 1 || buf[2] > 3))) {
		*st = ch_fail(out, TLS_ALERT_ILLEGAL_PARAMETER,
		    "record version is not 0x0301-0x0303");
		return false;
	}
	if (have < TLS_RECORD_HEADER) {
		*st = CLIENTHELLO_NEED_MORE;
		return false;
	}
	*rlen = (size_t)buf[3] << 8 | buf[4];
	/* RFC 8446 5.1: no zero-length handshake fragments. */
	if (*rlen == 0) {
		*st = ch_fail(out, TLS_ALERT_DECODE_ERROR, "zero-length handshake record");
		return false;
	}
	if (*rlen > TLS_RECORD_MAX) {
		*st = ch_fail(out, TLS_ALERT_RECORD_OVERFLOW, "record longer than 2^14 bytes");
		return false;
	}
	return true;
}

/*
 * After each fragment: the message must be a ClientHello of at most 16384
 * bytes.  *need (0: not known yet) is set to its whole length once its
 * handshake header is here.  Returns true, or false with the answer in *st.
 */
static bool
ch_msg_head(const struct hs_msg *m, size_t *need, struct clienthello *out,
    enum clienthello_status *st)
{
	if (m->len >= 1 && m->buf[m->frag_off[0]] != TLS_HS_CLIENT_HELLO) {
		*st = ch_fail(out, TLS_ALERT_UNEXPECTED_MESSAGE,
		    "first handshake message is not a ClientHello");
		return false;
	}
	if (*need == 0 && m->len >= TLS_HANDSHAKE_HEADER) {
		uint8_t	h[TLS_HANDSHAKE_HEADER];
		size_t	body;

		msg_copy(m, 0, h, sizeof(h));
		body = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
		if (body > CLIENTHELLO_MAX_HANDSHAKE) {
			*st = ch_fail(out, TLS_ALERT_ILLEGAL_PARAMETER,
			    "ClientHello longer than 16384 bytes");
			return false;
		}
		*need = TLS_HANDSHAKE_HEADER + body;
	}
	return true;
}

/* Add the avail bytes at buf offset off as the next fragment; returns its index. */
static size_t
ch_add_fragment(struct hs_msg *m, size_t off, size_t avail)
{
	size_t	i = m->nfrag++;

	m->frag_off[i] = off;
	m->frag_start[i] = m->len;
	m->frag_len[i] = avail;
	m->len += avail;
	return i;
}

enum clienthello_status
clienthello_parse(const uint8_t *buf, size_t len, struct clienthello *out)
{
	struct hs_msg		m;
	enum clienthello_status	st;
	size_t			off = 0, need = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return CLIENTHELLO_NEED_MORE;
	if (buf[0] & 0x80)
		return ch_sslv2(buf, len, out);
	if (buf[0] != TLS_CONTENT_HANDSHAKE)
		return ch_not_tls(out, "first byte is not a TLS handshake record");

	m.buf = buf;
	m.nfrag = 0;
	m.len = 0;
	for (;;) {
		size_t have = len - off, rlen, avail, i;

		if (!ch_record_header(buf + off, have, out, &rlen, &st))
			return st;
		avail = have - TLS_RECORD_HEADER;
		if (avail > rlen)
			avail = rlen;
		i = ch_add_fragment(&m, off + TLS_RECORD_HEADER, avail);
		if (!ch_msg_head(&m, &need, out, &st))
			return st;
		/*
		 * RFC 8446 5.1: a ClientHello may immediately precede a key change
		 * (0-RTT), so it must end on a record boundary.  No client of any
		 * version puts anything after it in the same record; refusing that
		 * here means DONE always covers whole records.
		 */
		if (need != 0 && m.frag_start[i] + rlen > need)
			return ch_fail(out, TLS_ALERT_UNEXPECTED_MESSAGE,
			    "record continues after the ClientHello");
		if (need != 0 && m.len == need) {
			struct rd b = { &m, TLS_HANDSHAKE_HEADER, need };

			st = ch_body(&b, out);
			if (st == CLIENTHELLO_DONE)
				out->wire_len = off + TLS_RECORD_HEADER + rlen;
			return st;
		}
		if (avail < rlen)
			return CLIENTHELLO_NEED_MORE;
		off += TLS_RECORD_HEADER + rlen;
		/*
		 * The bound that keeps CLIENTHELLO_MAX_WIRE true: a message of at
		 * most 4 + 16384 bytes in at most 64 records fills at most
		 * 16388 + 64 * 5 wire bytes, and a message still unfinished after
		 * 64 whole records is refused right there.
		 */
		if (m.nfrag == CLIENTHELLO_MAX_RECORDS)
			return ch_fail(out, TLS_ALERT_ILLEGAL_PARAMETER,
			    "ClientHello spans more than 64 records");
	}
}

const char *
clienthello_status_str(enum clienthello_status st)
{
	switch (st) {
	case CLIENTHELLO_NEED_MORE:
		return "need_more";
	case CLIENTHELLO_DONE:
		return "done";
	case CLIENTHELLO_ERROR:
		return "error";
	case CLIENTHELLO_NOT_TLS:
		return "not_tls";
	}
	return "unknown";
}
