#!/usr/bin/env bash
# The metrics role against an ARM + Azure Monitor fixture (test/fixtures/azure_fixture.py: a
# resource group of 3 VMs and 2 scale sets of 4 instances, pages of 2 with nextLink, one metric
# without data, one metric error, the first metrics request throttled with 429 + Retry-After),
# Azurite's queue service for the output and a redis-server for pqrt's own figures: --once writes
# one well-formed document per resource with the fixture's numbers; --interval 1s writes a round
# a second until SIGTERM ends it cleanly; ARM unreachable or 403 ends --once with one error line
# naming the resource group, and --interval tries again next round.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
SUB=00000000-1111-2222-3333-444444444444
RG=pqrt-fleet
check "Azurite starts" start_azurite "$WORK/azurite"
fixture_secret
check "the ARM / Monitor fixture starts" start_fixture arm --subscription "$SUB" \
  --resource-group "$RG" --vms 3 --scale-sets 2 --instances 4 --page-size 2 \
  --no-data-metric "Disk Read Bytes" --metric-error "Network Out Total" \
  --throttle-first-metrics 1 --arm-expect "$WORK/expect.json"
ARM="$FX_URL"
PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
BASE=(--subscription-id "$SUB" --metrics-vm-resource-group "$RG"
  --tenant-id "$FX_TENANT" --service-principal-client-id "$FX_CLIENT_ID"
  --azure-authority-host "$ARM" --redis "redis://127.0.0.1:$PORT" "${AZURE_STORAGE[@]}"
  --metrics-queue-name fleet-metrics --azure-timeout-sec 5)
COMMON=("${BASE[@]}" --arm-endpoint "$ARM" --azure-retry-attempts 3)
for i in 1 2 3 4 5 6 7; do
  "$PQRT" enqueue --redis "redis://127.0.0.1:$PORT" --func pqrt.echo --args '"x"' >/dev/null 2>&1
done

# documents FILE: the JSON documents of the metrics queue (peeked through a SAS), one per line.
documents() {
  local sas
  sas="$("$PQRT" sas queue fleet-metrics "${AZURE_STORAGE[@]}" --permissions r)"
  secret "$sas"
  curl -sf "http://127.0.0.1:$QUEUE_PORT/devstoreaccount1/fleet-metrics/messages?numofmessages=32&peekonly=true&$sas" |
    "$PY" -c '
import base64, json, re, sys
for text in re.findall(r"<MessageText>(.*?)</MessageText>", sys.stdin.read(), re.S):
    for doc in json.loads(base64.b64decode(text)):
        print(json.dumps(doc))
' >"$1"
}

# --- 1: --once ---------------------------------------------------------------------------------
run "$PQRT" --role=metrics --once "${COMMON[@]}"
expect "--once writes a round and exits 0" 0 "metrics written"
documents once.jsonl
check "the queue holds one document per VM, scale set and instance, and pqrt's own" \
  test "$(wc -l <once.jsonl)" -eq 14
check "the first metrics request was throttled (429 + Retry-After) and retried" \
  grep -q "retrying get metrics.*HTTP 429.*delay_ms=1000\|retrying get metrics.*delay_ms=1000.*HTTP 429" "$WORK/err"
check "each document is well formed and holds the fixture's numbers" "$PY" -c '
import json, sys
sys.path.insert(0, sys.argv[3])
from azure_fixture import metric_value
import datetime
expect = json.load(open(sys.argv[2]))
docs = [json.loads(l) for l in open(sys.argv[1])]
vm_docs = {d["resource_id"]: d for d in docs if d["type"] == "vm_metrics"}
ok = True
def bad(msg):
    global ok
    ok = False
    print("  " + msg)
