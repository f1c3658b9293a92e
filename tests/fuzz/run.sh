#!/bin/sh
# tests/fuzz/run.sh -- build and run the gmm libFuzzer targets.
#
#   sh tests/fuzz/run.sh SECONDS [BUILD_DIR]
#
# From the repository root. For each target (fuzz_blob: the core's BLOB
# decoder alone; fuzz_pass: the core's statistics and initialisation-state
# codecs, merges, gmm_istate_start and gmm_mstep alone; fuzz_apply, fuzz_fit
# and fuzz_pass_sql: the extension through SQL, compiled in with
# -DSQLITE_CORE):
#   1. builds BUILD_DIR/fuzz_X with clang, libFuzzer, ASan and UBSan;
#   2. replays every file of tests/fuzz/regressions/fuzz_X/ and
#      tests/fuzz/corpus/fuzz_X/ once (a crash there fails the run);
#   3. fuzzes for SECONDS (0: replay only) on a working corpus in
#      BUILD_DIR/corpus/fuzz_X, seeded from the committed corpus (less any
#      file that crashed in step 2), which never changes; crashes go to
#      BUILD_DIR/artifacts/fuzz_X/.
# It prints, per target, the executions run and whether it crashed, and
# exits non-zero when any target crashed (or did not build).
#
# BUILD_DIR defaults to build/fuzz. Environment: CLANG (default clang),
# FUZZ_CFLAGS (extra compiler flags, e.g. -DFUZZ_TOLERATE_KNOWN to look past
# the known bugs listed in tests/fuzz/regressions/README), FUZZ_ARGS (extra
# libFuzzer flags), FUZZ_TARGETS (default "fuzz_blob fuzz_apply fuzz_fit
# fuzz_pass fuzz_pass_sql").
#
# Needs clang with the libFuzzer runtime and libsqlite3-dev; on Debian 12:
#   apt-get install -y clang libclang-rt-14-dev libsqlite3-dev
# (installed here when running as root).

set -u

usage() {
  echo "usage: sh tests/fuzz/run.sh SECONDS [BUILD_DIR]" >&2
  exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
SECONDS_EACH=$1
case $SECONDS_EACH in '' | *[!0-9]*) usage ;; esac
BUILD_DIR=${2:-build/fuzz}
CLANG=${CLANG:-clang}
FUZZ_CFLAGS=${FUZZ_CFLAGS:-}
FUZZ_ARGS=${FUZZ_ARGS:-}
TARGETS=${FUZZ_TARGETS:-"fuzz_blob fuzz_apply fuzz_fit fuzz_pass fuzz_pass_sql"}

if [ ! -f ext/core/gmm.h ] || [ ! -d tests/fuzz ]; then
  echo "run.sh: run it from the repository root" >&2
  exit 2
fi

mkdir -p "$BUILD_DIR" || exit 2

# ---- toolchain ------------------------------------------------------------

# Whether clang links a libFuzzer target that includes sqlite3.h.
toolchain_ok() {
  command -v "$CLANG" >/dev/null 2>&1 || return 1
  probe="$BUILD_DIR/probe.c"
  cat >"$probe" <<'EOF'
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)data;
  return size > 0 && sqlite3_libversion_number() == 0;
}
EOF
  "$CLANG" -fsanitize=fuzzer,address,undefined "$probe" -lsqlite3 -o "$BUILD_DIR/probe" \
    >/dev/null 2>&1
  status=$?
  rm -f "$probe" "$BUILD_DIR/probe"
  return $status
}

if ! toolchain_ok; then
  packages="clang libclang-rt-14-dev libsqlite3-dev"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: installing $packages"
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
  fi
  if ! toolchain_ok; then
    echo "run.sh: clang with the libFuzzer runtime (and sqlite3.h) is needed; install with:" >&2
    echo "  apt-get install -y $packages" >&2
    exit 2
  fi
fi

# ---- build, replay, fuzz ----------------------------------------------------

SAN="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
failed=0
summary=""

note() {
  summary="$summary$1
"
}

# The number of executions in a libFuzzer log: its final stat line, or the
# "Done N runs" line.
executions() {
  n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$1" | tail -n 1)
  [ -n "$n" ] || n=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$1" | tail -n 1)
  echo "${n:-0}"
}

