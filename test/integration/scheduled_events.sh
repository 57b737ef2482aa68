#!/usr/bin/env bash
# Spot evictions and scale-in: two pqrt workers on two simulated VMs (the Azure fixture's --vm
# IMDS ports, test/fixtures/azure_fixture.py) share a real redis-server and a few hundred slow
# jobs. A Preempt for VM 1 (NotBefore 30 s out): within 2 s it stops reserving (from Redis: no job
# reserved after that), within 30 s it holds no job (the two long jobs it runs are handed back at
# the deadline), the fixture has its StartRequests for that EventId, and it exits 0; the other
# worker, shown the same event naming VM 1, ignores it and finishes every job exactly once. A
# Terminate for VM 2 with NotBefore 5 minutes out: its running jobs finish, it acknowledges and
# exits 0, nothing is lost. IMDS answering errors, or not there at all, is logged once (and once
# when it answers again) and changes nothing. The only timed checks are the issue's bounds.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
RQTOOL="$SOURCE_DIR/test/integration/rq/rqtool.py"
VM1=pqrt-workers_0
VM2=pqrt-workers_1

PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"
check "the fixture starts with two VMs" start_fixture fx \
  --vm "name=$VM1,scale_set=pqrt-workers,role=worker" \
  --vm "name=$VM2,scale_set=pqrt-workers,role=worker"
FX="$FX_URL"
IMDS1="$(vm_url fx "$VM1")"
IMDS2="$(vm_url fx "$VM2")"

now() { date +%s.%N; }
# elapsed SINCE: seconds from the epoch time SINCE to now, as a decimal.
elapsed() { "$PY" -c 'import sys, time; print("%.2f" % (time.time() - float(sys.argv[1])))' "$1"; }
# le A B: true when the decimal A is at most B.
le() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$1" "$2"; }
# start_worker LOG IMDS [ARGS...]: a worker watching the Scheduled Events of the VM at IMDS.
start_worker() {
  local log="$1" imds="$2"
  shift 2
  "$PQRT" --role=worker --redis "$URL" --scheduled-events on --imds-endpoint "$imds" \
    --shutdown-grace-sec 40 "$@" >"$WORK/$log" 2>&1 &
  WORKER_PID=$!
  PIDS+=("$WORKER_PID")
}
workers() { redis-cli -u "$URL" smembers pqrt:workers; }
held() { redis-cli -u "$URL" llen "pqrt:processing:$1"; }
reserved_ids() { redis-cli -u "$URL" lrange "pqrt:processing:$1" 0 -1; }
metric() { curl -sf "http://$1/metrics" | grep -E "^$2 " | awk '{print $2}'; }
lines() { grep -c -- "$2" "$WORK/$1"; }

# --- the jobs: two long ones (60 s: still running when a Preempt's 30 s are up, with room for a
# late event under load) and 300 short ones --------------------------------------------------------
"$PY" "$RQTOOL" bulk "$URL" long long-ids.txt '2:pqrt.sleep_ms:[60000]' >/dev/null
"$PY" "$RQTOOL" bulk "$URL" default short-ids.txt '300:pqrt.sleep_ms:[500]' >/dev/null
cat long-ids.txt short-ids.txt >all-ids.txt
check "302 jobs are enqueued" test "$(wc -l <all-ids.txt)" -eq 302

# Worker 1 starts first and takes both long jobs; worker 2 prefers them too once they come back.
M1="127.0.0.1:$(free_port)"
M2="127.0.0.1:$(free_port)"
start_worker w1.log "$IMDS1" --queues long,default --concurrency 4 --metrics-listen "$M1"
P1=$WORKER_PID
check_log "worker 1 reserves both long jobs" w1.log \
  wait_until 30 '[ "$(reserved_ids "$(workers)" | grep -cxFf long-ids.txt)" -eq 2 ]'
W1="$(workers)"
start_worker w2.log "$IMDS2" --queues long,default --concurrency 4 --metrics-listen "$M2"
P2=$WORKER_PID
check_log "worker 2 registers" w2.log wait_until 30 '[ "$(workers | wc -l)" -eq 2 ]'
W2="$(workers | grep -vxF "$W1")"
check "both workers poll their VM's Scheduled Events" wait_until 30 \
  '[ "$(fixture_polls "$FX" "$VM1")" -ge 2 ] && [ "$(fixture_polls "$FX" "$VM2")" -ge 2 ]'
check "each knows its VM's name" \
  grep -q "watching scheduled events.*vm=$VM1" "$WORK/w1.log"
check "(worker 2 too)" grep -q "watching scheduled events.*vm=$VM2" "$WORK/w2.log"

