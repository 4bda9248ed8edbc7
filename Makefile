# snid: plain GNU Makefile.  `make` builds ./snid; `make check` installs what
# is missing (as root), builds and runs every test.

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CC       ?= cc
CLANG    ?= clang
CFLAGS   ?= -O2 -g
WERROR   ?=
ifeq ($(CI),true)
WERROR   := -Werror
endif

WARNINGS = -Wall -Wextra -Wshadow -Wconversion -Wstrict-prototypes \
	   -Wmissing-prototypes -Wcast-qual -Wformat=2 -Wvla $(WERROR)
# Recursive (=) on purpose: pkg-config is asked when a recipe runs, after
# `make deps` has had the chance to install the libraries.
PKG_CFLAGS = $(shell pkg-config --cflags libcares libcap 2>/dev/null) \
	     $(shell pkg-config --cflags libev 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs libcares libcap 2>/dev/null || echo -lcares -lcap) \
	     $(shell pkg-config --libs libev 2>/dev/null || echo -lev)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

# The version is the one at the top of debian/changelog (what the package
# and `snid -version` report); config.h's default if that file is absent.
VERSION := $(shell head -n1 debian/changelog 2>/dev/null | awk '{print $$2}' | tr -d '()')
VERSION_FLAG = $(if $(VERSION),-DSNID_VERSION='"$(VERSION)"')

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude $(VERSION_FLAG) $(WARNINGS) \
	     $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP

SRCS     := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZERS  := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60

# Debian packages the build, the tests and the fuzzers need, by names that
# Debian 12 and 13 both have (libclang-rt-dev: the fuzzers' runtime for the
# release's default clang).  debootstrap: `make check-release`.
DEPS_PKGS = build-essential pkg-config libev-dev libc-ares-dev libcap-dev \
	    libcmocka-dev dnsmasq-base openssl curl gnutls-bin valgrind clang \
	    libclang-rt-dev python3 iproute2 procps mandoc psmisc \
	    systemd systemd-container man-db groff-base haproxy strace \
	    debootstrap

.PHONY: all deps check unit integration valgrind asan fuzz fuzz-build demo \
	clean install uninstall style

all: snid

# Replaced by rename, so that a running ./snid (a test) does not block the build.
snid: $(BUILD)/snid
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/snid: $(BUILD)/obj/main.o $(BUILD)/libsnid.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/libsnid.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libsnid.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(TEST_LDFLAGS) -o $@ $< $(BUILD)/libsnid.a $(CMOCKA_LIBS) $(PKG_LIBS) -lm

# test_resolver makes c-ares answer from inside its query call (as its own
# cache does on 1.31+) by wrapping the call at link time.
$(BUILD)/tests/test_resolver: TEST_LDFLAGS = -Wl,--wrap=ares_query \
	-Wl,--wrap=ares_query_dnsrec

# Installs what is missing when root, else prints the apt-get line.
# $(call apt_need,WHO,PACKAGES): a recipe line that installs the packages
# not installed yet when root, else prints the apt-get line and fails.
apt_need = missing=""; for p in $(2); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "$(1): everything is installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "$(1): installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "$(1): missing:$$missing"; \
		echo "$(1): run: sudo apt-get install -y$$missing"; exit 1; fi

deps:
	@$(call apt_need,deps,$(DEPS_PKGS))

# The package list alone (tests/container/run keys its cache on it).
.PHONY: deps-list deb-pkgs check-release check-trixie
deps-list:
	@echo $(DEPS_PKGS)

# The README's test command: install, build, unit tests, integration tests.
check:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory style
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory system

# style(9) as tests/style/check states it; `tests/style/check --fix` mends
# what is mechanical (white space, declarations, definitions).
style:
	@tests/style/check

# `make check` inside a throw-away Debian RELEASE container (root; the first
# run builds and caches it: tests/container/run).  CI= drops -Werror.
RELEASE ?= trixie
check-release:
	@tests/container/run $(RELEASE) make check

check-trixie:
	@tests/container/run trixie make check

unit: $(TESTS)
	@fail=0; for t in $(TESTS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

integration: snid
	@if [ -x tests/integration/run ]; then tests/integration/run; \
	else echo "integration: no tests yet"; fi

VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
	   --errors-for-leak-kinds=definite --show-leak-kinds=definite

valgrind: $(TESTS) snid
	@fail=0; for t in $(TESTS); do echo "== valgrind $$t"; \
		$(VALGRIND) $$t || fail=1; done; \
	if [ -x tests/integration/run ]; then \
		SNID_VALGRIND=1 tests/integration/run || fail=1; fi; exit $$fail

# The unit tests built with AddressSanitizer and UBSan, in their own tree.
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(ASAN_CFLAGS)" \
		LDFLAGS="-fsanitize=address,undefined" unit

# snid itself built with AddressSanitizer and UBSan (build/asan/snid), for
# `make soak`; the same flags and tree as `make asan`.
ASAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	      -fno-sanitize-recover=undefined
.PHONY: asan-snid soak
asan-snid:
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(ASAN_CFLAGS)" \
		LDFLAGS="-fsanitize=address,undefined" build/asan/snid

# Mixed traffic through the ASan snid for SOAK_SECONDS (default 3600), as
# root; not part of `make check` (bench/README.md).
SOAK_SECONDS ?= 3600
soak: asan-snid
	SOAK_SECONDS=$(SOAK_SECONDS) python3 bench/soak.py

FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -g -O1 \
	      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_SRCS) $(PKG_LIBS) -lm

