/*
 * diagnose_hello: the pure half of -diagnose (diagnose.h): the probe
 * ClientHello, the judgement of a backend's first bytes, and what counts
 * as a NATed host's address.
 *
 * The probe is as big as a post-quantum browser's (Chromium's with
 * X25519MLKEM768 is about 1.8 KiB, tests/data/clienthello): more than one
 * packet on a 1280 or 1500 byte link, so a tunnel that loses big packets
 * without a word (an MTU blackhole) lets the connect through but never
 * answers the hello.  Its ML-KEM key is well formed (every coefficient
 * below q), so a server that speaks X25519MLKEM768 answers as to a real
 * client; one that does not picks the X25519 share.
 */
#include "snid/diagnose.h"

#include <string.h>

#include "snid/hostname.h"

#define MLKEM768_EK	1184	/* 3 * 384 bytes of coefficients + rho */
#define MLKEM_Q		3329
#define X25519_KEY	32
#define GROUP_X25519MLKEM768	0x11ec
#define GROUP_X25519	0x001d

struct hb {
	uint8_t	*p;
	size_t	 len, cap;
	bool	 over;
};

static uint64_t
diagnose_next(uint64_t *s)
{
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
hb_bytes(struct hb *b, const void *v, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, v, n);
	b->len += n;
}

static void
hb_u8(struct hb *b, unsigned v)
{
	uint8_t	c = (uint8_t)v;

	hb_bytes(b, &c, 1);
}

static void
hb_u16(struct hb *b, size_t v)
{
	hb_u8(b, (unsigned)(v >> 8) & 0xff);
	hb_u8(b, (unsigned)v & 0xff);
}

static void
hb_random(struct hb *b, size_t n, uint64_t *rng)
{
	while (n-- > 0)
		hb_u8(b, (unsigned)(diagnose_next(rng) & 0xff));
}

/* Fill in a 16-bit length at off, for what was written after it. */
static void
hb_patch16(struct hb *b, size_t off)
{
	size_t	n = b->len - off - 2;

	if (b->over)
		return;
	b->p[off] = (uint8_t)(n >> 8);
	b->p[off + 1] = (uint8_t)n;
}

/* An ML-KEM-768 encapsulation key: 768 coefficients < q, 12 bits each, rho. */
static void
hb_mlkem_key(struct hb *b, uint64_t *rng)
{
	unsigned	c0, c1;
	size_t		i;

	for (i = 0; i < 768 / 2; i++) {
		c0 = (unsigned)(diagnose_next(rng) % MLKEM_Q);
		c1 = (unsigned)(diagnose_next(rng) % MLKEM_Q);
		hb_u8(b, c0 & 0xff);
		hb_u8(b, (c0 >> 8) | ((c1 & 0x0f) << 4));
		hb_u8(b, c1 >> 4);
	}
	hb_random(b, 32, rng);
}

static void
hb_ext_sni(struct hb *b, const char *sni, size_t n)
{
	hb_u16(b, 0);			/* server_name */
	hb_u16(b, n + 5);
	hb_u16(b, n + 3);
	hb_u8(b, 0);			/* host_name */
	hb_u16(b, n);
	hb_bytes(b, sni, n);
}

/* The extensions that say little: groups, signatures, ALPN, versions. */
static void
hb_ext_common(struct hb *b)
{
	static const uint8_t	fixed[] = {
		0x00, 0x0a, 0x00, 0x0a, 0x00, 0x08,	/* supported_groups */
		0x11, 0xec, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
		0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,	/* ec_point_formats */
		0x00, 0x0d, 0x00, 0x12, 0x00, 0x10,	/* signature_algorithms */
		0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03,
		0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01,
		0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c,	/* ALPN h2, http/1.1 */
		0x02, 'h', '2', 0x08, 'h', 't', 't', 'p', '/', '1', '.', '1',
		0x00, 0x17, 0x00, 0x00,			/* extended_master_secret */
		0x00, 0x2b, 0x00, 0x05, 0x04,		/* supported_versions */
		0x03, 0x04, 0x03, 0x03,
		0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,	/* psk_key_exchange_modes */
	};

	hb_bytes(b, fixed, sizeof(fixed));
}

static void
hb_ext_key_share(struct hb *b, uint64_t *rng)
{
	size_t	at;

	hb_u16(b, 51);			/* key_share */
	at = b->len;
	hb_u16(b, 0);
	hb_u16(b, 2 + 2 + MLKEM768_EK + X25519_KEY + 2 + 2 + X25519_KEY);
	hb_u16(b, GROUP_X25519MLKEM768);
	hb_u16(b, MLKEM768_EK + X25519_KEY);
	hb_mlkem_key(b, rng);
	hb_random(b, X25519_KEY, rng);
	hb_u16(b, GROUP_X25519);
	hb_u16(b, X25519_KEY);
	hb_random(b, X25519_KEY, rng);
	hb_patch16(b, at);
}

