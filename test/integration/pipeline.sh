#!/usr/bin/env bash
# The processing pipeline end to end with real processes: a scheduler and three workers over a
# 100,000-record data set against a real redis-server and local storage; a worker killed with
# kill -9 in the middle of a run; SIGTERM to a worker under load; ten tampered records and a
# script that fails one record; a scheduler started twice for one run; a result blob deleted from
# storage mid-run and after the run (the scheduler runs its records again); a burst worker that
# ends once the queues are empty; and nothing in clear at rest (the Redis dump and every stored
# file searched for a marker that is in every record and in the script). TEST_STORAGE=azure runs
# all of it on Azure Storage as emulated by Azurite (started here, its data on disk in
# $WORK/azurite) instead of local storage, with the data key wrapped and unwrapped by Key Vault
# (test/fixtures/azure_fixture.py) instead of a local RSA key.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
STORE="$WORK/store"
if [ "${TEST_STORAGE:-local}" = azure ]; then
  # Azure Storage as Azurite emulates it (its data on disk, searched below), and the data key
  # wrapped by a Key Vault key: the fixture is Entra ID, IMDS and the vault. The scheduler and
  # the tools sign in as the service principal, the workers with the managed identity.
  STORE="$WORK/azurite"
  check "Azurite starts" start_azurite "$STORE"
  STORAGE=("${AZURE_STORAGE[@]}")
  fixture_secret
  check "the Entra ID / IMDS / Key Vault fixture starts" start_fixture fx
  KEY_CFG=($(sp_identity "$FX_URL"))
  WORKER_KEY_CFG=($(mi_identity "$FX_URL"))
  "$PQRT" keygen data-key --wrap-with kv --out aes.encrypted "${KEY_CFG[@]}" 2>/dev/null
  KEYS=(--key aes.encrypted "${KEY_CFG[@]}")
else
  STORAGE=(--storage local --local-storage-dir "$STORE")
  # One data key for everything here, wrapped by a local RSA key.
  "$PQRT" keygen rsa --out rsa.pem --public-out rsa.pub.pem 2>/dev/null
  "$PQRT" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted 2>/dev/null
  KEYS=(--key aes.encrypted --unwrap-with rsa.pem)
  KEY_CFG=(--key-source local --rsa-private-key-file "$WORK/rsa.pem")
  WORKER_KEY_CFG=("${KEY_CFG[@]}")
fi

PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"

# Configuration shared by every process of a run (flags; a run adds its own).
common() {
  echo --redis "$URL" "${STORAGE[@]}" "${KEY_CFG[@]}" --encrypted-aes-key-filename aes.encrypted
}
# The same for workers (their own identity).
common_worker() {
  echo --redis "$URL" "${STORAGE[@]}" "${WORKER_KEY_CFG[@]}" --encrypted-aes-key-filename aes.encrypted
}
# seal NAME PLAIN: encrypts a records file and uploads it as blob NAME.
seal() {
  "$PQRT" encrypt records "${KEYS[@]}" --in "$2" --out "$1" 2>/dev/null &&
    "$PQRT" upload $(common) "$1" aes.encrypted 2>/dev/null
}
# script NAME FILE: encrypts a processing script and uploads it as blob NAME.
script() {
  "$PQRT" encrypt file "${KEYS[@]}" --context script --in "$2" --out "$1" 2>/dev/null &&
    "$PQRT" upload $(common) "$1" 2>/dev/null
}
# workers N LOG_PREFIX ARGS...: N workers in the background; their pids in WORKERS.
workers() {
  local n="$1" prefix="$2" i
  shift 2
  WORKERS=()
  for i in $(seq "$n"); do
    "$PQRT" --role=worker $(common_worker) "$@" >"$WORK/$prefix$i.log" 2>&1 &
    WORKERS+=($!)
    PIDS+=($!)
  done
}
stop_workers() {
  local pid
  for pid in "${WORKERS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${WORKERS[@]}"; do wait "$pid" 2>/dev/null; done
}
# results RUN OUT: decrypts a run's results in record order (with indices).
results() {
  "$PQRT" results $(common) --run-id "$1" --with-index --out "$2" 2>"$WORK/results.err"
}
# expected PLAIN OUT: what sha256 gives per record, with indices.
expected() {
  "$PQRT" decrypt records "${KEYS[@]}" --in "$1" --out "$1.plain" 2>/dev/null &&
    "$PY" -c '
import hashlib, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "w") as out:
    for i, line in enumerate(f):
        out.write("%d\t%s\n" % (i, hashlib.sha256(line.rstrip(b"\n")).hexdigest()))