for r in expect["resources"]:
    d = vm_docs.get(r["id"])
    if d is None:
        bad("no document for " + r["id"]); continue
    if d["name"] != r["name"] or d["kind"] != r["kind"] or d.get("scale_set") != r["scale_set"]:
        bad("wrong identity for " + r["name"])
    if not d["start"].endswith("Z") or d["start"] >= d["end"] or d["interval"] != "PT1M":
        bad("bad window for " + r["name"])
    names = [m["name"] for m in d["metrics"]]
    want = ["Percentage CPU", "Network In Total", "Network Out Total", "Disk Read Bytes",
            "Disk Write Bytes"] + (["Available Memory Bytes"] if r["kind"] == "virtualMachine" else [])
    if names != want:
        bad("metrics of %s: %s" % (r["name"], names))
    for m in d["metrics"]:
        if r["name"] == expect["metric_error"]["resource"] and m["name"] == expect["metric_error"]["metric"]:
            if not m.get("error", "").startswith("InvalidSamplingType") or m["points"]:
                bad("the metric error of %s is not reported" % r["name"])
            continue
        if not m["points"]:
            bad("no points for %s %s" % (r["name"], m["name"]))
        for p in m["points"]:
            t = int(datetime.datetime.strptime(p["t"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp())
            if r["name"] == expect["no_data"]["resource"] and m["name"] == expect["no_data"]["metric"]:
                if set(p) != {"t"}:
                    bad("a point without data got values: %s" % p)
                continue
            v = metric_value(r["name"], m["name"], t // 60)
            for agg in ("average", "maximum", "total"):
                if abs(p.get(agg, -1) - v[agg]) > 1e-6:
                    bad("%s %s %s at %s: %s, not %s" % (r["name"], m["name"], agg, p["t"], p.get(agg), v[agg]))
own = [d for d in docs if d["type"] == "pqrt_metrics"]
if len(own) != 1 or own[0]["queues"][0]["queued"] != 7 or "oldest_queued_age_s" not in own[0]["queues"][0] or own[0]["workers_alive"] != 0:
    bad("pqrt figures: %s" % own)
sys.exit(0 if ok else 1)
' once.jsonl "$WORK/expect.json" "$SOURCE_DIR/test/fixtures"

# The VM's managed identity (IMDS) works as well as the service principal.
run "$PQRT" --role=metrics --once --out mi.jsonl "${COMMON[@]}" --use-managed-identity true \
  --managed-identity-client-id "$FX_MI_CLIENT_ID" --imds-endpoint "$ARM"
expect "--once with the managed identity exits 0" 0 "token acquired identity=\"managed identity $FX_MI_CLIENT_ID\""
check "and writes the same 14 documents" test "$(wc -l <mi.jsonl)" -eq 14

# --- 2: --interval 1s, SIGTERM between rounds ---------------------------------------------------
"$PQRT" --role=metrics --interval 1s --out rounds.jsonl "${COMMON[@]}" >"$WORK/interval.log" 2>&1 &
pid=$!
PIDS+=($pid)
wait_until 60 '[ "$(grep -c "metrics written" "$WORK/interval.log")" -ge 5 ]'
stop_pid "$pid"
rounds="$(grep -c "metrics written" "$WORK/interval.log")"
check "--interval 1s writes a round a second (5 or more before SIGTERM; $rounds)" test "$rounds" -ge 5
check "SIGTERM ends it cleanly (exit 0)" test "$rc" -eq 0
check "every round wrote all its documents (no partial round)" \
  test "$(wc -l <rounds.jsonl)" -eq $((rounds * 14))
check "one token served every round (cached)" \
  test "$(grep -c "token acquired" "$WORK/interval.log")" -eq 1
# Tokens that live 2 s are fetched again after 1 s (half their life), before they expire.
fixture_config "$ARM" '{"token_ttl": 2}'
"$PQRT" --role=metrics --interval 1s --out short.jsonl "${COMMON[@]}" >"$WORK/short-ttl.log" 2>&1 &
pid=$!
PIDS+=($pid)
wait_until 60 '[ "$(grep -c "metrics written" "$WORK/short-ttl.log")" -ge 4 ]'
stop_pid "$pid"
check "short-lived tokens are refreshed before they expire: no 401 in any round" \
  sh -c "[ \$(grep -c 'token acquired' '$WORK/short-ttl.log') -ge 2 ] && ! grep -q '401' '$WORK/short-ttl.log'"
fixture_config "$ARM" '{"token_ttl": 3600}'

# --- 3: ARM unreachable or 403 ------------------------------------------------------------------
DEAD="$(free_port)"
run "$PQRT" --role=metrics --once "${BASE[@]}" --arm-endpoint "http://127.0.0.1:$DEAD" \
  --azure-retry-attempts 2
expect "ARM unreachable: --once exits 1 naming the resource group and the cause" 1 \
  "metrics round 1 for resource group $RG failed: .*connection failure"
check "ARM unreachable: exactly one error line" test "$(grep -c ' error ' "$WORK/err")" -eq 1
fixture_config "$ARM" '{"arm_forbid": true}'
run "$PQRT" --role=metrics --once "${COMMON[@]}"
expect "ARM 403: --once exits 1 naming the resource group and AuthorizationFailed" 1 \
  "resource group $RG failed: .*403 AuthorizationFailed"
check "ARM 403: exactly one error line" test "$(grep -c ' error ' "$WORK/err")" -eq 1
"$PQRT" --role=metrics --interval 1s --out retry.jsonl "${COMMON[@]}" >"$WORK/retry.log" 2>&1 &
pid=$!
PIDS+=($pid)
wait_until 60 'grep -q "trying again next round" "$WORK/retry.log"'
fixture_config "$ARM" '{"arm_forbid": false}'
wait_until 60 'grep -q "metrics written" "$WORK/retry.log"'
stop_pid "$pid"
check "--interval: a 403 round is logged and tried again next round" \
  grep -q "403 AuthorizationFailed.*trying again next round" "$WORK/retry.log"
check "--interval: the next round after the 403 is lifted writes its documents" \
  grep -q "metrics written" "$WORK/retry.log"
check "--interval: it still ends cleanly on SIGTERM" test "$rc" -eq 0

finish
