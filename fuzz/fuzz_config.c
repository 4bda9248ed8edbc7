/*
 * libFuzzer target for the configuration-file parser: arbitrary bytes as a
 * file's text on top of the defaults, then the cross-field rules and the
 * -check printer on whatever was accepted.  Seeds: tests/data/config/.
 *
 * Besides crashes, leaks and undefined behaviour it checks two properties.
 * What was accepted prints (-check) as text that parses back to the same
 * printed form; the only values that cannot be written back are those
 * holding white space followed by '#', which the parser takes as a comment.
 * And a reload's copy (config_take_reloadable) moves exactly the rows of
 * the table marked CONFIG_O_RELOAD, whatever their values.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snid/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether text holds white space followed by '#'. */
static bool
fuzz_has_space_hash(const char *text, size_t len)
{
	size_t	i;

	for (i = 1; i < len; i++)
		if (text[i] == '#' && text[i - 1] != '\0' &&
		    strchr(" \t\r\v\f", text[i - 1]) != NULL)
			return true;
	return false;
}

static char *
fuzz_print(const struct config *cfg, size_t *len)
{
	char	*text = NULL;
	FILE	*f = open_memstream(&text, len);

	if (f == NULL)
		abort();
	config_print(cfg, f);
	fclose(f);
	return text;
}

/* Reloading cfg on top of the defaults: reloadable rows become cfg's, the rest stays. */
static void
fuzz_check_reload(const struct config *cfg)
{
	static struct config	base, out;
	size_t			i;

	config_defaults(&base);
	memcpy(&out, &base, sizeof(out));
	config_take_reloadable(&out, cfg);
	for (i = 0; i < config_n_options; i++) {
		const struct config_option *o = &config_options[i];
		const struct config *want = (o->flags & CONFIG_O_RELOAD) ? cfg : &base;

		if (!config_option_equal(o, cfg, cfg) || !config_option_equal(o, &out, want)) {
			fprintf(stderr, "reload copy of %s is wrong\n", o->name);
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config	cfg, back;
	char			err[1024], *t1, *t2;
	size_t			l1, l2;

	config_defaults(&cfg);
	if (config_parse_text(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof(err)) != 0)
		return 0;
	(void)config_validate(&cfg, err, sizeof(err));
	fuzz_check_reload(&cfg);

	t1 = fuzz_print(&cfg, &l1);
	config_defaults(&back);
	if (config_parse_text(&back, "printed", t1, l1, err, sizeof(err)) != 0) {
		if (!fuzz_has_space_hash(t1, l1)) {
			fprintf(stderr, "printed configuration does not parse: %s\n%s", err, t1);
			abort();
		}
	} else {
		t2 = fuzz_print(&back, &l2);
		if (l1 != l2 || memcmp(t1, t2, l1) != 0) {
			fprintf(stderr, "printed configuration changed:\n%s---\n%s", t1, t2);
			abort();
		}
		free(t2);
	}
	free(t1);
	return 0;
}