' "$1.plain" "$2"
}
# finished RUN: how many records the run's manifest says finished.
finished() {
  "$PQRT" download $(common) --container results --name "$1/manifest.jsonl" --out - 2>/dev/null |
    grep -c '"state":"finished"'
}
# progress RUN: records of the run that ended so far.
progress() {
  echo $(($(redis-cli -u "$URL" bitcount "pqrt:run:$1:finished") + $(redis-cli -u "$URL" bitcount "pqrt:run:$1:failed")))
}

# --- 2: scheduler + 3 workers, 100,000 records --------------------------------------------------
"$PQRT" gen-data --records 100000 --size-kb 1 --out big.txt 2>/dev/null
check "the 100,000-record data set is sealed and uploaded" seal big.encrypted big.txt
expected big.encrypted big.expected
BIG=(--encrypted-data-filename big.encrypted --processor sha256)
workers 3 big- "${BIG[@]}" --concurrency 2
run "$PQRT" --role=scheduler $(common) "${BIG[@]}" --run-id big
expect "scheduler + 3 workers: the run over 100,000 records ends with exit 0" 0 "every job finished"
umask 022
results big big.out
check "pqrt results writes its plaintext mode 0600 under umask 022" test "$(stat -c %a big.out)" = 600
check "every record's result is present once, in record order, and equals sha256 of the record" \
  cmp -s big.out big.expected
check "the manifest accounts for every job once" \
  test "$(finished big)" -eq 100000
if [ "${TEST_STORAGE:-local}" = azure ]; then
  check "the scheduler and every worker unwrapped the data key in Key Vault" \
    test "$(fixture_stat "$FX_URL" '["by_route"]["unwrap"]')" -ge 4
fi

# --- 6: the same run id again enqueues nothing ---------------------------------------------------
jobs_before="$(redis-cli -u "$URL" dbsize)"
run "$PQRT" --role=scheduler $(common) "${BIG[@]}" --run-id big
expect "a second scheduler for the same run ends with exit 0" 0 "every job finished"
check "the second scheduler enqueued nothing" grep -q "records=100000 new=0" "$WORK/err"
check "no job was added to Redis or to the queue" \
  test "$(redis-cli -u "$URL" dbsize)" = "$jobs_before" -a "$(redis-cli -u "$URL" llen rq:queue:default)" = 0
stop_workers

# --- 3: kill -9 of a worker in the middle of a run ----------------------------------------------
workers 3 kill- "${BIG[@]}" --concurrency 2
"$PQRT" --role=scheduler $(common) "${BIG[@]}" --run-id killed >"$WORK/killed.log" 2>&1 &
SCHED=$!
PIDS+=("$SCHED")
wait_until 300 '[ "$(progress killed)" -ge 20000 ]'
victim="${WORKERS[0]}"
kill -KILL "$victim"
check "a worker was killed with kill -9 mid-run" wait_until 10 '! kill -0 '"$victim"
wait_pid "$SCHED" 600
check_log "the run still completes (exit 0)" killed.log test "$rc" -eq 0
results killed killed.out
check "every result exactly once, in record order, after the kill" cmp -s killed.out big.expected
check "the dead worker's jobs were returned by recovery" \
  grep -qE "worker died; its reserved jobs are back" "$WORK/killed.log" "$WORK"/kill-2.log "$WORK"/kill-3.log
stop_workers

