#!/usr/bin/env bash
# The scheduler's autoscaler against the ARM fixture (test/fixtures/azure_fixture.py: a scale set
# whose capacity PATCHes it records and serves back) and a real redis-server, on a real run: a
# scheduler enqueues 10,000 one-record jobs, and a fleet follower here starts and stops real
# `pqrt --role=worker` processes (sleep:10 jobs) to match the capacity the autoscaler set, as the
# scale set would, a scale-in stopping the newest worker with SIGTERM (its drain). Checked: the
# scale set grows to the count the logged inputs call for and never past the maximum, shrinks
# while work remains but never below the minimum, ends at the minimum once the run ended; no two
# changes closer than the scale-out cooldown and a scale-in no sooner than the scale-in cooldown
# after the change before; the first PATCH is throttled (429, Retry-After: 1) and sent again after
# it; the run finishes every record. Then: dry run sends no PATCH; a 403 from ARM is one clear
# error line, and the run goes on to its end.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
SUB=00000000-1111-2222-3333-444444444444
RG=pqrt-rg
SCALE_SET="/subscriptions/$SUB/resourceGroups/$RG/providers/Microsoft.Compute/virtualMachineScaleSets/vmss1"
fixture_secret
check "the ARM fixture starts (one scale set, capacity 0)" start_fixture arm --subscription "$SUB" \
  --resource-group "$RG" --vms 0 --scale-sets 1 --instances 0
ARM="$FX_URL"
PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"
STORE="$WORK/store"
"$PQRT" keygen rsa --out rsa.pem --public-out rsa.pub.pem 2>/dev/null
"$PQRT" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted 2>/dev/null
common() {
  echo --redis "$URL" --storage local --local-storage-dir "$STORE" --key-source local \
    --rsa-private-key-file "$WORK/rsa.pem" --encrypted-aes-key-filename aes.encrypted
}
IDENTITY=(--tenant-id "$FX_TENANT" --service-principal-client-id "$FX_CLIENT_ID"
  --azure-authority-host "$ARM" --arm-endpoint "$ARM" --azure-timeout-sec 10)
# data NAME COUNT: COUNT records, encrypted and uploaded as NAME.
data() {
  "$PY" -c "import sys; print('\n'.join('record %d' % i for i in range(int(sys.argv[1]))))" "$2" >"$1.txt"
  "$PQRT" encrypt records --key aes.encrypted --unwrap-with rsa.pem --in "$1.txt" --out "$1" 2>/dev/null
  "$PQRT" upload $(common) "$1" aes.encrypted 2>/dev/null
}
data big.encrypted 10000
data small.encrypted 400
# patches: the fixture's record of capacity PATCHes, one JSON object a line.
patches() {
  curl -sf "$ARM/_fixture/stats" | "$PY" -c '
import json, sys
for p in json.load(sys.stdin)["capacity_patches"]:
    print(json.dumps(p))'
}

# --- the fleet follower: as many workers as the capacity last set ---------------------------------
cat >fleet.py <<'PY'
import json, os, signal, subprocess, sys, time, urllib.request

arm, stop_file, log = sys.argv[1], sys.argv[2], sys.argv[3]
cmd = sys.argv[4:]
workers, stopping, n = [], [], 0
with open(log, "a") as out:
    while not os.path.exists(stop_file):
        stats = json.load(urllib.request.urlopen(arm + "/_fixture/stats", timeout=10))
        ok = [p["capacity"] for p in stats["capacity_patches"] if p["status"] == 200]
        want = ok[-1] if ok else 0
        while len(workers) < want:
            n += 1
            w = subprocess.Popen(cmd, stdout=open("fleet-%d.log" % n, "w"), stderr=subprocess.STDOUT)
            workers.append(w)
            out.write(json.dumps({"t": time.time(), "start": n, "workers": len(workers)}) + "\n")
        while len(workers) > want:  # the newest goes, as a scale-in removes the highest ids
            w = workers.pop()
            w.send_signal(signal.SIGTERM)
            stopping.append(w)
            out.write(json.dumps({"t": time.time(), "stop": w.pid, "workers": len(workers)}) + "\n")
        out.flush()
        time.sleep(0.2)
    for w in workers:
        w.send_signal(signal.SIGTERM)
    codes = [w.wait(timeout=120) for w in workers + stopping]
    out.write(json.dumps({"t": time.time(), "exit_codes": codes}) + "\n")
