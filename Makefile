# gmm -- Gaussian mixture models as a SQLite extension.
#
#   make            build the loadable extension (gmm.so; gmm.dylib on macOS)
#   make test       build and run every test (cmocka suites, SQL scripts)
#   make demo       fit the bundled Old Faithful data and print the clusters
#   make libgmm.a   the static library (built with -DSQLITE_CORE) for linking gmm in
#   make install    gmm.so, libgmm.a, sqlite3_gmm.h and gmm.pc (pkg-config) into
#                   $(DESTDIR)$(PREFIX)/{lib,include,lib/pkgconfig}
#   make uninstall  removes exactly those four files
#   make wheel      the Python package sqlite_gmm as a wheel in $(BUILD)/wheel
#   make npm        the npm package sqlite-gmm as a tarball in $(BUILD)/npm (npm pack)
#   make test-newest  the suites through SQL again, on the newest SQLite at hand
#                   (better-sqlite3 12's amalgamation; part of make test)
#   make wasm       SQLite + gmm compiled to WebAssembly (emscripten): web/dist/
#   make test-web   the JS API in Node and the playground (web/) in headless Chromium
#                   (part of make test when Chromium is present or installable)
#   make clients    the client tests alone (tests/clients/run.sh; part of make test)
#   make dask       the Dask driver on a local cluster (tests/dask/run.sh; part of make test)
#   make asan       the whole suite built with AddressSanitizer and UBSan
#   make valgrind   the cmocka suites under valgrind's memcheck
#   make tsan       the concurrency tests (test_threads, test_core) under ThreadSanitizer
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make coverage   line and branch coverage of ext/ by the suite
#   make bench      seconds per EM iteration and memory, side by side with scikit-learn
#   make plot       draw docs/faithful.png (Old Faithful, clusters and 1-/2-sigma ellipses; needs gnuplot)
#   make fixtures   regenerate the oracle fixtures (needs python3-sklearn, and R with
#                   r-cran-mclust, r-cran-lavaan, r-cran-amelia: apt-get install r-base-core ...)
#   make clean      remove build products
#
# Missing Debian packages are installed when running as root; otherwise the
# exact apt-get command is printed.

CC       ?= cc
OPTFLAGS ?= -O2
CFLAGS   ?= $(OPTFLAGS) -g
# -Wno-psabi: the kernel's vector helpers (ext/core/gmm_tile.c) are all
# inlined, so GCC's note on the vector calling convention never applies.
WARNINGS := -Wall -Wextra -Wshadow -Wconversion -Wpedantic -Wno-psabi
# No contraction into fused multiply-adds: the kernel writes out the ones it
# wants, so that every instruction set it is dispatched to gives the same
# bits (ext/core/gmm_tile.c).
ALL_CFLAGS = -std=c11 -ffp-contract=off $(WARNINGS) $(CFLAGS)
SQLITE3  ?= sqlite3
PYTHON   ?= /usr/bin/python3

ifeq ($(shell uname -s),Darwin)
  EXT := dylib
  SHARED := -dynamiclib
else
  EXT := so
  SHARED := -shared
endif

