#!/usr/bin/env bash
# RQ interoperability with the real binary against real redis-servers and Python RQ 1.13:
# Python producer -> pqrt worker, pqrt producer -> Python `rq worker`, `rq info` / `rq requeue`
# on pqrt's workers and jobs, a pqrt worker killed with 100 jobs in flight, Redis restarted under
# a run, and TLS / AUTH failures. Python's side goes through the real `rq` package
# (test/integration/rq/rqtool.py); the functions `rq worker` runs are test/fixtures/tasks.py.
source "$(dirname "$0")/lib.sh"
cd "$WORK"

PY=/usr/bin/python3
RQ=/usr/bin/rq
RQTOOL="$SOURCE_DIR/test/integration/rq/rqtool.py"
export PYTHONPATH="$SOURCE_DIR/test/fixtures${PYTHONPATH:+:$PYTHONPATH}"
export COLUMNS=200  # rq info draws its bars to the terminal width

source "$(dirname "$0")/servers.sh"

# wait_count URL KEY TARGET: waits until ZCARD KEY reaches TARGET; fails early when the count
# stops moving for 60 s (a stalled run), not on slowness.
wait_count() {
  local url="$1" key="$2" target="$3" last=-1 n since=$SECONDS
  while :; do
    n="$(redis-cli -u "$url" zcard "$key" 2>/dev/null)"
    [ -n "$n" ] && [ "$n" -ge "$target" ] && return 0
    if [ "$n" != "$last" ]; then last="$n"; since=$SECONDS; fi
    if [ $((SECONDS - since)) -ge 60 ]; then
      echo "# stalled at $n of $target in $key"
      return 1
    fi
    sleep 0.2
  done
}

# Prints what pqrt workers still hold on a database (after a failure).
show_held() {
  local url="$1" name id
  for name in $(redis-cli -u "$url" smembers pqrt:workers); do
    for id in $(redis-cli -u "$url" lrange "pqrt:processing:$name" 0 -1); do
      echo "# held by $name: $id $(redis-cli -u "$url" hmget "rq:job:$id" status started_at | tr '\n' ' ')"
    done
  done | head -n 20
}

# check_held NAME URL COMMAND...: check, showing what the workers hold when it fails.
check_held() {
  local name="$1" url="$2"
  shift 2
  if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; show_held "$url"; fi
}

# start_worker LOG ARGS...: a pqrt worker in the background; sets WORKER_PID.
start_worker() {
  local log="$1"
  shift
  "$PQRT" --role=worker --log-format text "$@" >"$WORK/$log" 2>&1 &
  WORKER_PID=$!
  PIDS+=("$WORKER_PID")
}

# The single pqrt worker registered on a database (its name).
worker_name() { redis-cli -u "$1" smembers pqrt:workers | head -n 1; }

MAIN_PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$MAIN_PORT"
MAIN="redis://127.0.0.1:$MAIN_PORT"

# --- 1. Python producer -> pqrt worker ---------------------------------------------------------
for ser in pickle json; do
  url="$MAIN/1"
  q="py-to-pqrt-$ser"
  run "$PY" "$RQTOOL" enqueue "$url" "$q" "$ser" pqrt.upper '"abc"'
  expect "[$ser] Python Queue.enqueue('pqrt.upper', 'abc')" 0
  id="$(cat "$WORK/out")"
  ser_flag=()
  [ "$ser" = json ] && ser_flag=(--serializer json)
  run timeout 60 "$PQRT" --role=worker --log-format text --redis "$url" --queues "$q" --burst \
    "${ser_flag[@]}"
  expect "[$ser] a pqrt burst worker runs it and exits 0" 0
  run "$PY" "$RQTOOL" expect "$url" "$ser" "$id" finished "'ABC'"
  expect "[$ser] Python Job.fetch: status finished, return_value() 'ABC' ($(cat "$WORK/out"))" 0
done