PY
WORKER_CMD=("$PQRT" --role=worker $(common) --processor sleep:10 --concurrency 1)
MIN=1
MAX=3
DRAIN=10
OUT_COOL=2
IN_COOL=4
"$PY" fleet.py "$ARM" "$WORK/fleet.stop" "$WORK/fleet.jsonl" "${WORKER_CMD[@]}" 2>"$WORK/fleet.err" &
FLEET=$!
PIDS+=("$FLEET")
# The first PATCH is throttled: the client waits out its Retry-After and sends it again.
fixture_config "$ARM" '{"arm_throttle_patches": 1}'
"$PQRT" --role=scheduler $(common) "${IDENTITY[@]}" --run-id big --records-per-job 1 \
  --encrypted-data-filename big.encrypted --processor sleep:10 \
  --autoscale-scale-set-id "$SCALE_SET" --autoscale-min-workers "$MIN" \
  --autoscale-max-workers "$MAX" --autoscale-target-drain-sec "$DRAIN" --autoscale-interval-sec 1 \
  --autoscale-scale-out-cooldown-sec "$OUT_COOL" --autoscale-scale-in-cooldown-sec "$IN_COOL" \
  >"$WORK/scheduler.log" 2>&1 &
SCHED=$!
PIDS+=("$SCHED")
wait_pid "$SCHED" 600
check_log "the autoscaled run completes: every record finished (scheduler exit 0)" scheduler.log \
  test "$rc" -eq 0
touch "$WORK/fleet.stop"
wait_pid "$FLEET" 180
check "the fleet's workers all stopped cleanly (SIGTERM drains, exit 0)" \
  "$PY" -c 'import json, sys; e = [json.loads(l) for l in open(sys.argv[1])][-1]; sys.exit(not (e.get("exit_codes") and set(e["exit_codes"]) == {0}))' "$WORK/fleet.jsonl"
"$PQRT" download $(common) --container results --name big/manifest.jsonl --out manifest.jsonl 2>/dev/null
check "the manifest lists 10,000 records, each once, finished" "$PY" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()[1:]
recs = [json.loads(l) for l in lines]
idx = [r["index"] for r in recs]
sys.exit(not (len(idx) == 10000 and sorted(idx) == list(range(10000)) and
              all(r["state"] == "finished" for r in recs)))' manifest.jsonl
patches >patches.jsonl
grep 'autoscaler: decision' scheduler.log >decisions.log
# The checks over the PATCHes and the decisions, in one place (each prints why when it fails).
cat >judge.py <<'PY'
import json, math, re, sys

what, patches_file, log_file = sys.argv[1], sys.argv[2], sys.argv[3]
mn, mx, drain, out_cool, in_cool = (float(x) for x in sys.argv[4:9])
patches = [json.loads(l) for l in open(patches_file)]
ok = [p for p in patches if p["status"] == 200]
fields = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
decisions = []
for line in open(log_file):
    d = {k: v.strip('"') for k, v in fields.findall(line)}
    decisions.append(d)
changes = [d for d in decisions if d.get("action") in ("scale_out", "scale_in")]
ended = [d for d in decisions if "the run ended" in d.get("why", "")]

def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)

if what == "throttled":
    if not patches or patches[0]["status"] != 429:
        fail("the first PATCH was not the throttled one: %s" % patches[:2])
    if len(patches) < 2 or patches[1]["status"] != 200 or \
            patches[1]["capacity"] != patches[0]["capacity"] or \
            patches[1]["time"] - patches[0]["time"] < 1.0:
        fail("the 429 was not honoured (same PATCH again, at least 1 s later): %s" % patches[:2])
