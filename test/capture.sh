#!/usr/bin/env bash
# Runs one test suite with its output (stdout and stderr) kept in $TEST_LOG_DIR/NAME.log as well
# as shown to ctest, so that test/secret_scan.sh can search every log line of the whole run.
#   test/capture.sh NAME COMMAND [ARGS...]
set -uo pipefail
name="$1"
shift
dir="${TEST_LOG_DIR:?set by CMake}"
mkdir -p "$dir" "${TEST_SECRETS_DIR:?set by CMake}"
"$@" 2>&1 | tee "$dir/$name.log"
exit "${PIPESTATUS[0]}"
