#!/bin/sh
# Runs one fuzz target for a bounded time, as ctest does:
#   spec/fuzz/run.sh FUZZER SEED_DIR WORK_DIR SECONDS [libFuzzer flags...]
# WORK_DIR is emptied first; new inputs go to WORK_DIR/corpus (the seeds in
# the source tree are only read), a crashing input to WORK_DIR/crash-*.
# Exits non-zero on a crash, leak, sanitizer report or hang (-timeout).
set -eu
fuzzer=$1 seeds=$2 work=$3 secs=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus"
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds"