elif what == "max":
    caps = [p["capacity"] for p in ok]
    if max(caps) != mx or any(c > mx or c < 0 for c in caps):
        fail("capacities %s: want the maximum %d reached and never passed" % (caps, mx))
elif what == "computed":
    # Every scale-out during the run set what the logged inputs call for: the workers that
    # drain queued + in flight within the target at the logged rate, clamped to [min, max].
    outs = [d for d in changes if d["action"] == "scale_out" and d not in ended]
    rated = [d for d in outs if d["rate"] != "none"]
    if not rated:
        fail("no scale-out on a measured rate: %s" % outs)
    for d in outs:
        work = int(d["queued"]) + int(d["in_flight"])
        if d["rate"] == "none":
            want = max(mn, 1, int(d["current"]))
        else:
            want = math.ceil(work / (float(d["rate"]) * drain) - 1e-9)
            want = min(max(want, mn, 1 if work else 0), mx)
        if int(d["target"]) != want:
            fail("decision %s: target %s, the inputs call for %d" % (d, d["target"], want))
elif what == "scale_in":
    ins = [d for d in changes if d["action"] == "scale_in" and d not in ended]
    busy = [d for d in ins if int(d["queued"]) + int(d["in_flight"]) > 0]
    if not busy:
        fail("no scale-in while work remained: %s" % ins)
    low = [d for d in busy if int(d["target"]) < mn]
    if low:
        fail("scale-in below the minimum while work remained: %s" % low)
    caps = [p["capacity"] for p in ok]
    if min(caps[:-1]) < mn:
        fail("a capacity below the minimum before the end: %s" % caps)
elif what == "end":
    if not ended or int(ended[-1]["target"]) != mn:
        fail("no end-of-run decision to the minimum: %s" % ended)
    if ok[-1]["capacity"] != mn:
        fail("the last capacity set is %s, not the minimum" % ok[-1])
elif what == "cooldowns":
    for a, b in zip(ok, ok[1:-1] if len(ok) > 2 else []):
        if b["time"] - a["time"] < out_cool - 0.05:
            fail("two changes %.2f s apart (cooldown %g s): %s %s" % (b["time"] - a["time"],
                                                                        out_cool, a, b))
    for a, b in zip(ok, ok[1:-1]):
        if b["capacity"] < a["capacity"] and b["time"] - a["time"] < in_cool - 0.05:
            fail("a scale-in %.2f s after the change before (cooldown %g s): %s %s" % (
                b["time"] - a["time"], in_cool, a, b))
elif what == "none":
    if patches:
        fail("PATCHes sent: %s" % patches)
else:
    fail("unknown check " + what)
PY
judge() { "$PY" judge.py "$1" patches.jsonl decisions.log "$MIN" "$MAX" "$DRAIN" "$OUT_COOL" "$IN_COOL" 2>>"$WORK/judge.err"; }
check "the first PATCH got 429 and was sent again after its Retry-After" judge throttled
check "the scale set grew to the maximum ($MAX) and never past it" judge max
check "each scale-out set the count the logged queue and rate call for" judge computed
check "it scaled in while work remained, never below the minimum ($MIN)" judge scale_in
check "once the run ended it went to the minimum" judge end
check "no two changes closer than the scale-out cooldown; a scale-in waits the scale-in cooldown" judge cooldowns
check "every round logged one decision with its inputs" \
  sh -c "[ \$(wc -l <decisions.log) -ge 5 ] && grep -q 'queued=.*in_flight=.*workers=.*rate=.*current=.*needed=.*target=.*action=.*why=' decisions.log"
[ -s "$WORK/judge.err" ] && sed 's/^/# /' "$WORK/judge.err"

