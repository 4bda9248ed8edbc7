/*
 * portset: ports and ranges, sorted and merged on every insertion so that
 * the canonical text (what -check prints) says the same set however it was
 * written, and so that a set never holds more ranges than it needs.
 */
#include "snid/portset.h"

#include <stdio.h>
#include <string.h>

void
portset_clear(struct portset *ps)
{
	ps->n = 0;
}

/* Insert [lo, hi] and merge it with its neighbours (touching ones too). */
static int
portset_insert(struct portset *ps, uint16_t lo, uint16_t hi)
{
	size_t	i, j;

	for (i = 0; i < ps->n && (uint32_t)ps->r[i].hi + 1 < lo; i++)
		;
	/* r[i] is the first range that ends at or after lo - 1. */
	if (i < ps->n && ps->r[i].lo <= (uint32_t)hi + 1) {
		if (lo < ps->r[i].lo)
			ps->r[i].lo = lo;
		if (hi > ps->r[i].hi)
			ps->r[i].hi = hi;
		/* Swallow the ranges the grown one now reaches. */
		for (j = i + 1; j < ps->n &&
		    ps->r[j].lo <= (uint32_t)ps->r[i].hi + 1; j++)
			if (ps->r[j].hi > ps->r[i].hi)
				ps->r[i].hi = ps->r[j].hi;
		memmove(&ps->r[i + 1], &ps->r[j],
		    (ps->n - j) * sizeof(ps->r[0]));
		ps->n -= j - (i + 1);
		return 0;
	}
	if (ps->n == PORTSET_MAX)
		return -1;
	memmove(&ps->r[i + 1], &ps->r[i], (ps->n - i) * sizeof(ps->r[0]));
	ps->r[i].lo = lo;
	ps->r[i].hi = hi;
	ps->n++;
	return 0;
}

int
portset_add(struct portset *ps, uint16_t port)
{
	if (port == 0)
		return 0;
	return portset_insert(ps, port, port);
}

/*
 * One port number, all of p[0..len): 1..65535, digits only, no leading
 * zero (a reader could take "0443" for octal).
 */
static int
portset_number(const char *p, size_t len, uint16_t *out)
{
	unsigned long	v = 0;
	size_t		i;

	if (len == 0 || len > 5 || p[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* One element, "PORT" or "LO-HI", blanks around it already trimmed. */
static int
portset_element(struct portset *ps, const char *p, size_t len, char *err,
    size_t errlen)
{
	const char	*dash = memchr(p, '-', len);
	uint16_t	lo, hi;
	int		n = len > 64 ? 64 : (int)len;

	if (len == 0) {
		snprintf(err, errlen, "empty element (two commas?)");
		return -1;
	}
	if (dash == NULL) {
		if (portset_number(p, len, &lo) == -1)
			goto bad;
		hi = lo;
	} else if (portset_number(p, (size_t)(dash - p), &lo) == -1 ||
	    portset_number(dash + 1, len - (size_t)(dash - p) - 1, &hi) == -1) {
		goto bad;
	} else if (hi < lo) {
		snprintf(err, errlen, "%.*s: range ends before it starts", n, p);
		return -1;
	}
	if (portset_insert(ps, lo, hi) == -1) {
		snprintf(err, errlen, "more than %d separate ranges", PORTSET_MAX);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "%.*s: not a port (1-65535) or a range LO-HI",
	    n, p);
	return -1;
}

int
portset_parse(struct portset *ps, const char *s, char *err, size_t errlen)
{
	struct portset	next = *ps;
	const char	*p = s, *end;
	size_t		len;

	for (;;) {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (portset_element(&next, p, len, err, errlen) == -1)
			return -1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	*ps = next;
	return 0;
}

bool
portset_contains(const struct portset *ps, uint16_t port)
{
	size_t	i;

	for (i = 0; i < ps->n && ps->r[i].lo <= port; i++)
		if (port <= ps->r[i].hi)
			return true;
	return false;
}

void
portset_format(const struct portset *ps, char *buf, size_t len)
{
	size_t	i, at = 0;
	int	n;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < ps->n && at < len; i++) {
		if (ps->r[i].lo == ps->r[i].hi)
			n = snprintf(buf + at, len - at, "%s%u", i ? "," : "",
			    ps->r[i].lo);
		else
			n = snprintf(buf + at, len - at, "%s%u-%u",
			    i ? "," : "", ps->r[i].lo, ps->r[i].hi);
		if (n < 0)
			break;
		at += (size_t)n;
	}
}