fuzz-build: $(FUZZERS)

# Each fuzzer for FUZZ_SECONDS, seeded from tests/data/NAME for fuzz/fuzz_NAME.c.
fuzz: $(FUZZERS)
	@fail=0; for f in $(FUZZERS); do n=$$(basename $$f); \
		corpus=$(BUILD)/fuzz/corpus-$$n; mkdir -p $$corpus; \
		seeds=tests/data/$${n#fuzz_}; \
		dict=""; [ -f fuzz/$$n.dict ] && dict="-dict=fuzz/$$n.dict"; \
		echo "== $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
			$$corpus $$( [ -d $$seeds ] && echo $$seeds ) \
			>$(BUILD)/fuzz/$$n.log 2>&1 || { fail=1; tail -50 $(BUILD)/fuzz/$$n.log; }; \
		grep -E '^stat::number_of_executed_units|^Done' $(BUILD)/fuzz/$$n.log || true; \
	done; exit $$fail

demo: 
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

# Installation (issue 5).  BINDIR and UNITDIR follow PREFIX; SYSCONFDIR is
# /etc for every PREFIX because the units read /etc/snid/snid.conf.  The
# units' @BINDIR@ and @SYSCONFDIR@ are filled in here, so that ExecStart
# names the installed binary.  systemd searches /usr/local/lib/systemd/system
# as well as /usr/lib/systemd/system (`systemd-analyze unit-paths`).
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
UNITS       = snid.service snid.socket snid-socket.service

install: snid
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/snid
	install -m 0755 snid $(DESTDIR)$(BINDIR)/snid
	install -m 0644 man/snid.8 $(DESTDIR)$(MANDIR)/man8/snid.8
	install -m 0644 man/snid.conf.5 $(DESTDIR)$(MANDIR)/man5/snid.conf.5
	install -m 0644 snid.conf.example $(DESTDIR)$(SYSCONFDIR)/snid/snid.conf.example
	for u in $(UNITS); do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	@echo "installed; as root: systemctl daemon-reload, then see $(UNITDIR)/snid.service"

# Leaves /etc/snid/snid.conf (the user's) and so /etc/snid if it is there.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/snid $(DESTDIR)$(MANDIR)/man8/snid.8 \
		$(DESTDIR)$(MANDIR)/man5/snid.conf.5 \
		$(DESTDIR)$(SYSCONFDIR)/snid/snid.conf.example \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rmdir $(DESTDIR)$(SYSCONFDIR)/snid 2>/dev/null || true

# Unit files, install tree, man pages, documentation drift (tests/system/run).
.PHONY: system
system: snid
	@tests/system/run

# The side-by-side comparison of bench/ (not part of CI: it measures, it
# does not test).  The peers come from Debian's packages.
BENCH_PKGS = nginx libnginx-mod-stream haproxy sniproxy
.PHONY: bench
bench: snid
	@$(call apt_need,bench,$(BENCH_PKGS))
	bench/run.sh

# The Debian package (debian/), built from a copy of the tree (tracked and
# new files, so uncommitted work is in it) with dpkg-buildpackage, then
# linted: build/deb/snid_VERSION_ARCH.deb.  Needs DEB_PKGS.
DEB_PKGS = debhelper dpkg-dev lintian
deb-pkgs:
	@echo $(DEB_PKGS)
.PHONY: deb
deb:
	@$(call apt_need,deb,$(DEB_PKGS))
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/snid
	# The tracked and untracked files; outside git (a container's copy),
	# the tree without the build output.
	if git rev-parse --git-dir >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard | grep -zv '^build/' | \
			xargs -0 cp --parents -t $(BUILD)/deb/snid; \
	else tar --exclude=./build --exclude=./snid -cf - . | \
		tar -C $(BUILD)/deb/snid -xf -; fi
	cd $(BUILD)/deb/snid && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -40 ../build.log; exit 1; }
	lintian --fail-on error,warning --info $(BUILD)/deb/*.changes
	@ls $(BUILD)/deb/*.deb

# The package on Debian 12 and 13 (root; tests/deb/run): built and linted
# on each, then installed with apt in a booted container, configured,
# routing under systemd, reloaded, upgraded, removed and purged.
.PHONY: check-deb
check-deb:
	@tests/deb/run bookworm trixie

clean:
	rm -rf build snid

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
