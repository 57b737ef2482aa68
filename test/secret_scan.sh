#!/usr/bin/env bash
# The last test of a run: no secret that any suite used (account keys, SAS tokens and their
# signatures, client secrets, bearer tokens, passwords; registered by the suites in
# $TEST_SECRETS_DIR, one per line) appears in any log the run kept ($TEST_LOG_DIR: each suite's
# output and the logs of every process it started), as is or URL-encoded. Prints only which
# secret (by its first 4 characters) was found where; fails when one was, or when too few were
# registered for the scan to mean anything.
set -uo pipefail
logs="${TEST_LOG_DIR:?set by CMake}"
secrets_dir="${TEST_SECRETS_DIR:?set by CMake}"
min="${1:-0}"
patterns="$(mktemp)"
trap 'rm -f "$patterns"' EXIT
# Every secret as is, and URL-encoded when that differs (SAS signatures travel in URLs).
cat "$secrets_dir"/* 2>/dev/null | /usr/bin/python3 -c '
import sys, urllib.parse
seen = set()
for line in sys.stdin:
    s = line.rstrip("\n")
    if len(s) < 8:
        continue
    for v in (s, urllib.parse.quote(s, safe=""), urllib.parse.quote_plus(s)):
        if v not in seen:
            seen.add(v)
            print(v)
' >"$patterns"
distinct="$(cat "$secrets_dir"/* 2>/dev/null | awk 'length($0) >= 8' | sort -u | wc -l)"
files="$(find "$logs" -path "$secrets_dir" -prune -o -type f -print | wc -l)"
echo "scanning $files log files for $distinct secrets (and their URL-encoded forms)"
if [ "$distinct" -lt "$min" ]; then
  echo "not ok - only $distinct secrets were registered (expected at least $min)"
  exit 1
fi
found=0
while IFS= read -r file; do
  while IFS= read -r hit; do
    echo "not ok - $file holds a secret (${#hit} characters)"
    found=$((found + 1))
  done < <(grep -aoF -f "$patterns" "$file" | sort -u)
done < <(find "$logs" -path "$secrets_dir" -prune -o -type f -print)
if [ "$found" -ne 0 ]; then
  echo "$found secret(s) found in the logs"
  exit 1
fi
echo "ok - no secret in any of the $files log files"
