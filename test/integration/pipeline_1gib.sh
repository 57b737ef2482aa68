#!/usr/bin/env bash
# Flat memory: a 1 GiB data set (1,048,576 records of 1 KiB) through a scheduler and three
# workers; the scheduler's peak RSS stays under 128 MiB, and every record's result is there.
# Plain builds only: under AddressSanitizer RSS measures the sanitizer's shadow memory.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
STORE="$WORK/store"
RECORDS=1048576
"$PQRT" keygen rsa --out rsa.pem --public-out rsa.pub.pem 2>/dev/null
"$PQRT" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted 2>/dev/null
PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
C=(--redis "redis://127.0.0.1:$PORT" --storage local --local-storage-dir "$STORE" --key-source local
  --rsa-private-key-file "$WORK/rsa.pem" --encrypted-aes-key-filename aes.encrypted
  --encrypted-data-filename gib.encrypted --processor sha256)

"$PQRT" gen-data --records "$RECORDS" --size-kb 1 --out gib.txt 2>/dev/null
check "the plaintext is 1 GiB" test "$(stat -c %s gib.txt)" -ge $((1 << 30))
"$PQRT" encrypt records --key aes.encrypted --unwrap-with rsa.pem --in gib.txt --out gib.encrypted 2>/dev/null
rm -f gib.txt
check "sealed and uploaded" "$PQRT" upload "${C[@]}" gib.encrypted aes.encrypted
rm -f gib.encrypted

WORKERS=()
for i in 1 2 3; do
  "$PQRT" --role=worker "${C[@]}" --concurrency 2 >"$WORK/w$i.log" 2>&1 &
  WORKERS+=($!)
  PIDS+=($!)
done
run /usr/bin/time -f "maxrss_kb=%M elapsed_s=%e" "$PQRT" --role=scheduler "${C[@]}" --run-id gib
expect "the 1 GiB run ends with exit 0" 0 "every job finished"
rss_kb="$(grep -o 'maxrss_kb=[0-9]*' "$WORK/err" | cut -d= -f2)"
elapsed="$(grep -o 'elapsed_s=[0-9.]*' "$WORK/err" | cut -d= -f2)"
echo "# scheduler peak RSS: ${rss_kb:-?} KiB; the run took ${elapsed:-?} s (informational, not checked)"
check "the scheduler's peak RSS is under 128 MiB" test "${rss_kb:-999999999}" -lt $((128 * 1024))
for pid in "${WORKERS[@]}"; do kill -TERM "$pid"; done
"$PQRT" results "${C[@]}" --run-id gib --out gib.out 2>/dev/null
check "every record has its result" test "$(wc -l <gib.out)" -eq "$RECORDS"
finish