# --- 4: SIGTERM to a worker under load ------------------------------------------------------------
"$PY" -c 'print("\n".join("record %d" % i for i in range(300)))' >slow.txt
seal slow.encrypted slow.txt
SLOW=(--encrypted-data-filename slow.encrypted --processor sleep:200 --shutdown-grace 20s)
workers 2 term- "${SLOW[@]}" --concurrency 4
"$PQRT" --role=scheduler $(common) "${SLOW[@]}" --run-id term >"$WORK/term.log" 2>&1 &
SCHED=$!
PIDS+=("$SCHED")
wait_until 120 '[ "$(progress term)" -ge 40 ]'
term_worker="${WORKERS[0]}"
term_name="$(grep -o 'worker=pqrt[^ ]*' "$WORK/term-1.log" | head -n 1 | cut -d= -f2)"
kill -TERM "$term_worker"
wait_pid "$term_worker" 60
check_log "SIGTERM: the worker exits 0 within the grace period" term-1.log test "$rc" -eq 0
check_log "SIGTERM: the worker deregistered" term-1.log \
  test "$(redis-cli -u "$URL" sismember rq:workers "rq:worker:$term_name")" = 0
check "SIGTERM: it holds no job any more" \
  test "$(redis-cli -u "$URL" llen "pqrt:processing:$term_name")" = 0
wait_pid "$SCHED" 300
check_log "SIGTERM: the run completes without losing a job" term.log test "$rc" -eq 0
results term term.out
check "SIGTERM: all 300 results are there" test "$(wc -l <term.out)" -eq 300
stop_workers

# --- 5: ten tampered records and a script that fails one record -------------------------------
"$PY" -c 'print("\n".join(("FAILME %d" if i == 150 else "record %d") % i for i in range(200)))' >bad.txt
"$PQRT" encrypt records "${KEYS[@]}" --in bad.txt --out bad.encrypted 2>/dev/null
# Change one character inside records 10..19 (lines 12..21: the header is line 1).
"$PY" -c '
import sys
lines = open(sys.argv[1]).read().split("\n")
for i in range(10, 20):
    l = lines[i + 1]
    c = l[40]
    lines[i + 1] = l[:40] + ("A" if c != "A" else "B") + l[41:]
open(sys.argv[1], "w").write("\n".join(lines))
' bad.encrypted
"$PQRT" upload $(common) bad.encrypted 2>/dev/null
cat >check.sh <<'SH'
#!/bin/sh
input="$(cat)"
case "$input" in
  FAILME*) echo "cannot process this record" >&2; exit 3 ;;
esac
printf '%s' "$input" | sha256sum | cut -c1-64
SH
script check.encrypted check.sh
BAD=(--encrypted-data-filename bad.encrypted --processor exec
  --encrypted-scheduler-script-filename check.encrypted --job-max-attempts 2)
workers 2 bad- "${BAD[@]}" --concurrency 2
run "$PQRT" --role=scheduler $(common) "${BAD[@]}" --run-id bad
expect "tampered records and a failing script: the scheduler exits non-zero" 1 "jobs failed"
named=1
for i in 10 11 12 13 14 15 16 17 18 19 150; do grep -qE "bad-$i(,|\b)" "$WORK/err" || named=0; done
check "the scheduler names exactly the 11 failed records" \
  test "$named" = 1 -a "$(grep -o 'failed=[0-9]*' "$WORK/err" | tail -n 1)" = "failed=11"
# The RQ jobs that hold them (records_per_job of them per job, the default 64): in rq:failed.
per_job="${PQRT_RECORDS_PER_JOB:-64}"
failed_jobs="$("$PY" -c 'import sys; n = int(sys.argv[1]); print(len({i // n for i in list(range(10, 20)) + [150]}))' "$per_job")"
check "the $failed_jobs RQ jobs that hold them are in rq:failed, no other" \
  test "$(redis-cli -u "$URL" zcard rq:failed:default)" = "$failed_jobs"
check "a tampered record's status record says why" \
  sh -c "redis-cli -u '$URL' hget task-status-bad-12 error | grep -q 'authentication failed'"