# --- IMDS answering errors: logged once, once again when it recovers, nothing else changes -------
finished_count() { redis-cli -u "$URL" zcard rq:finished:default; }
before="$(finished_count)"
fixture_config "$FX" '{"imds_faults": {"/metadata/scheduledevents": [503, 500, 410, 404, 429, 503, 500, 410, 404, 429]}}'
faults_left() {
  curl -sf "$FX/_fixture/config" |
    "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["imds_faults"]["/metadata/scheduledevents"]))'
}
check "the workers poll through the injected IMDS faults" wait_until 60 '[ "$(faults_left)" -eq 0 ]'
check "and get answers again" wait_until 30 \
  'grep -q "IMDS answers again" w1.log && grep -q "IMDS answers again" w2.log'
for w in w1 w2; do
  check "$w logged the IMDS errors once" test "$(lines $w.log "IMDS does not answer")" -eq 1
  check "$w logged the recovery once" test "$(lines $w.log "IMDS answers again")" -eq 1
done
alive() { kill -0 "$1" 2>/dev/null; }
both_working() { alive "$P1" && alive "$P2" && [ "$(finished_count)" -gt "$before" ]; }
check "both kept working through the IMDS errors" both_working
check "and nothing drained" test "$(cat w1.log w2.log | grep -c "draining")" -eq 0
check "the poll errors are counted" test "$(metric "$M1" pqrt_scheduled_events_poll_errors_total)" -ge 1

# --- a Preempt for VM 1; VM 2 sees the same event (it names VM 1 only) ---------------------------
# Every first sighting of a job id in worker 1's processing list, until worker 1 has ended.
"$PY" - "$URL" "$W1" "$P1" "$WORK/w1-reserved.txt" <<'PY' &
import os, sys, time
from redis import Redis
r, key, pid = Redis.from_url(sys.argv[1]), "pqrt:processing:" + sys.argv[2], int(sys.argv[3])
seen, end = {}, time.time() + 180
while time.time() < end:
    try:
        os.kill(pid, 0)
    except OSError:
        break
    now = time.time()
    for job_id in r.lrange(key, 0, -1):
        seen.setdefault(job_id.decode(), now)
    time.sleep(0.05)
with open(sys.argv[4], "w") as out:
    for job_id, t in seen.items():
        out.write("%.3f %s\n" % (t, job_id))
PY
SPY=$!
PIDS+=("$SPY")
sleep 1  # the spy has seen what worker 1 holds before the event
EVENT=A5B1C3D2-0F5E-4C7B-9D11-2E7F00000001
PREEMPT="{\"Events\": [{\"EventId\": \"$EVENT\", \"EventType\": \"Preempt\", \"EventStatus\": \"Scheduled\",
  \"ResourceType\": \"VirtualMachine\", \"Resources\": [\"$VM1\"], \"NotBefore\": \"$(http_date 30)\",
  \"Description\": \"\", \"EventSource\": \"Platform\", \"DurationInSeconds\": -1}]}"
T0="$(now)"
fixture_events "$FX" "$VM1" "$PREEMPT" >/dev/null
fixture_events "$FX" "$VM2" "$PREEMPT" >/dev/null
check_log "worker 1 logs the Preempt for its VM and drains" w1.log \
  wait_until 10 'grep -q "scheduled event for this VM: draining.*event_id=$EVENT" w1.log'
check "worker 1's /metrics counts the event and the drain" \
  test "$(metric "$M1" 'pqrt_scheduled_events_seen_total\{type="Preempt",vm="this"\}')" = 1 -a \
  "$(metric "$M1" 'pqrt_scheduled_events_drains_total\{type="Preempt"\}')" = 1
check_log "worker 1 holds no job within 30 s" w1.log \
  wait_until 60 '[ "$(held "$W1")" -eq 0 ]'
took="$(elapsed "$T0")"
check "(it took $took s)" le "$took" 30
check_log "the jobs still running at the deadline were handed back" w1.log \
  grep -q "drain deadline: handing back the jobs still running.*jobs=2" "$WORK/w1.log"
wait_pid "$P1" 60
check_log "worker 1 exits 0" w1.log test "$rc" -eq 0
wait "$SPY" 2>/dev/null
late="$("$PY" -c '
import sys
limit = float(sys.argv[1]) + 2.0
print(sum(1 for line in open(sys.argv[2]) if float(line.split()[0]) > limit))' "$T0" w1-reserved.txt)"
check "worker 1 reserved no job from 2 s after the event on (Redis: its processing list)" \
  test "$late" -eq 0
check "worker 1 started none of the jobs it finished after that (Redis: their started_at)" "$PY" -c '
import datetime, sys
from redis import Redis
r, limit = Redis.from_url(sys.argv[1]), float(sys.argv[3]) + 2.0
for job_id in open(sys.argv[4]).read().split():
    name, started = r.hmget("rq:job:" + job_id, "worker_name", "started_at")
    if name and name.decode() == sys.argv[2] and started:
        t = datetime.datetime.strptime(started.decode(), "%Y-%m-%dT%H:%M:%S.%fZ")
        if t.replace(tzinfo=datetime.timezone.utc).timestamp() > limit:
            sys.exit("%s started at %s" % (job_id, started.decode()))