# --- 2. pqrt producer -> Python rq worker ------------------------------------------------------
for ser in pickle json; do
  url="$MAIN/2"
  q="pqrt-to-py-$ser"
  ser_flag=()
  rq_ser=()
  [ "$ser" = json ] && ser_flag=(--serializer json) && rq_ser=(-S rq.serializers.JSONSerializer)
  run "$PQRT" enqueue --redis "$url" --queue "$q" --func tasks.add "${ser_flag[@]}" 2 3
  expect "[$ser] pqrt enqueue --func tasks.add 2 3" 0
  id="$(cat "$WORK/out")"
  run timeout 120 "$RQ" worker --burst --url "$url" "${rq_ser[@]}" "$q"
  expect "[$ser] rq worker --burst runs it" 0
  check "[$ser] rq worker reports the job OK" grep -q "Job OK ($id)" "$WORK/out" "$WORK/err"
  run "$PQRT" job --redis "$url" "${ser_flag[@]}" "$id"
  expect "[$ser] pqrt job exits 0 for the finished job" 0
  check "[$ser] pqrt job: status finished" grep -qx "status: finished" "$WORK/out"
  check "[$ser] pqrt job: result 5" grep -qx "result: 5" "$WORK/out"
done

# --- 3. rq info shows a pqrt worker: busy, idle, gone ------------------------------------------
url="$MAIN/3"
start_worker info-worker.log --redis "$url" --queues info-high,info-low --concurrency 2
info_pid=$WORKER_PID
check_log "the worker registers" info-worker.log wait_until 60 '[ -n "$(worker_name "$url")" ]'
wname="$(worker_name "$url")"
# Two sleepers fill both executors; then three more jobs wait in the queues behind them.
for _ in 1 2; do "$PQRT" enqueue --redis "$url" --queue info-high --func pqrt.sleep_ms 8000 >/dev/null; done
check "both sleepers start" wait_until 30 '[ "$(redis-cli -u "$url" zcard rq:wip:info-high)" -eq 2 ]'
check "the worker says busy" \
  wait_until 30 '[ "$(redis-cli -u "$url" hget "rq:worker:$wname" state)" = busy ]'
"$PQRT" enqueue --redis "$url" --queue info-high --func pqrt.echo x >/dev/null
"$PQRT" enqueue --redis "$url" --queue info-low --func pqrt.echo y >/dev/null
"$PQRT" enqueue --redis "$url" --queue info-low --func pqrt.echo z >/dev/null
run "$RQ" info --url "$url" -r
expect "rq info runs while the pqrt worker is busy" 0
cp "$WORK/out" "$WORK/info-busy.txt"
check "rq info counts 1 job queued on info-high" grep -qx "queue info-high 1" "$WORK/info-busy.txt"
check "rq info counts 2 jobs queued on info-low" grep -qx "queue info-low 2" "$WORK/info-busy.txt"
check "rq info lists the worker busy on both queues" \
  grep -qE "^worker $wname \(.* $info_pid\) busy info-high, info-low$" "$WORK/info-busy.txt"
run "$PQRT" info --redis "$url"
check "pqrt info agrees (2 started on info-high)" grep -q "^info-high queued 1 started 2 " "$WORK/out"
check "the jobs all finish" wait_until 120 '[ "$(redis-cli -u "$url" zcard rq:finished:info-low)" -eq 2 ]'
check "...and the worker goes idle" \
  wait_until 30 '[ "$(redis-cli -u "$url" hget "rq:worker:$wname" state)" = idle ]'
run "$RQ" info --url "$url" -r
cp "$WORK/out" "$WORK/info-idle.txt"
check "rq info then shows the worker idle" grep -qE "^worker $wname \(.*\) idle info-high, info-low$" "$WORK/info-idle.txt"
check "rq info then counts empty queues" \
  bash -c "grep -qx 'queue info-high 0' '$WORK/info-idle.txt' && grep -qx 'queue info-low 0' '$WORK/info-idle.txt'"