/* The padding extension (RFC 7685) that makes the record `want` bytes. */
static void
hb_ext_padding(struct hb *b, size_t want)
{
	size_t	n;

	if (b->over || b->len + 4 > want)
		return;
	n = want - b->len - 4;
	hb_u16(b, 21);
	hb_u16(b, n);
	while (n-- > 0)
		hb_u8(b, 0);
}

size_t
diagnose_hello_build(const char *sni, uint64_t *rng, uint8_t *out, size_t cap)
{
	static const uint8_t	suites[] = {
		0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f,
		0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8,
	};
	struct hb		b = { out, 0, cap, false };
	size_t			n = strlen(sni), hs, ext;

	if (cap < DIAGNOSE_HELLO_SIZE || n > HOSTNAME_MAX)
		return 0;
	hb_bytes(&b, "\x16\x03\x01\x00\x00", 5);	/* record, length later */
	hb_bytes(&b, "\x01\x00\x00\x00", 4);		/* ClientHello */
	hs = b.len;
	hb_u16(&b, 0x0303);
	hb_random(&b, 32, rng);
	hb_u8(&b, 32);					/* legacy_session_id */
	hb_random(&b, 32, rng);
	hb_u16(&b, sizeof(suites));
	hb_bytes(&b, suites, sizeof(suites));
	hb_bytes(&b, "\x01\x00", 2);			/* null compression */
	ext = b.len;
	hb_u16(&b, 0);
	hb_ext_sni(&b, sni, n);
	hb_ext_common(&b);
	hb_ext_key_share(&b, rng);
	hb_ext_padding(&b, DIAGNOSE_HELLO_SIZE);
	if (b.over)
		return 0;
	hb_patch16(&b, ext);
	out[3] = (uint8_t)((b.len - 5) >> 8);
	out[4] = (uint8_t)(b.len - 5);
	out[hs - 2] = (uint8_t)((b.len - hs) >> 8);
	out[hs - 1] = (uint8_t)(b.len - hs);
	return b.len;
}

enum diagnose_reply
diagnose_reply_parse(const uint8_t *buf, size_t len, uint8_t *alert)
{
	*alert = 0;
	if (len < 1)
		return DIAGNOSE_REPLY_MORE;
	if (buf[0] != 22 && buf[0] != 21)
		return DIAGNOSE_REPLY_OTHER;
	if (len >= 2 && buf[1] != 3)
		return DIAGNOSE_REPLY_OTHER;
	if (buf[0] == 22) {
		if (len < 6)
			return DIAGNOSE_REPLY_MORE;
		return buf[5] == 2 ? DIAGNOSE_REPLY_SERVER_HELLO :
		    DIAGNOSE_REPLY_OTHER;
	}
	if (len < 7)
		return DIAGNOSE_REPLY_MORE;
	*alert = buf[6];
	return DIAGNOSE_REPLY_ALERT;
}

const char *
diagnose_alert_name(uint8_t desc)
{
	static const struct {
		uint8_t		 desc;
		const char	*name;
	} names[] = {
		{ 0, "close_notify" }, { 10, "unexpected_message" },
		{ 20, "bad_record_mac" }, { 22, "record_overflow" },
		{ 40, "handshake_failure" }, { 42, "bad_certificate" },
		{ 47, "illegal_parameter" }, { 50, "decode_error" },
		{ 51, "decrypt_error" }, { 70, "protocol_version" },
		{ 71, "insufficient_security" }, { 80, "internal_error" },
		{ 86, "inappropriate_fallback" }, { 109, "missing_extension" },
		{ 110, "unsupported_extension" }, { 112, "unrecognized_name" },
		{ 120, "no_application_protocol" },
	};
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].desc == desc)
			return names[i].name;
	return "?";
}

bool
diagnose_ipv4_private(uint32_t a)
{
	const uint8_t	*b = (const uint8_t *)&a;

	return b[0] == 10 || b[0] == 127 ||
	    (b[0] == 172 && (b[1] & 0xf0) == 16) ||
	    (b[0] == 192 && b[1] == 168) ||
	    (b[0] == 100 && (b[1] & 0xc0) == 64) ||
	    (b[0] == 169 && b[1] == 254);
}
