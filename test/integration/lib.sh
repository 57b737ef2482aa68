# Shared helpers of the integration suites (sourced). Each check prints `ok - NAME` or
# `not ok - NAME` with the reason; the suite ends with `N passed, N failed` and fails if any did.
set -uo pipefail

: "${TEST_PQRT:?run through ctest (TEST_PQRT is the pqrt binary)}"
PQRT="$TEST_PQRT"
SOURCE_DIR="${TEST_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
SANITIZE="${TEST_SANITIZE:-OFF}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pqrt-it.XXXXXX")"
SECRETS=()
# keep_logs: copies the logs of the processes this suite started (*.log, err, out; text under
# 64 MiB) to $TEST_LOG_DIR/<suite>/, for test/secret_scan.sh.
keep_logs() {
  [ -n "${TEST_LOG_DIR:-}" ] || return 0
  local dest="$TEST_LOG_DIR/${TEST_SUITE:-suite}" f rel
  mkdir -p "$dest"
  while IFS= read -r f; do
    rel="${f#"$WORK"/}"
    mkdir -p "$dest/$(dirname "$rel")"
    cp "$f" "$dest/$rel"
  done < <(find "$WORK" -type f \( -name '*.log' -o -name err -o -name out -o -name '*.err' \) -size -64M)
}
trap 'keep_logs; rm -rf "$WORK"' EXIT
passed=0
failed=0

# secret VALUE...: registers values the suite uses as secrets: test/secret_scan.sh searches every
# kept log for them, and this suite's own failure messages hide them.
secret() {
  local v
  for v in "$@"; do
    SECRETS+=("$v")
    if [ -n "${TEST_SECRETS_DIR:-}" ]; then
      mkdir -p "$TEST_SECRETS_DIR"
      printf '%s\n' "$v" >>"$TEST_SECRETS_DIR/${TEST_SUITE:-suite}"
    fi
  done
}
hide_secrets() {
  local text="$1" v
  for v in "${SECRETS[@]}"; do text="${text//"$v"/***}"; done
  printf '%s' "$text"
}

pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1: $(hide_secrets "$2")"; failed=$((failed + 1)); }

# run CMD... : runs it, keeping stdout in $WORK/out, stderr in $WORK/err and the code in $rc.
run() {
  "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
}

# expect NAME CODE [PATTERN_IN_STDERR]: checks the last `run`.
expect() {
  local name="$1" code="$2" pattern="${3:-}"
  if [ "$rc" -ne "$code" ]; then
    fail "$name" "exit $rc, expected $code; stderr: $(head -c 600 "$WORK/err")"
  elif [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$WORK/err"; then
    fail "$name" "stderr lacks /$pattern/: $(head -c 600 "$WORK/err")"
  else
    pass "$name"
  fi
}

# check NAME COMMAND...: passes when the command succeeds.
check() {
  local name="$1"
  shift
  if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
