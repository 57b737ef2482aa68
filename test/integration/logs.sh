#!/usr/bin/env bash
# The azure log sink and `pqrt logs`, on Azurite: a scheduler and a worker run a pipeline with
# `log_sink azure`, their lines going to a second Azurite (log_blob_endpoint) while the data and
# results stay in the first. `pqrt logs --run-id` shows the scheduler's and the worker's lines in
# time order, as text or JSON lines, filtered by role and level. Then the log Azurite hangs
# (SIGSTOP) and dies (SIGKILL) in the middle of a second run: the run completes at the first run's
# pace (a loose bound: noise, not a benchmark), the worker's memory stays bounded, lines beyond
# the (1 KiB) buffer are dropped, and once the log Azurite is back the count is logged and
# shipped. The shipped lines are kept for the secret scan.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
check "the data Azurite starts" start_azurite "$WORK/azurite-data"
STORAGE=("${AZURE_STORAGE[@]}")
DATA_BLOB_PID="${PIDS[-2]}"
check "the log Azurite starts" start_azurite "$WORK/azurite-logs"
LOG_BLOB_PID="${PIDS[-2]}"
LOG_PORT="$BLOB_PORT"
LOG_URL="$BLOB_URL"
: "$DATA_BLOB_PID"
PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"
"$PQRT" keygen rsa --out rsa.pem --public-out rsa.pub.pem 2>/dev/null
"$PQRT" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted 2>/dev/null
common() {
  echo --redis "$URL" "${STORAGE[@]}" --key-source local --rsa-private-key-file "$WORK/rsa.pem" \
    --encrypted-aes-key-filename aes.encrypted
}
SINK=(--log-sink azure --log-blob-endpoint "$LOG_URL" --log-buffer-kb 1)
RECORDS=3000
"$PY" -c "print('\n'.join('record %d' % i for i in range($RECORDS)))" >records.txt
"$PQRT" encrypt records --key aes.encrypted --unwrap-with rsa.pem --in records.txt \
  --out records.encrypted 2>/dev/null
"$PQRT" upload $(common) records.encrypted aes.encrypted 2>/dev/null
RUN=(--encrypted-data-filename records.encrypted --processor sleep:2 --records-per-job 16)

"$PQRT" --role=worker $(common) "${SINK[@]}" "${RUN[@]}" --concurrency 2 >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
# run_timed RUN_ID [DURING]: a scheduler run to its end (DURING runs meanwhile); its exit code in
# rc, in secs the seconds from the run's creation to its end as the run records them (not the
# process's exit, which may wait up to 15 s for a last log append).
run_timed() {
  "$PQRT" --role=scheduler $(common) "${SINK[@]}" "${RUN[@]}" --run-id "$1" \
    >"$WORK/scheduler-$1.log" 2>&1 &
  SCHED=$!
  PIDS+=("$SCHED")
  [ -n "${2:-}" ] && "$2"
  wait_pid "$SCHED" 600
  secs="$("$PY" - "$(redis-cli -u "$URL" hget "pqrt:run:$1" created_at)" \
    "$(redis-cli -u "$URL" hget "pqrt:run:$1" finished_at)" <<'PY'
import datetime, sys
t = [datetime.datetime.strptime(x, "%Y-%m-%dT%H:%M:%S.%fZ") for x in sys.argv[1:]]
print(round((t[1] - t[0]).total_seconds(), 2))
PY
)"
}
run_timed r1
check_log "run 1 completes with the sink on (exit 0)" scheduler-r1.log test "$rc" -eq 0
base_secs="$secs"

LOGS=("$PQRT" logs $(common) --log-blob-endpoint "$LOG_URL")
run "${LOGS[@]}" --run-id r1
expect "pqrt logs --run-id r1 reads the shipped lines" 0
cp "$WORK/out" shipped-r1.txt
check "they hold the scheduler's lines (its start and the run's end)" \
  sh -c "grep -q ' scheduler scheduler: starting' shipped-r1.txt && grep -q 'every job finished' shipped-r1.txt"
check "and the worker's, with the VM (host) and role on each line" \
  grep -q " $(hostname) worker " shipped-r1.txt
check "in time order, across both processes" \
  sh -c "cut -d' ' -f1 shipped-r1.txt | sort -c"
check "each line once: no batch appended twice" \
  test "$(sort shipped-r1.txt | uniq -d | wc -l)" -eq 0
