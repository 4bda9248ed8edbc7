/*
 * hostname: the canonical form and validity of a DNS host name as it arrives
 * in an SNI or a Host header.  Pure, no allocation.
 */
#ifndef SNID_HOSTNAME_H
#define SNID_HOSTNAME_H

#include <stddef.h>

#define HOSTNAME_MAX	253	/* without the trailing dot */

/*
 * Canonicalise in[0..len) into out: lower case, one trailing dot removed.
 * Valid: labels of 1..63 characters from [a-z0-9-_], no empty label, at most
 * HOSTNAME_MAX characters, ASCII only, not an IPv4 or IPv6 literal.
 * Returns NULL when valid (out holds the NUL-terminated canonical name), or
 * a static string naming the reason it is not (out is then the empty string).
 */
const char	*hostname_canonicalize(const char *in, size_t len,
    char out[HOSTNAME_MAX + 1]);

#endif