# A build lives in $(BUILD); the variants (asan, tsan, coverage) are the
# same rules run with another BUILD, LIB and CFLAGS.
BUILD    ?= build
LIB      ?= gmm.$(EXT)
LIB_NAME  = $(if $(filter /%,$(LIB)),,./)$(patsubst %.$(EXT),%,$(LIB))
CORE_SRC := $(wildcard ext/core/*.c)
SQL_SRC  := $(wildcard ext/sqlite/*.c)
HEADERS  := $(wildcard ext/core/*.h ext/sqlite/*.h)
TEST_HDR := $(wildcard tests/*.h tests/oracle/*.h)
CORE_OBJ  = $(patsubst ext/%.c,$(BUILD)/obj/%.o,$(CORE_SRC))
SQL_OBJ   = $(patsubst ext/%.c,$(BUILD)/obj/%.o,$(SQL_SRC))

CORE_TESTS = $(BUILD)/test_core $(BUILD)/test_blob $(BUILD)/test_oracle $(BUILD)/test_degenerate \
             $(BUILD)/test_tile $(BUILD)/test_stats $(BUILD)/test_missing $(BUILD)/test_missing_oracle \
             $(BUILD)/test_hc $(BUILD)/test_mclust $(BUILD)/test_mclust_oracle \
             $(BUILD)/test_bayes_oracle $(BUILD)/test_bayes
SQL_TESTS  = $(BUILD)/test_sql $(BUILD)/test_options $(BUILD)/test_vtab $(BUILD)/test_limits \
             $(BUILD)/test_oom $(BUILD)/test_threads $(BUILD)/test_vectors $(BUILD)/test_passes \
             $(BUILD)/test_missing_sql $(BUILD)/test_mclust_sql $(BUILD)/test_bayes_sql \
             $(BUILD)/test_interrupt
# Environment of the test programs: the extension they load.
TEST_ENV   = GMM_EXTENSION=$(LIB_NAME)
# 0 skips the test against the real sqlite-vec (it needs npm the first time).
VEC ?= 1
# Environment of the sqlite3 shell running the SQL scripts (sanitizer
# runtimes are preloaded there).
SHELL_ENV ?=

.PHONY: all test run-tests demo clean deps fixtures check-deps asan valgrind tsan coverage fuzz plot \
        install uninstall clients bench dask wheel npm test-newest wasm test-web

all: check-deps $(LIB)

# ---- dependencies ----------------------------------------------------------

# Debian packages the build and tests need, each with the file that shows it
# is present.
check-deps:
	@missing=""; \
	echo '#include <sqlite3.h>' | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing libsqlite3-dev"; \
	printf '#include <stdarg.h>\n#include <stddef.h>\n#include <setjmp.h>\n#include <cmocka.h>\n' \
	  | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing libcmocka-dev"; \
	command -v $(SQLITE3) >/dev/null 2>&1 || missing="$$missing sqlite3"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing missing packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
	      || { echo "apt-get failed; run: apt-get update && apt-get install -y$$missing" >&2; exit 1; }; \
	  else \
	    echo "Missing packages:$$missing" >&2; \
	    echo "Install them with: sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
	    exit 1; \
	  fi; \
	fi

deps: check-deps

# ---- the extension ---------------------------------------------------------

# Only sqlite3_gmm_init is exported from the module: the core's symbols stay
# private, so they cannot clash with a host program's.
$(BUILD)/obj/%.o: ext/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DGMM_BUILD_FLAGS='"$(CFLAGS)"' -c -o $@ $<

# The narrow (2-lane) and AVX-512 (8-lane) kernels are gmm_tile.c built again.
$(BUILD)/obj/core/gmm_tile_narrow.o $(BUILD)/obj-static/core/gmm_tile_narrow.o \
$(BUILD)/obj/core/gmm_tile_avx512.o $(BUILD)/obj-static/core/gmm_tile_avx512.o: ext/core/gmm_tile.c

$(LIB): $(CORE_OBJ) $(SQL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SHARED) -o $@ $^ -lm -lpthread $(LDFLAGS)

# ---- static library ---------------------------------------------------------

# libgmm.a: every ext/ source compiled with -DSQLITE_CORE, for programs that
# link gmm in and register sqlite3_gmm_init themselves (ext/sqlite/sqlite3_gmm.h).
# Its objects live apart from the loadable module's.
STATIC     ?= libgmm.a
STATIC_OBJ  = $(patsubst ext/%.c,$(BUILD)/obj-static/%.o,$(CORE_SRC) $(SQL_SRC))

$(BUILD)/obj-static/%.o: ext/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -DSQLITE_CORE -DGMM_BUILD_FLAGS='"$(CFLAGS) -DSQLITE_CORE"' -c -o $@ $<

$(STATIC): $(STATIC_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# ---- install ------------------------------------------------------------------

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the loadable module,
# the static library, the header declaring sqlite3_gmm_init and gmm.pc for
# pkg-config (its directories relative to ${prefix} where they are under
# PREFIX, so --define-variable=prefix=... relocates a staged install).
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
INSTALL    ?= install

PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION    := $(shell sed -n 's/^\#define GMM_VERSION "\(.*\)"/\1/p' ext/core/gmm.h)

PC_LIBDIR     = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))

# gmm.pc: ext/sqlite/gmm.pc.in with the install's directories and version.
install: all $(STATIC)
	$(INSTALL) -d '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(PKGCONFIGDIR)'
	$(INSTALL) -m 755 $(LIB) '$(DESTDIR)$(LIBDIR)/gmm.$(EXT)'
	$(INSTALL) -m 644 $(STATIC) '$(DESTDIR)$(LIBDIR)/libgmm.a'
	$(INSTALL) -m 644 ext/sqlite/sqlite3_gmm.h '$(DESTDIR)$(INCLUDEDIR)/sqlite3_gmm.h'
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' ext/sqlite/gmm.pc.in > '$(DESTDIR)$(PKGCONFIGDIR)/gmm.pc'
	chmod 644 '$(DESTDIR)$(PKGCONFIGDIR)/gmm.pc'

uninstall:
	rm -f '$(DESTDIR)$(LIBDIR)/gmm.$(EXT)' '$(DESTDIR)$(LIBDIR)/libgmm.a' \
	  '$(DESTDIR)$(INCLUDEDIR)/sqlite3_gmm.h' '$(DESTDIR)$(PKGCONFIGDIR)/gmm.pc'

# ---- packages -------------------------------------------------------------------

# The Python wheel (python/make_wheel.py, standard library only) and the npm
# tarball (npm/pack.sh), each holding the module built here; both print the
# file they wrote.
wheel: all
	$(PYTHON) python/make_wheel.py $(LIB) $(BUILD)/wheel

npm: all
	sh npm/pack.sh $(LIB) $(BUILD)/npm

# ---- clients --------------------------------------------------------------------

# The sqlite3 shell, Python's sqlite3, Node.js with better-sqlite3, a C
# program linking $(STATIC), and make install/uninstall into a temporary
# DESTDIR, each against the real thing (tests/clients/run.sh installs a
# missing runtime).
clients: all $(STATIC)
	@echo "== tests/clients"; \
	SQLITE3=$(SQLITE3) PYTHON=$(PYTHON) CC='$(CC)' GMM_STATIC=$(STATIC) \
	  GMM_MAKE='$(MAKE) -f $(firstword $(MAKEFILE_LIST))' sh tests/clients/run.sh $(LIB_NAME)

# ---- tests -----------------------------------------------------------------

# Core tests link the core's objects; tests through SQL load the built
# extension (GMM_EXTENSION) into the system libsqlite3.
$(CORE_TESTS): $(BUILD)/test_%: tests/test_%.c $(CORE_OBJ) $(TEST_HDR)
	$(CC) $(ALL_CFLAGS) -Wno-conversion -Iext/core -o $@ $< $(CORE_OBJ) -lcmocka -lm -lpthread $(LDFLAGS)

$(SQL_TESTS): $(BUILD)/test_%: tests/test_%.c $(HEADERS) $(TEST_HDR) | $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) -Wno-conversion -o $@ $< -lsqlite3 -lcmocka -lm -lpthread $(LDFLAGS)

test: check-deps run-tests
	@$(MAKE) --no-print-directory clients
	@$(MAKE) --no-print-directory dask
	@$(MAKE) --no-print-directory test-newest
	@if [ -x /usr/bin/chromium ] || [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory test-web; \
	else echo "== tests/web: skipped, no Chromium (sudo apt-get install -y chromium)"; fi

# Fits over 8 SQLite files on a real Dask LocalCluster (127.0.0.1 only) of 2
# worker processes against the same passes in one process (tests/dask/run.sh
# installs python3-distributed when missing; a cluster that cannot start is a
# loud SKIP, Debian marks its daemons flaky).
dask: all
	@echo "== tests/dask"; PYTHON=$(PYTHON) sh tests/dask/run.sh $(LIB_NAME)

run-tests: $(LIB) $(CORE_TESTS) $(SQL_TESTS)
	@set -e; for t in $(CORE_TESTS) $(SQL_TESTS); do echo "== $$t"; $(TEST_ENV) ./$$t; done
	@echo "== tests/sql"; $(SHELL_ENV) SQLITE3=$(SQLITE3) sh tests/run_sql_tests.sh $(LIB_NAME)
	@echo "== sql/recipes"; $(SHELL_ENV) SQLITE3=$(SQLITE3) sh tests/run_sql_tests.sh $(LIB_NAME) sql/recipes
	@if [ "$(VEC)" != 0 ]; then echo "== tests/vec"; \
	  $(SHELL_ENV) SQLITE3=$(SQLITE3) sh tests/vec/run.sh $(LIB_NAME); fi

# ---- a second SQLite -----------------------------------------------------------

# The suites through SQL (the cmocka ones, the SQL scripts, the recipes,
# sqlite-vec, the Python client) run again on a libsqlite3.so.0 built from
# the newest amalgamation at hand, better-sqlite3 12's (tests/sqlite_newest.sh),
# put first with LD_LIBRARY_PATH: the same gmm.so serves the system's SQLite
# (Debian 12: 3.40) and that one. The core suites do not link SQLite and run
# once. Debian's sqlite3 shell refuses a library that is not its own, so the
# scripts run through tests/sql_runner.c. The extension's SQL sources are
# also compiled against the newer headers, warnings as errors.
NEWEST_DIR = $(BUILD)/sqlite-newest
NEWEST_LIB = $(NEWEST_DIR)/libsqlite3.so.0
NEWEST_ENV = LD_LIBRARY_PATH=$(NEWEST_DIR)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}
SQL_RUNNER = $(BUILD)/sql_runner

$(NEWEST_LIB): tests/sqlite_newest.sh
	CC='$(CC)' sh tests/sqlite_newest.sh $(NEWEST_DIR)

$(SQL_RUNNER): tests/sql_runner.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -lsqlite3 $(LDFLAGS)

test-newest: $(LIB) $(SQL_TESTS) $(SQL_RUNNER) $(NEWEST_LIB)
	@echo "== SQLite $$($(NEWEST_ENV) ./$(SQL_RUNNER) -version | cut -c1-40) ($(NEWEST_LIB))"
	@set -e; for f in $(SQL_SRC); do \
	  $(CC) $(ALL_CFLAGS) -Werror -I$(NEWEST_DIR)/include -fsyntax-only $$f; done; \
	  echo "ext/sqlite/*.c compile cleanly against $(NEWEST_DIR)/include"
	@set -e; for t in $(SQL_TESTS); do echo "== $$t"; $(NEWEST_ENV) $(TEST_ENV) ./$$t; done
	@echo "== tests/sql"; $(NEWEST_ENV) SQLITE3=./$(SQL_RUNNER) sh tests/run_sql_tests.sh $(LIB_NAME)
	@echo "== sql/recipes"; $(NEWEST_ENV) SQLITE3=./$(SQL_RUNNER) sh tests/run_sql_tests.sh $(LIB_NAME) sql/recipes
	@if [ "$(VEC)" != 0 ]; then echo "== tests/vec"; \
	  $(NEWEST_ENV) SQLITE3=./$(SQL_RUNNER) sh tests/vec/run.sh $(LIB_NAME); fi
	@echo "== python ($$($(NEWEST_ENV) $(PYTHON) -c 'import sqlite3; print("SQLite", sqlite3.sqlite_version)'))"; \
	  $(NEWEST_ENV) $(PYTHON) tests/clients/example.py $(LIB_NAME)

# ---- WebAssembly and the playground ---------------------------------------------

# web/dist/sqlite-gmm-core.{mjs,wasm}: SQLite's amalgamation (better-sqlite3
# 12's) and ext/ built with Debian's emscripten (wasm/build.sh installs it),
# gmm registered on every connection; web/sqlite-gmm.mjs is its JS API and
# web/index.html the playground. test-web runs the API in Node, then the
# page in headless Chromium served on 127.0.0.1 (tests/web/run.sh).
wasm:
	sh wasm/build.sh web/dist

test-web: $(LIB) wasm
	@echo "== tests/web"; sh tests/web/run.sh $(LIB_NAME)

# ---- sanitizers and valgrind -------------------------------------------------

SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_RT    = $(shell $(CC) -print-file-name=libasan.so)
UBSAN_RT   = $(shell $(CC) -print-file-name=libubsan.so)

# The whole suite with ASan and UBSan; the sqlite3 shell running the SQL
# scripts gets the runtimes preloaded (its own leaks at exit are not ours).
asan: check-deps
	$(MAKE) --no-print-directory run-tests BUILD=build/asan LIB=build/asan/gmm.$(EXT) \
	  CFLAGS='$(SAN_FLAGS)' LDFLAGS='$(SAN_FLAGS)' \
	  SHELL_ENV='LD_PRELOAD=$(ASAN_RT):$(UBSAN_RT) ASAN_OPTIONS=detect_leaks=0'

# The concurrency test under ThreadSanitizer (clang's), extension included.
TSAN_FLAGS := -g -O1 -fsanitize=thread

tsan: check-deps
	@command -v clang >/dev/null || { echo "clang missing: apt-get install -y clang" >&2; exit 1; }
	$(MAKE) --no-print-directory CC=clang BUILD=build/tsan LIB=build/tsan/gmm.$(EXT) \
	  CFLAGS='$(TSAN_FLAGS)' LDFLAGS='$(TSAN_FLAGS)' build/tsan/gmm.$(EXT) build/tsan/test_threads \
	  build/tsan/test_core
	GMM_EXTENSION=build/tsan/gmm ./build/tsan/test_threads
	./build/tsan/test_core

VALGRIND := valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect

valgrind: check-deps $(LIB) $(CORE_TESTS) $(SQL_TESTS)
	@command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install -y valgrind" >&2; exit 1; }
	@set -e; for t in $(CORE_TESTS) $(SQL_TESTS); do echo "== valgrind $$t"; $(TEST_ENV) $(VALGRIND) ./$$t; done

# ---- fuzzing -------------------------------------------------------------------

FUZZ_SECONDS ?= 60

# Replays every regression and seed input, then runs each libFuzzer target
# (tests/fuzz/) for FUZZ_SECONDS; a crash fails it.
fuzz: check-deps
	sh tests/fuzz/run.sh $(FUZZ_SECONDS) build/fuzz

# ---- benchmark -----------------------------------------------------------------

# gmm against scikit-learn on the same data, side by side (bench/run.sh writes
# bench/RESULTS.md with the machine it ran on). Not part of make test.
BENCH_BIN = $(BUILD)/bench/gen_data $(BUILD)/bench/bench_core $(BUILD)/bench/bench_sql \
            $(BUILD)/bench/bench_passes

$(BUILD)/bench/gen_data: bench/gen_data.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -lm $(LDFLAGS)

$(BUILD)/bench/bench_core: bench/bench_core.c bench/bench_util.h $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iext/core -o $@ $< $(CORE_OBJ) -lm $(LDFLAGS)

$(BUILD)/bench/bench_sql: bench/bench_sql.c bench/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -lsqlite3 -lm $(LDFLAGS)

$(BUILD)/bench/bench_passes: bench/bench_passes.c bench/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -lsqlite3 -lm $(LDFLAGS)

bench: all $(BENCH_BIN)
	BUILD=$(BUILD) GMM_EXTENSION=$(LIB_NAME) PYTHON=$(PYTHON) CC='$(CC)' \
	  CFLAGS_USED='$(ALL_CFLAGS)' sh bench/run.sh

# ---- coverage ----------------------------------------------------------------

COV_FLAGS := -O0 -g --coverage

# Runs the suite on a --coverage build, then reports line and branch
# coverage of ext/ (gcov, which comes with gcc).
coverage: check-deps
	rm -rf build/cov
	$(MAKE) --no-print-directory run-tests BUILD=build/cov LIB=build/cov/gmm.$(EXT) \
	  CFLAGS='$(COV_FLAGS)' LDFLAGS='--coverage'
	@sh tests/coverage.sh build/cov

# ---- demo ------------------------------------------------------------------

demo: all
	$(SQLITE3) :memory: < sql/demo.sql

plot: all
	SQLITE3=$(SQLITE3) sh sql/plot.sh $(LIB_NAME) docs/faithful.png

# ---- maintenance -----------------------------------------------------------

fixtures:
	$(PYTHON) tests/oracle/make_fixtures.py
	$(PYTHON) tests/oracle/make_missing_fixtures.py
	Rscript tests/oracle/make_mclust_fixtures.R tests/oracle/mclust_fixtures.h
	Rscript tests/oracle/make_hc_fixtures.R > tests/oracle/hc_fixtures.h
	$(PYTHON) tests/oracle/make_bayes_fixtures.py
	Rscript tests/oracle/make_prior_fixtures.R tests/oracle/prior_fixtures.h

clean:
	rm -rf build gmm.so gmm.dylib libgmm.a