run "${LOGS[@]}" --run-id r1 --role scheduler --format json
expect "--role scheduler --format json" 0
check "gives JSON lines of the scheduler only, each with ts, vm, role, level, component, msg" "$PY" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(not (lines and all(l["role"] == "scheduler" and l["vm"] and l["ts"] and l["level"] and
                            l["component"] and "msg" in l for l in lines)))' "$WORK/out"
run "${LOGS[@]}" --since 1h --level warn
expect "--level warn" 0
check "shows only warnings and errors" sh -c "! grep -v ' warn \| error ' '$WORK/out' | grep -q ."
run "${LOGS[@]}" --since 1h --vm no-such-vm
expect "--vm filters by VM" 0
check "no line for a VM that shipped none" test ! -s "$WORK/out"
run "${LOGS[@]}" --since forever
expect "a bad --since is a usage error naming it" 2 "--since: 'forever'"

# --- the log storage hangs, then dies, in the middle of run 2 -------------------------------------
outage() {
  wait_until 120 '[ "$(redis-cli -u "$URL" bitcount pqrt:run:r2:finished)" -ge 300 ]'
  kill -STOP "$LOG_BLOB_PID"
  wait_until 300 '[ "$(redis-cli -u "$URL" bitcount pqrt:run:r2:finished)" -ge 1500 ]'
  kill -KILL "$LOG_BLOB_PID"
}
run_timed r2 outage
check_log "run 2 completes while the log storage hangs and then is gone (exit 0)" scheduler-r2.log \
  test "$rc" -eq 0
check "its pace is the first run's, within noise ($secs s vs $base_secs s; bound 2x + 2 s)" \
  "$PY" -c "import sys; sys.exit(not ($secs <= 2 * $base_secs + 2))"
# The worker, idle now, logs while the log storage is gone: 40 unknown RQ commands, a warning
# line each, far more than its 1 KiB buffer holds.
NAME="$(redis-cli -u "$URL" smembers rq:workers | head -n 1)"
for i in $(seq 40); do
  redis-cli -u "$URL" publish "rq:pubsub:${NAME#rq:worker:}" "{\"command\": \"nope-$i\"}" >/dev/null
done
check_log "the worker logged them (on stderr)" worker.log \
  wait_until 30 "[ \$(grep -c 'unknown command ignored' '$WORK/worker.log') -eq 40 ]"
check_log "the worker said the log storage failed, on stderr" worker.log \
  wait_until 60 "grep -q 'log_shipper: appending log lines failed\|log_shipper: cannot' '$WORK/worker.log'"
hwm="$(awk '/VmHWM/ {print $2}' "/proc/$WORKER/status")"
check "the worker's peak memory stays bounded (${hwm} KiB < 200 MiB)" test "${hwm:-999999}" -lt 204800
"$SOURCE_DIR/.deps/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$LOG_PORT" \
  --location "$WORK/azurite-logs" --skipApiVersionCheck --silent >"$WORK/azurite-blob-2.log" 2>&1 &
PIDS+=($!)
check_log "once the log storage is back, the worker logs how many lines it dropped" worker.log \
  wait_until 120 "grep -q 'log storage reachable again.*dropped_lines=[1-9]' '$WORK/worker.log'"
worker_shipped() { "${LOGS[@]}" --since 1h --role worker 2>/dev/null; }
check "that count is shipped too" \
  wait_until 60 "worker_shipped | grep -q 'log storage reachable again; lines were dropped meanwhile dropped_lines=[1-9]'"
# --follow prints lines as they are shipped, until SIGTERM.
"${LOGS[@]}" --since 1m --role worker --follow >"$WORK/follow.out" 2>"$WORK/follow.err" &
FOLLOW=$!
PIDS+=("$FOLLOW")
sleep 1
redis-cli -u "$URL" publish "rq:pubsub:${NAME#rq:worker:}" '{"command": "followed-line"}' >/dev/null
check "--follow shows a line the worker logs after it started" \
  wait_until 60 "grep -q 'unknown command ignored.*followed-line' '$WORK/follow.out'"
stop_pid "$FOLLOW"
check "--follow ends cleanly on SIGTERM (exit 0)" test "$rc" -eq 0
run "${LOGS[@]}" --since 1h --format json
cp "$WORK/out" "$WORK/shipped.log"
check "the shipped logs hold no Azurite key (the secret scan reads them too)" \
  sh -c "! grep -qF '$AZURITE_KEY' '$WORK/shipped.log'"
stop_pid "$WORKER"
check_log "the worker stops (exit 0)" worker.log test "$rc" -eq 0
finish
