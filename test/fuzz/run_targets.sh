#!/usr/bin/env bash
# Runs every fuzz target of a PQRT_FUZZ build for SECONDS each, two at a time (test/run.sh
# --fuzz SECONDS builds them and calls this).
#   test/fuzz/run_targets.sh BUILD_DIR SECONDS [TARGET...]
# Each target starts from its seed corpus, copied into BUILD_DIR/fuzz-corpus/<target>/ (the
# inputs it finds are added there, never to the repository), plus test/fuzz/regressions/<target>/
# when it exists. Logs and any crashing, leaking, slow (timeout) or OOM input go to
# BUILD_DIR/fuzz-logs/. Prints the executions per target and "N passed, N failed"; exits 1 when
# a target failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: test/fuzz/run_targets.sh BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build_dir=$1
seconds=$2
shift 2
bin="$build_dir/fuzz"
logs="$build_dir/fuzz-logs"
work="$build_dir/fuzz-corpus"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in "$bin"/fuzz_*; do targets+=("$(basename "$exe")"); done
fi
rm -rf "$logs"
mkdir -p "$logs" "$work"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run_one() {
  local target=$1
  local dirs=("$work/$target")
  mkdir -p "$work/$target"
  if [ -d "test/fuzz/corpus/$target" ]; then cp test/fuzz/corpus/"$target"/* "$work/$target/"; fi
  if [ -d "test/fuzz/regressions/$target" ]; then dirs+=("test/fuzz/regressions/$target"); fi
  local rc=0
  "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
    -print_final_stats=1 -artifact_prefix="$logs/$target-" "${dirs[@]}" \
    >"$logs/$target.log" 2>&1 || rc=$?
  echo "$rc" >"$logs/$target.rc"
}

running=0
for target in "${targets[@]}"; do
  if [ $running -ge 2 ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$target" &
  running=$((running + 1))
done
wait || true

passed=0
failed=0
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$(cat "$logs/$target.rc")" = 0 ]; then
    passed=$((passed + 1))
    printf '%-26s ok      %12s executions\n' "$target" "${execs:-?}"
  else
    failed=$((failed + 1))
    what=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-zA-Z-]+|runtime error: .*|property does not hold: .*' "$log" || echo "exit status $(cat "$logs/$target.rc")")
    inputs=$(find "$logs" -maxdepth 1 -name "$target-*" -printf '%p ' 2>/dev/null)
    printf '%-26s FAILED  %12s executions: %s\n' "$target" "${execs:-?}" "$what"
    printf '%-26s         input: %s log: %s\n' "" "${inputs:-none}" "$log"
  fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