check "the failing script's status record keeps its stderr and exit code" \
  sh -c "redis-cli -u '$URL' hget task-status-bad-150 error | grep -q 'code 3: cannot process this record'"
check "every other job finished" \
  test "$(finished bad)" -eq 189
stop_workers

# --- 8: a result blob lost from storage after its jobs were recorded finished ---------------------
# result_blobs RUN RECORDS: the result blob each record's status names, one line per record in
# index order ("" for none yet).
result_blobs() {
  local i
  for i in $(seq 0 $(($2 - 1))); do echo "HGET task-status-$1-$i result"; done |
    redis-cli -u "$URL" 2>/dev/null
}
# delete_blob NAME: deletes a blob of the results container behind pqrt's back (local: the file;
# Azure: Delete Blob, signed with the account's Shared Key).
delete_blob() {
  if [ "${TEST_STORAGE:-local}" = azure ]; then
    AZ_KEY="$AZURITE_KEY" "$PY" - "$BLOB_PORT" "$1" <<'PY'
import base64, email.utils, hashlib, hmac, os, sys, urllib.request
port, name = sys.argv[1:3]
account, version, date = "devstoreaccount1", "2021-08-06", email.utils.formatdate(usegmt=True)
path = "/%s/results/%s" % (account, name)
to_sign = "DELETE\n" + "\n" * 11 + "x-ms-date:%s\nx-ms-version:%s\n/%s%s" % (date, version, account, path)
sig = hmac.new(base64.b64decode(os.environ["AZ_KEY"]), to_sign.encode(), hashlib.sha256).digest()
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method="DELETE", headers={
    "x-ms-date": date, "x-ms-version": version,
    "Authorization": "SharedKey %s:%s" % (account, base64.b64encode(sig).decode())})
sys.exit(0 if urllib.request.urlopen(req).status == 202 else 1)
PY
  else
    rm "$STORE/blobs/results/$1"
  fi
}
"$PY" -c 'print("\n".join("lost record %d" % i for i in range(600)))' >lost.txt
seal lost.encrypted lost.txt
expected lost.encrypted lost.expected
LOST=(--encrypted-data-filename lost.encrypted --processor sleep:40)
workers 2 lost- "${LOST[@]}" --concurrency 2
"$PQRT" --role=scheduler $(common) "${LOST[@]}" --run-id lost >"$WORK/lost.log" 2>&1 &
SCHED=$!
PIDS+=("$SCHED")
wait_until 120 '[ "$(progress lost)" -ge 100 ]'
result_blobs lost 600 >lost.blobs
victim="$(grep -m 1 . lost.blobs)"
n_victim="$(grep -cxF "$victim" lost.blobs)"
check "mid-run, a result blob of finished records is deleted from storage ($n_victim records)" \
  delete_blob "$victim"
check "... before the run ended" kill -0 "$SCHED"
wait_pid "$SCHED" 300
check_log "the scheduler notices, runs those records again and ends with exit 0" lost.log \
  test "$rc" -eq 0
check_log "... with one warning naming 1 missing blob and its $n_victim records" lost.log \
  test "$(grep -cE "result blobs are not in storage as written.* missing_blobs=1 wrong_size_blobs=0 records=$n_victim blobs=$victim" "$WORK/lost.log")" = 1
check_log "... enqueued again by a second pass over the data file: exactly those records" lost.log \
  grep -qE "every record is enqueued .*records=600 new=$n_victim" "$WORK/lost.log"
first="$(grep -nxF -m 1 "$victim" lost.blobs | cut -d: -f1)"
check "... the status record of one says why it ran again" \
  test "$(redis-cli -u "$URL" hget "task-status-lost-$((first - 1))" rerun)" = "result blob missing: $victim"
results lost lost.out
check "pqrt results gives every record once and right" cmp -s lost.out lost.expected