stop_pid "$info_pid"
check_log "SIGTERM stops the worker with exit 0" info-worker.log test "$rc" -eq 0
run "$RQ" info --url "$url" -r
check "rq info no longer lists the worker" bash -c "! grep -q '$wname' '$WORK/out'"
check "and the worker hash is marked dead" test -n "$(redis-cli -u "$url" hget "rq:worker:$wname" death)"
run "$RQ" info --url "$url"
check "rq info: 0 workers" grep -q "^0 workers, 2 queues" "$WORK/out"

# --- 4. a pqrt failure in Python's FailedJobRegistry; rq requeue runs it again -----------------
url="$MAIN/4"
q=failing
run "$PY" "$RQTOOL" enqueue "$url" "$q" pickle pqrt.fail '"boom from the rq interop suite"'
id="$(cat "$WORK/out")"
run timeout 60 "$PQRT" --role=worker --log-format text --redis "$url" --queues "$q" --burst
expect "a pqrt burst worker runs the failing job" 0
run "$PY" "$RQTOOL" failed-ids "$url" "$q"
check "the job is in Python's FailedJobRegistry" grep -qx "$id" "$WORK/out"
run "$PY" "$RQTOOL" exc-info "$url" pickle "$id"
check "Job.fetch(id).exc_info has the error text ($(head -c 300 "$WORK/out"))" \
  grep -q "boom from the rq interop suite" "$WORK/out"
check "the results stream has one failure entry" test "$(redis-cli -u "$url" xlen "rq:results:$id")" -eq 1
ended_first="$(redis-cli -u "$url" hget "rq:job:$id" ended_at)"
run "$RQ" requeue --all --url "$url" --queue "$q"
expect "rq requeue --all puts it back" 0
check "rq requeue says so" grep -q "Requeueing 1 jobs from failed queue" "$WORK/out"
check "the job is queued again" test "$(redis-cli -u "$url" lrange "rq:queue:$q" 0 -1)" = "$id"
run timeout 60 "$PQRT" --role=worker --log-format text --redis "$url" --queues "$q" --burst
expect "a pqrt burst worker runs the requeued job" 0
check "the results stream gains a second entry" test "$(redis-cli -u "$url" xlen "rq:results:$id")" -eq 2
check "ended_at changes" test "$(redis-cli -u "$url" hget "rq:job:$id" ended_at)" != "$ended_first"
run "$PY" "$RQTOOL" failed-ids "$url" "$q"
check "and it is in the FailedJobRegistry again" grep -qx "$id" "$WORK/out"

# --- 5. kill -9 with 100 jobs in flight: a second worker finishes all 10,000 exactly once ------
url="$MAIN/5"
q=crash
run timeout 300 "$PY" "$RQTOOL" bulk "$url" "$q" "$WORK/crash-ids.txt" \
  '100:pqrt.sleep_ms:[3000]' '9900:pqrt.echo:["payload"]'
expect "10,000 jobs enqueued from Python (100 sleepers first)" 0
start_worker crash-worker-1.log --redis "$url" --queues "$q" --concurrency 100
victim=$WORKER_PID
check_log "the first worker reserves 100 jobs" crash-worker-1.log \
  wait_until 120 '[ "$(redis-cli -u "$url" zcard "rq:wip:$q")" -ge 100 ]'
