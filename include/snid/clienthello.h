/*
 * clienthello: an incremental, allocation-free parser of the first TLS
 * ClientHello a client sends.
 *
 * The caller feeds every byte received so far (from the start of the
 * connection) and gets one of four answers.  The parser keeps no state
 * between calls and never reads outside [buf, buf + len).  Host names and
 * ALPN values are copied into the caller's result, because a handshake
 * message may be fragmented over several TLS records (RFC 8446 5.1) and so
 * its fields are not contiguous in the input.
 */
#ifndef SNID_CLIENTHELLO_H
#define SNID_CLIENTHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TLS alert descriptions (RFC 8446 6.2) that snid sends. */
#define TLS_ALERT_UNEXPECTED_MESSAGE	10
#define TLS_ALERT_RECORD_OVERFLOW	22
#define TLS_ALERT_ILLEGAL_PARAMETER	47
#define TLS_ALERT_DECODE_ERROR		50
#define TLS_ALERT_INTERNAL_ERROR	80
#define TLS_ALERT_UNRECOGNIZED_NAME	112

/* Largest ClientHello handshake body accepted (the 4-byte handshake header excluded). */
#define CLIENTHELLO_MAX_HANDSHAKE	16384
/* Most TLS records a ClientHello may span; one still unfinished after this many is refused. */
#define CLIENTHELLO_MAX_RECORDS		64
/*
 * Largest number of bytes on the wire (record headers included) the caller
 * ever needs to buffer: once this many bytes have arrived the parser has
 * answered DONE or an error, never NEED_MORE.
 */
#define CLIENTHELLO_MAX_WIRE \
	(CLIENTHELLO_MAX_HANDSHAKE + 4 + 5 * CLIENTHELLO_MAX_RECORDS)

#define CLIENTHELLO_SNI_MAX		255	/* a host_name is at most 2^8-1 bytes here */
#define CLIENTHELLO_MAX_ALPN		8	/* ALPN entries kept; alpn_count counts all */
#define CLIENTHELLO_ALPN_MAX		255
#define CLIENTHELLO_MAX_VERSIONS	16

enum clienthello_status {
	CLIENTHELLO_NEED_MORE,	/* a valid prefix so far: feed more bytes */
	CLIENTHELLO_DONE,	/* a complete ClientHello: result filled */
	CLIENTHELLO_ERROR,	/* malformed: send result->alert, then close */
	CLIENTHELLO_NOT_TLS,	/* the first byte is not a TLS handshake record: close, no alert */
};

struct clienthello {
	uint8_t		alert;		/* on ERROR: TLS_ALERT_* to send */
	const char	*error;		/* on ERROR / NOT_TLS: static reason for logs */

	bool		sslv2;		/* SSLv2-compatible hello (never has SNI) */
	bool		has_sni;	/* a server_name entry of type host_name */
	size_t		sni_len;
	/* raw bytes, NUL-terminated; may hold NULs */
	char		sni[CLIENTHELLO_SNI_MAX + 1];

	size_t		alpn_count;	/* number of protocols offered */
	uint8_t		alpn_len[CLIENTHELLO_MAX_ALPN];
	char		alpn[CLIENTHELLO_MAX_ALPN][CLIENTHELLO_ALPN_MAX + 1];

	uint16_t	legacy_version;	/* ClientHello.legacy_version */
	/* supported_versions, GREASE removed; the first MAX_VERSIONS */
	size_t		versions_count;
	uint16_t	versions[CLIENTHELLO_MAX_VERSIONS];

	bool		ech;		/* encrypted_client_hello (0xfe0d) present */
	/*
	 * On DONE: bytes of buf the records carrying the hello span (the hello
	 * ends on a record boundary).  For SSLv2, 2 + the declared length,
	 * which may exceed len: three bytes decide an SSLv2 hello.
	 */
	size_t		wire_len;
};

/*
 * Parse buf[0..len).  Always fills *out (zeroed first).  Bytes after the
 * records that carry the hello are ignored; the caller forwards them.
 */
enum clienthello_status	clienthello_parse(const uint8_t *buf, size_t len,
    struct clienthello *out);

/* Short name of a status, for logs and tests. */
const char	*clienthello_status_str(enum clienthello_status st);

#endif