# A second scheduler for the finished run, after another blob was deleted (and, on local storage,
# one cut short by a byte): it re-runs those records too, with the workers still running.
result_blobs lost 600 >lost2.blobs
victim2="$(tail -n 1 lost2.blobs)"
n_victim2="$(grep -cxF "$victim2" lost2.blobs)"
check "after the run, another result blob is deleted ($n_victim2 records)" delete_blob "$victim2"
cut_blobs=0
if [ "${TEST_STORAGE:-local}" = local ]; then
  cut="$(head -n 1 lost2.blobs)"
  n_victim2=$((n_victim2 + $(grep -cxF "$cut" lost2.blobs)))
  check "... and another one is cut short by a byte" truncate -s -1 "$STORE/blobs/results/$cut"
  cut_blobs=1
fi
run "$PQRT" --role=scheduler $(common) "${LOST[@]}" --run-id lost
expect "a second scheduler for the run notices, re-runs them and ends with exit 0" 0 "every job finished"
check "... naming the missing (and short) blob and their $n_victim2 records" \
  grep -qE "result blobs are not in storage as written.* missing_blobs=1 wrong_size_blobs=$cut_blobs records=$n_victim2 " "$WORK/err"
check "... its first pass enqueued nothing, the second only those" \
  grep -qE "records=600 new=0.*records=600 new=$n_victim2" <(tr '\n' ' ' <"$WORK/err")
results lost lost2.out
check "pqrt results gives every record once and right after the second scheduler" \
  cmp -s lost2.out lost.expected
stop_workers

# --- 8: a burst worker with storage ends once the queues are empty ------------------------------
"$PY" -c 'print("\n".join("burst record %d" % i for i in range(300)))' >burst.txt
seal burst.encrypted burst.txt
expected burst.encrypted burst.expected
BURST=(--encrypted-data-filename burst.encrypted --processor sha256)
"$PQRT" --role=scheduler $(common) "${BURST[@]}" --run-id burst >"$WORK/burst.log" 2>&1 &
SCHED=$!
PIDS+=("$SCHED")
check "the burst run is enqueued" wait_until 60 'grep -q "new=300" "$WORK/burst.log"'
run timeout 120 "$PQRT" --role=worker $(common_worker) "${BURST[@]}" --burst --concurrency 2
expect "a burst worker with storage and a result path runs the queue and exits 0" 0 "burst done"
wait_pid "$SCHED" 120
check_log "the burst run completes (exit 0)" burst.log test "$rc" -eq 0
results burst burst.out
check "every record of the burst run once and right" cmp -s burst.out burst.expected

# --- 7: nothing in clear at rest -------------------------------------------------------------------
MARK="PQRT-MARKER-9c1e5b7d"
"$PY" -c 'import sys; print("\n".join("%s record %d" % (sys.argv[1], i) for i in range(500)))' "$MARK" >marked.txt
printf '#!/bin/sh\n# %s\ncat\n' "$MARK" >echo.sh
seal marked.encrypted marked.txt
script echo.encrypted echo.sh
MARKED=(--encrypted-data-filename marked.encrypted --processor exec
  --encrypted-scheduler-script-filename echo.encrypted)
workers 2 mark- "${MARKED[@]}" --concurrency 2
run "$PQRT" --role=scheduler $(common) "${MARKED[@]}" --run-id marked
expect "the marked run completes" 0 "every job finished"
stop_workers
results marked marked.out
check "the marked results decrypt to the records (the script echoes them)" \
  sh -c "cut -f2- marked.out | cmp -s - marked.txt"
redis-cli -u "$URL" --rdb "$WORK/dump.rdb" >/dev/null 2>&1
check "the Redis dump was taken" test -s "$WORK/dump.rdb"
check "the Redis dump holds no marker" sh -c "! grep -qa '$MARK' '$WORK/dump.rdb'"
check "the searched storage holds the runs' data (the search below is not vacuous)" \
  test "$(du -sm "$STORE" | cut -f1)" -ge 100
check "no file of the storage (${TEST_STORAGE:-local}) holds the marker" sh -c "! grep -rqa '$MARK' '$STORE'"

finish
