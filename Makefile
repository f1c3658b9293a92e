# gmm -- Gaussian mixture models as a SQLite extension.
#
#   make          build the loadable extension (gmm.so; gmm.dylib on macOS)
#   make test     build and run every test (cmocka suites, SQL scripts)
#   make demo     fit the bundled Old Faithful data and print the clusters
#   make fixtures regenerate the scikit-learn oracle fixtures (needs python3-sklearn)
#   make clean    remove build products
#
# Missing Debian packages are installed when running as root; otherwise the
# exact apt-get command is printed.

CC       ?= cc
OPTFLAGS ?= -O2
CFLAGS   ?= $(OPTFLAGS) -g
WARNINGS := -Wall -Wextra -Wshadow -Wconversion -Wpedantic
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS)
SQLITE3  ?= sqlite3
PYTHON   ?= /usr/bin/python3

ifeq ($(shell uname -s),Darwin)
  EXT := dylib
  SHARED := -dynamiclib
else
  EXT := so
  SHARED := -shared
endif

BUILD   := build
LIB     := gmm.$(EXT)
CORE_SRC := $(wildcard ext/core/*.c)
SQL_SRC  := $(wildcard ext/sqlite/*.c)
HEADERS  := $(wildcard ext/core/*.h ext/sqlite/*.h)
TEST_HDR := $(wildcard tests/*.h tests/oracle/*.h)

CORE_TESTS := $(BUILD)/test_core $(BUILD)/test_blob $(BUILD)/test_oracle
SQL_TESTS  := $(BUILD)/test_sql $(BUILD)/test_options $(BUILD)/test_vtab

.PHONY: all test demo clean deps fixtures check-deps

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

$(LIB): $(CORE_SRC) $(SQL_SRC) $(HEADERS)
	$(CC) $(ALL_CFLAGS) -fPIC $(SHARED) -DGMM_BUILD_FLAGS='"$(CFLAGS)"' \
	  -o $@ $(CORE_SRC) $(SQL_SRC) -lm

# ---- tests -----------------------------------------------------------------

$(BUILD):
	mkdir -p $@

$(BUILD)/test_%: tests/test_%.c $(CORE_SRC) $(HEADERS) $(TEST_HDR) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -Wno-conversion -Iext/core -o $@ $< $(CORE_SRC) -lcmocka -lm

# Tests through SQL load the built extension into the system libsqlite3.
$(SQL_TESTS): $(BUILD)/test_%: tests/test_%.c $(HEADERS) $(TEST_HDR) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -Wno-conversion -o $@ $< -lsqlite3 -lcmocka -lm

test: check-deps $(LIB) $(CORE_TESTS) $(SQL_TESTS)
	@set -e; for t in $(CORE_TESTS) $(SQL_TESTS); do echo "== $$t"; ./$$t; done
	@echo "== tests/sql"; SQLITE3=$(SQLITE3) sh tests/run_sql_tests.sh ./gmm

# ---- demo ------------------------------------------------------------------

demo: all
	$(SQLITE3) :memory: < sql/demo.sql

# ---- maintenance -----------------------------------------------------------

fixtures:
	$(PYTHON) tests/oracle/make_fixtures.py

clean:
	rm -rf $(BUILD) gmm.so gmm.dylib
