#!/usr/bin/env bash
# The command line of the real binary: help, version, usage errors, roles not built.
source "$(dirname "$0")/lib.sh"

run "$PQRT" --help
expect "--help exits 0" 0
check "--help lists the roles and subcommands" grep -q "keygen" "$WORK/out"

run "$PQRT" --version
expect "--version exits 0" 0
check "--version prints the version" grep -qE "^pqrt [0-9]+\.[0-9]+\.[0-9]+$" "$WORK/out"

run "$PQRT" --frobnicate
expect "an unknown flag exits 2 naming it" 2 "unknown option '--frobnicate'"
check "the usage hint follows" grep -q "Try 'pqrt --help'" "$WORK/err"
check "the error is one line plus the hint" test "$(wc -l <"$WORK/err")" -eq 2

run "$PQRT" --role=painter
expect "an unknown role exits 2 naming it" 2 "unknown role 'painter'"

run "$PQRT" frobnicate
expect "an unknown subcommand exits 2 naming it" 2 "unknown subcommand 'frobnicate'"

run "$PQRT" keygen --bitz 4
expect "an unknown tool flag exits 2 naming it" 2 "pqrt keygen: unknown option '--bitz'"

run "$PQRT"
expect "no arguments is a usage error" 2 "Try 'pqrt --help'"

for role in scheduler metrics local; do
  run "$PQRT" --role=$role --log-format=text
  expect "--role=$role says it is not available and fails" 1 "role is not available in this build role=$role"
done

run "$PQRT" --role=scheduler --log-format=json
check "JSON log lines carry level and component" \
  grep -q '"level":"error","component":"runtime"' "$WORK/err"

run "$PQRT" --role=worker --redis redis://127.0.0.1:1 --redis-give-up-sec 1 --log-format=text
expect "a worker whose Redis is unreachable fails naming it" 1 "cannot reach Redis.*127.0.0.1:1"

finish