' "$URL" "$W1" "$T0" all-ids.txt
check "the fixture recorded worker 1's StartRequests for the event" \
  test "$(fixture_acks "$FX" "$VM1" "$EVENT" | wc -l)" -eq 1
check "it acknowledged after its tree had stopped and it had deregistered" "$PY" -c '
import sys
log = open(sys.argv[1]).read()
a, b = log.find("worker deregistered"), log.find("drained and acknowledged")
sys.exit(0 if -1 < a < b else 1)' "$WORK/w1.log"
check "worker 1 is no longer registered" test "$(workers | grep -cxF "$W1")" -eq 0
check "worker 2 ignored the event naming VM 1 (no drain)" \
  test "$(lines w2.log "draining")" -eq 0
check "worker 2 counted it as another VM's" \
  test "$(metric "$M2" 'pqrt_scheduled_events_seen_total\{type="Preempt",vm="other"\}')" -ge 1
check_log "worker 2 finishes every job" w2.log wait_until 300 \
  '[ "$(redis-cli -u "$URL" zcard rq:finished:default)" -eq 300 ] && [ "$(redis-cli -u "$URL" zcard rq:finished:long)" -eq 2 ]'
run "$PY" "$RQTOOL" verify "$URL" all-ids.txt
expect "every job finished exactly once, none lost" 0
no_ack_from_2() { alive "$P2" && [ -z "$(fixture_acks "$FX" "$VM2")" ]; }
check "worker 2 kept working and never acknowledged" no_ack_from_2

# --- a Terminate for VM 2, NotBefore 5 minutes out: running jobs finish, then it acknowledges ----
"$PY" "$RQTOOL" bulk "$URL" default term-ids.txt '12:pqrt.sleep_ms:[3000]' >/dev/null
check_log "worker 2 runs four of twelve 3 s jobs" w2.log \
  wait_until 30 '[ "$(held "$W2")" -eq 4 ]'
reserved_ids "$W2" >term-running.txt
TERM_EVENT=A5B1C3D2-0F5E-4C7B-9D11-2E7F00000002
fixture_events "$FX" "$VM2" "{\"Events\": [{\"EventId\": \"$TERM_EVENT\", \"EventType\": \"Terminate\",
  \"Resources\": [\"$VM2\"], \"NotBefore\": \"$(http_date 300)\", \"EventSource\": \"Platform\"}]}" >/dev/null
wait_pid "$P2" 90
check_log "worker 2 drains and exits 0" w2.log test "$rc" -eq 0
check "the fixture recorded worker 2's StartRequests for the Terminate" \
  test "$(fixture_acks "$FX" "$VM2" "$TERM_EVENT" | wc -l)" -eq 1
check "no job was handed back: the running ones could finish before NotBefore" \
  test "$(lines w2.log "handing back")" -eq 0
check "the four running jobs finished" "$PY" -c '
import sys
from redis import Redis
r = Redis.from_url(sys.argv[1])
ids = open(sys.argv[2]).read().split()
sys.exit(0 if len(ids) == 4 and all(r.hget("rq:job:" + i, "status") == b"finished" for i in ids) else 1)
' "$URL" term-running.txt
check "the others wait in their queue, none lost" "$PY" -c '
import sys
from redis import Redis
r = Redis.from_url(sys.argv[1])
ids = open(sys.argv[2]).read().split()
queued = set(x.decode() for x in r.lrange("rq:queue:default", 0, -1))
states = dict((i, r.hget("rq:job:" + i, "status")) for i in ids)
waiting = set(i for i, s in states.items() if s == b"queued")
ok = waiting == queued and len(waiting) >= 4 and \
    all(s in (b"queued", b"finished") for s in states.values())
sys.exit(0 if ok else "states: %r" % states)
' "$URL" term-ids.txt
check "no processing list is left" test -z "$(redis-cli -u "$URL" --scan --pattern 'pqrt:processing:*')"

# --- IMDS not there at all: logged once, and a burst worker finishes the rest --------------------
start_worker w3.log "http://127.0.0.1:$(free_port)" --queues default --concurrency 4 --burst
wait_pid "$WORKER_PID" 120
check_log "a worker whose IMDS does not exist runs the remaining jobs and exits 0" w3.log \
  test "$rc" -eq 0
check "it logged the missing IMDS once" test "$(lines w3.log "IMDS does not answer")" -eq 1
run "$PY" "$RQTOOL" verify "$URL" term-ids.txt
expect "the twelve jobs finished exactly once" 0

finish
