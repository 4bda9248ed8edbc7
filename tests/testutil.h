/*
 * testutil: helpers shared by the parser tests (included after cmocka.h).
 * Header-only and static: each test program is one translation unit.
 */
#ifndef SNID_TESTUTIL_H
#define SNID_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* malloc that fails the test instead of returning NULL; 0 bytes is fine. */
static inline void *
xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	assert_non_null(p);
	return p;
}

/* The whole file at path (relative to the repository root), heap-allocated. */
static inline uint8_t *
load_path(const char *path, size_t *len)
{
	uint8_t	*b;
	FILE	*f;
	long	n;

	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (run the tests from the repository root)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	b = xmalloc((size_t)n);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* A file of tests/data/<dir>/: load_data_in(DATA_DIR, "curl.bin", &len). */
static inline uint8_t *
load_data_in(const char *dir, const char *name, size_t *len)
{
	char	path[256];

	snprintf(path, sizeof(path), "%s%s", dir, name);
	return load_path(path, len);
}

#endif