# --- dry run and 403, with one worker of our own ---------------------------------------------------
"$PQRT" --role=worker $(common) --processor sleep:10 --concurrency 1 >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
before="$(patches | wc -l)"
run "$PQRT" --role=scheduler $(common) "${IDENTITY[@]}" --run-id dry --records-per-job 1 \
  --encrypted-data-filename small.encrypted --processor sleep:10 \
  --autoscale-scale-set-id "$SCALE_SET" --autoscale-min-workers 2 --autoscale-max-workers 3 \
  --autoscale-interval-sec 1 --autoscale-dry-run true
expect "dry run: the run completes" 0
check "dry run: decisions were logged, with what it would have done" \
  grep -q 'autoscaler: decision.*action="\{0,1\}scale_out (dry run)' "$WORK/err"
check "dry run: no PATCH was sent" test "$(patches | wc -l)" = "$before"

fixture_config "$ARM" '{"arm_forbid": true}'
arm_before="$(fixture_stat "$ARM" '["arm_requests"]')"
run "$PQRT" --role=scheduler $(common) "${IDENTITY[@]}" --run-id forbidden --records-per-job 1 \
  --encrypted-data-filename small.encrypted --processor sleep:10 \
  --autoscale-scale-set-id "$SCALE_SET" --autoscale-interval-sec 1
expect "403: the run still completes (exit 0)" 0
check "403: one error line, naming the scale set and AuthorizationFailed" \
  sh -c "[ \$(grep -c 'autoscaler: round failed' '$WORK/err') = 1 ] && grep 'autoscaler: round failed' '$WORK/err' | grep -q 'AuthorizationFailed' && grep 'autoscaler: round failed' '$WORK/err' | grep -q vmss1"
check "403: though every round tried again" \
  test "$(fixture_stat "$ARM" '["arm_requests"]')" -ge $((arm_before + 3))
check "403: no PATCH was sent" test "$(patches | wc -l)" = "$before"
fixture_config "$ARM" '{"arm_forbid": false}'

# The end of a run takes the scale set to the minimum, 0 here, at once (no cooldown to wait).
run "$PQRT" --role=scheduler $(common) "${IDENTITY[@]}" --run-id tail --records-per-job 1 \
  --encrypted-data-filename small.encrypted --processor sleep:10 \
  --autoscale-scale-set-id "$SCALE_SET" --autoscale-min-workers 0 --autoscale-interval-sec 1 \
  --autoscale-scale-in-cooldown-sec 3600
expect "min 0: the run completes" 0
cp "$WORK/err" "$WORK/tail.log"
patches >tail-patches.jsonl
check "min 0: while work remained one worker was kept; at the end one PATCH to 0" sh -c "
  grep 'autoscaler: decision' '$WORK/tail.log' | grep -v 'the run ended' | grep -q 'target=1' &&
  ! grep 'autoscaler: decision' '$WORK/tail.log' | grep -v 'the run ended' | grep -q 'target=0' &&
  grep 'autoscaler: decision' '$WORK/tail.log' | grep 'the run ended' | grep -q 'target=0 action=scale_in' &&
  [ \$(wc -l <tail-patches.jsonl) = $((before + 1)) ] &&
  tail -n 1 tail-patches.jsonl | grep -q '\"capacity\": 0, \"status\": 200'"

run "$PQRT" --role=scheduler $(common) "${IDENTITY[@]}" --run-id badid \
  --encrypted-data-filename small.encrypted --autoscale-scale-set-id /subscriptions/x/vmss1
expect "a scale set id that is not one is a configuration error naming the field" 3 \
  "autoscale_scale_set_id: '/subscriptions/x/vmss1' is not a scale set's resource id"
run "$PQRT" --role=scheduler $(common) "${IDENTITY[@]}" --run-id badid \
  --encrypted-data-filename small.encrypted --autoscale-scale-set-id "$SCALE_SET" \
  --autoscale-min-workers 5 --autoscale-max-workers 2
expect "a minimum above the maximum is a configuration error naming the fields" 3 \
  "autoscale_max_workers: 2 is below autoscale_min_workers \(5\)"
stop_pid "$WORKER"
finish