victim_name="$(worker_name "$url")"
held="$(redis-cli -u "$url" llen "pqrt:processing:$victim_name")"
kill -KILL "$victim"
killed_at=$(date +%s%N)
wait "$victim" 2>/dev/null
check "it held 100 started jobs when killed (processing list: $held)" test "$held" -eq 100
check "nothing finished before the kill" test "$(redis-cli -u "$url" zcard "rq:finished:$q")" -eq 0
start_worker crash-worker-2.log --redis "$url" --queues "$q" --concurrency 100
rescuer=$WORKER_PID
wait_until 120 '[ "$(redis-cli -u "$url" llen "pqrt:processing:$victim_name")" -eq 0 ]'
recovered_ms=$((($(date +%s%N) - killed_at) / 1000000))
check "the dead worker's jobs are back within 30 s (took ${recovered_ms} ms)" test "$recovered_ms" -lt 30000
check_held "all 10,000 finish" "$url" wait_count "$url" "rq:finished:$q" 10000
stop_pid "$rescuer"
check_log "the second worker stops on SIGTERM with exit 0" crash-worker-2.log test "$rc" -eq 0
run timeout 300 "$PY" "$RQTOOL" verify "$url" "$WORK/crash-ids.txt"
expect "every job finished exactly once ($(head -n 3 "$WORK/out" | tr '\n' ' '))" 0
check "no job failed" test "$(redis-cli -u "$url" zcard "rq:failed:$q")" -eq 0
check "the queue is empty" test "$(redis-cli -u "$url" llen "rq:queue:$q")" -eq 0
check "the started registry is empty" test "$(redis-cli -u "$url" zcard "rq:wip:$q")" -eq 0
check "no processing list is left" test -z "$(redis-cli -u "$url" --scan --pattern 'pqrt:processing:*')"

# --- 6. Redis restarted (AOF) under a 10,000-job run -------------------------------------------
# Three restarts at different points of the one run: each `redis-cli shutdown` (AOF flushed) may
# cut any of the worker's calls (reserve, outcome, heartbeat) between sending and the reply.
AOF_PORT="$(free_port)"
aof_args=(--appendonly yes --appendfsync always)
check "an AOF redis-server starts" start_redis_plain aof "$AOF_PORT" "${aof_args[@]}"
aof_pid=$REDIS_PID
url="redis://127.0.0.1:$AOF_PORT/0"
q=restart
run timeout 300 "$PY" "$RQTOOL" bulk "$url" "$q" "$WORK/restart-ids.txt" '10000:pqrt.sleep_ms:[1]'
expect "10,000 jobs enqueued on the AOF server" 0
start_worker restart-worker.log --redis "$url" --queues "$q" --concurrency 8
restart_worker=$WORKER_PID
for at in 1000 4000 7000; do
  check "the run reaches $at finished jobs" wait_count "$url" "rq:finished:$q" "$at"
  redis-cli -u "$url" shutdown >/dev/null 2>&1
  wait_pid "$aof_pid" 60
  check "redis-cli shutdown stops the server (at $at)" test "$rc" -ne 124
  check "it starts again on the same port and dir" start_redis_plain aof "$AOF_PORT" "${aof_args[@]}"
  aof_pid=$REDIS_PID
  done_now="$(redis-cli -u "$url" zcard "rq:finished:$q")"
  check "the restart was in the middle of the run ($done_now of 10000 finished)" \
    test "$done_now" -gt 0 -a "$done_now" -lt 10000
done
check_held "the worker reconnects and all 10,000 finish" "$url" \
  wait_count "$url" "rq:finished:$q" 10000
check "the worker is still running" kill -0 "$restart_worker"
stop_pid "$restart_worker"
check_log "it stops on SIGTERM with exit 0" restart-worker.log test "$rc" -eq 0
run timeout 300 "$PY" "$RQTOOL" verify "$url" "$WORK/restart-ids.txt"
expect "every job finished exactly once across the restarts ($(head -n 3 "$WORK/out" | tr '\n' ' '))" 0
check "no job failed across the restarts" test "$(redis-cli -u "$url" zcard "rq:failed:$q")" -eq 0
check "queue and started registry are empty" \
  test "$(redis-cli -u "$url" llen "rq:queue:$q")$(redis-cli -u "$url" zcard "rq:wip:$q")" = 00