# The last coverage figure libFuzzer printed ("cov: N ft: M").
coverage() {
  sed -n 's/.* cov: \([0-9][0-9]*\) ft: \([0-9][0-9]*\).*/cov \1, ft \2/p' "$1" | tail -n 1
}

for target in $TARGETS; do
  src="tests/fuzz/$target.c"
  bin="$BUILD_DIR/$target"
  if [ ! -f "$src" ]; then
    echo "run.sh: no $src" >&2
    failed=1
    note "$target: no such target"
    continue
  fi
  if [ "$target" = fuzz_blob ] || [ "$target" = fuzz_pass ]; then
    sources="ext/core/*.c"
    libs="-lm"
  else
    sources="ext/core/*.c ext/sqlite/*.c"
    libs="-lsqlite3 -lm"
  fi
  echo "== $target: build"
  # shellcheck disable=SC2086 # word splitting of the flag and file lists is wanted
  # The language and floating-point flags of the Makefile's builds (see ALL_CFLAGS there).
  if ! "$CLANG" $SAN -std=c11 -ffp-contract=off -Wno-psabi -DSQLITE_CORE $FUZZ_CFLAGS -Iext/core \
    $sources "$src" $libs -o "$bin"; then
    failed=1
    note "$target: BUILD FAILED"
    continue
  fi

  # Replay the regressions and the committed corpus, one file at a time so
  # that a crash names its file.
  echo "== $target: replay"
  replayed=0
  crashed_on=""
  for dir in "tests/fuzz/regressions/$target" "tests/fuzz/corpus/$target"; do
    [ -d "$dir" ] || continue
    for f in "$dir"/*; do
      [ -f "$f" ] || continue
      replayed=$((replayed + 1))
      if ! "$bin" -runs=1 "$f" >"$BUILD_DIR/$target.replay.log" 2>&1; then
        crashed_on="$crashed_on $f"
        echo "   CRASH on $f:"
        grep -E 'FUZZ_CHECK|ERROR|SUMMARY|runtime error' "$BUILD_DIR/$target.replay.log" |
          head -n 5 | sed 's/^/     /'
      fi
    done
  done
  if [ -n "$crashed_on" ]; then
    failed=1
    replay_note="replayed $replayed files, CRASHED on:$crashed_on"
  else
    replay_note="replayed $replayed files, no crash"
  fi
  echo "   $replay_note"
  if [ "$SECONDS_EACH" -eq 0 ]; then
    note "$target: $replay_note (not fuzzed)"
    continue
  fi

  # Fuzz on a working copy of the corpus, without the files that crashed
  # (libFuzzer would stop on them at once), so that a known bug does not
  # keep the run from looking for others.
  echo "== $target: fuzz ${SECONDS_EACH}s"
  work="$BUILD_DIR/corpus/$target"
  artifacts="$BUILD_DIR/artifacts/$target"
  mkdir -p "$work" "$artifacts"
  for f in "tests/fuzz/corpus/$target"/*; do
    [ -f "$f" ] || continue
    case " $crashed_on " in
      *" $f "*) rm -f "$work/${f##*/}" ;;
      *) cp "$f" "$work/" ;;
    esac
  done
  dict=""
  [ -f "tests/fuzz/$target.dict" ] && dict="-dict=tests/fuzz/$target.dict"
  log="$BUILD_DIR/$target.log"
  case $target in
    fuzz_fit) max_len=20000 ;;
    *) max_len=8192 ;;
  esac
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=20 -max_len=$max_len -print_final_stats=1 \
    -artifact_prefix="$artifacts/" $dict $FUZZ_ARGS "$work" >"$log" 2>&1
  status=$?
  runs=$(executions "$log")
  cov=$(coverage "$log")
  if [ $status -ne 0 ]; then
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -n 1)
    grep -E 'FUZZ_CHECK|ERROR: |SUMMARY|runtime error' "$log" | head -n 5 | sed 's/^/   /'
    note "$target: $replay_note; fuzzing: $runs executions, CRASHED (exit $status; ${artifact:-no artifact}; log $log)"
  else
    note "$target: $replay_note; fuzzing: $runs executions, no crash ($cov)"
  fi
done

echo
echo "== fuzz summary"
printf '%s' "$summary"
exit $failed