# --- 7. TLS (rediss://) and AUTH --------------------------------------------------------------
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
{
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=pqrt-rq-test-ca
  openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=pqrt-other-ca
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
  openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=localhost
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile server.ext
  openssl req "${ec[@]}" -keyout rogue.key -out rogue.csr -subj /CN=localhost
  openssl x509 -req -in rogue.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
    -out rogue.pem -days 2 -extfile server.ext
} >openssl.log 2>&1
check "openssl makes a test CA and server certificates" test -s server.pem -a -s rogue.pem

TLS_PORT="$(free_port)"
check "a TLS redis-server starts" start_redis tls "$TLS_PORT" --port 0 --tls-port "$TLS_PORT" \
  --tls-cert-file "$WORK/server.pem" --tls-key-file "$WORK/server.key" \
  --tls-ca-cert-file "$WORK/ca.pem" --tls-auth-clients no
url="rediss://127.0.0.1:$TLS_PORT/0?ca=$WORK/ca.pem"
ids=()
for i in 1 2; do
  run "$PQRT" enqueue --redis "$url" --queue tls --func pqrt.sha256 "tls-$i"
  expect "pqrt enqueue over rediss:// ($i)" 0
  ids+=("$(cat "$WORK/out")")
done
start_worker tls-worker.log --redis "$url" --queues tls --concurrency 2
tls_worker=$WORKER_PID
want="$(printf 'tls-3' | openssl dgst -sha256 -r | cut -d' ' -f1)"
run "$PQRT" enqueue --redis "$url" --queue tls --func pqrt.sha256 --wait 120 tls-3
expect "a pqrt worker over rediss:// runs the jobs (enqueue --wait shows it finished)" 0
check "with the right result" grep -qx "result: '$want'" "$WORK/out"
for id in "${ids[@]}"; do
  run "$PQRT" job --redis "$url" "$id"
  check "job $id enqueued before the worker started finished over TLS" grep -qx "status: finished" "$WORK/out"
done
stop_pid "$tls_worker"
check_log "the TLS worker stops on SIGTERM with exit 0" tls-worker.log test "$rc" -eq 0

ROGUE_PORT="$(free_port)"
check "a TLS redis-server with a certificate of another CA starts" start_redis rogue \
  "$ROGUE_PORT" --port 0 --tls-port "$ROGUE_PORT" --tls-cert-file "$WORK/rogue.pem" \
  --tls-key-file "$WORK/rogue.key" --tls-ca-cert-file "$WORK/other-ca.pem" --tls-auth-clients no
url="rediss://127.0.0.1:$ROGUE_PORT/0?ca=$WORK/ca.pem"
run timeout 120 "$PQRT" enqueue --redis "$url" --queue tls --func pqrt.echo x
expect "pqrt enqueue refuses a server certificate from another CA" 1 "certificate verify failed"
run timeout 60 "$PQRT" --role=worker --log-format text --redis "$url" --queues tls
expect "a pqrt worker refuses it too" 1 "certificate verify failed"

AUTH_PORT="$(free_port)"
check "a redis-server with a password starts" start_redis auth "$AUTH_PORT" --requirepass right-pw-3f9a1c
wrong=wrong-pw-7d2e5b
secret right-pw-3f9a1c "$wrong"
url="redis://:$wrong@127.0.0.1:$AUTH_PORT/0"
run timeout 120 "$PQRT" enqueue --redis "$url" --queue auth --func pqrt.echo x
expect "pqrt enqueue with a wrong password fails naming it" 1 "WRONGPASS|password"
check "without printing the password" bash -c "! grep -q '$wrong' '$WORK/out' '$WORK/err'"
run timeout 60 "$PQRT" --role=worker --log-format text --redis "$url" --queues auth
expect "a pqrt worker with a wrong password fails naming it" 1 "WRONGPASS|password"
check "without printing the password" bash -c "! grep -q '$wrong' '$WORK/out' '$WORK/err'"
run "$PQRT" enqueue --redis "redis://:right-pw-3f9a1c@127.0.0.1:$AUTH_PORT/0" --queue auth --func pqrt.echo x
expect "the right password works" 0

finish
