#!/usr/bin/env bash
# pqrt's own metrics on --metrics-listen: a scheduler and a worker over 400 records against a real
# redis-server and local storage, each serving /metrics. The worker's counters move between two
# scrapes taken during the run and add up afterwards; every scrape is checked with a Prometheus
# text-format (0.0.4) parser written here; other paths get 404 and other methods 405; port 0 binds
# a free port and logs it; an address in use or one that does not parse ends the role with the
# configuration exit code, naming the address.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
STORE="$WORK/store"
STORAGE=(--storage local --local-storage-dir "$STORE")
"$PQRT" keygen rsa --out rsa.pem --public-out rsa.pub.pem 2>/dev/null
"$PQRT" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted 2>/dev/null
KEYS=(--key aes.encrypted --unwrap-with rsa.pem)
KEY_CFG=(--key-source local --rsa-private-key-file "$WORK/rsa.pem")

PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"
common() {
  echo --redis "$URL" "${STORAGE[@]}" "${KEY_CFG[@]}" --encrypted-aes-key-filename aes.encrypted
}

# --- the Prometheus text format (0.0.4) parser ----------------------------------------------------
# prom.py check FILE: validates a scrape (HELP/TYPE lines, names, labels and their escapes, float
# values, no duplicate series, families contiguous, histograms cumulative and ending in +Inf with
# _count equal to the +Inf bucket). prom.py value FILE NAME [LABEL=VALUE...]: validates, then
# prints the sum of the NAME series carrying those labels (nothing when there is none).
cat >prom.py <<'PY'
import math, re, sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
FLOAT = re.compile(r"^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def value_of(text, where):
    if not FLOAT.match(text):
        raise Bad("%s: '%s' is not a float" % (where, text))
    return float(text.replace("Inf", "inf"))


def labels_of(text, where):
    labels, i = {}, 0
    while i < len(text):
        m = re.compile(LABEL + '="').match(text, i)
        if not m:
            raise Bad("%s: bad label at '%s'" % (where, text[i:]))
        name = m.group(0)[:-2]
        i, value = m.end(), ""
        while True:
            if i >= len(text):
                raise Bad("%s: unterminated label value" % where)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ('\\', '"', "n"):
                    raise Bad("%s: bad escape \\%s" % (where, nxt))
                value += "\n" if nxt == "n" else nxt
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Bad("%s: raw line feed in a label value" % where)
            else:
                value += c
                i += 1
        if name in labels:
            raise Bad("%s: label %s twice" % (where, name))
        labels[name] = value
        if i < len(text):
            if text[i] != ",":
                raise Bad("%s: expected ',' at '%s'" % (where, text[i:]))
            i += 1
    return labels


SAMPLE = re.compile(r"^(" + NAME + r")(\{(.*)\})? (\S+)( -?\d+)?$")


def parse(path):
    types, helps, samples, seen, done, current = {}, {}, [], set(), set(), None
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        raise Bad("the scrape does not end with a line feed")

    def family_of(name):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                return base
        return name

    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d" % n
        if line == "":
            continue
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (" + NAME + r")(?: (.*))?$", line)
            if not m:
                if re.match(r"^# (HELP|TYPE)\b", line):
                    raise Bad("%s: bad %s line" % (where, line.split()[1]))
                continue
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
            if kind == "TYPE":
                if rest not in TYPES:
                    raise Bad("%s: unknown type '%s'" % (where, rest))
                if name in types:
                    raise Bad("%s: second TYPE for %s" % (where, name))
                if name in done or name == current:
                    raise Bad("%s: TYPE for %s after its samples" % (where, name))
                types[name] = rest
            else:
                if name in helps:
                    raise Bad("%s: second HELP for %s" % (where, name))
                if re.search(r"\\[^\\n]|\\$", rest):
                    raise Bad("%s: bad escape in HELP" % where)
                helps[name] = rest
            continue
        m = SAMPLE.match(line)
        if not m:
            raise Bad("%s: not a sample: '%s'" % (where, line))
        name, labels = m.group(1), labels_of(m.group(3) or "", where)
        value = value_of(m.group(4), where)
        family = family_of(name)
        if family != current:
            if family in done:
                raise Bad("%s: the samples of %s are not together" % (where, family))
            if current is not None:
                done.add(current)
            current = family
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise Bad("%s: series %s twice" % (where, key))
        seen.add(key)
        if types.get(family) == "counter" and not value >= 0:
            raise Bad("%s: counter %s is %s" % (where, name, value))
        samples.append((name, labels, value, family))
    check_histograms(types, samples)
    return samples


def check_histograms(types, samples):
    for family, kind in types.items():
        if kind != "histogram":
            continue
        groups = {}
        for name, labels, value, fam in samples:
            if fam != family:
                continue
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if name == family + "_bucket":
                if "le" not in labels:
                    raise Bad("%s_bucket without le" % family)
                g["buckets"].append((value_of(labels["le"], family + " le"), value))
            elif name == family + "_sum":
                g["sum"] = value
            elif name == family + "_count":
                g["count"] = value
            else:
                raise Bad("%s: sample %s in a histogram" % (family, name))
        for rest, g in groups.items():
            where = "%s%s" % (family, dict(rest))
            b = g["buckets"]
            if not b or g["sum"] is None or g["count"] is None:
                raise Bad("%s: needs buckets, _sum and _count" % where)
            les = [le for le, _ in b]
            if les != sorted(les) or len(set(les)) != len(les):
                raise Bad("%s: le bounds not increasing" % where)
            if not math.isinf(les[-1]) or les[-1] < 0:
                raise Bad("%s: the last bucket is not +Inf" % where)
            counts = [c for _, c in b]
            if any(y < x for x, y in zip(counts, counts[1:])):
                raise Bad("%s: buckets not cumulative: %s" % (where, counts))
            if g["count"] != counts[-1]:
                raise Bad("%s: _count %s != +Inf bucket %s" % (where, g["count"], counts[-1]))


def main():
    mode, path = sys.argv[1], sys.argv[2]
    try:
        samples = parse(path)
    except (Bad, OSError, UnicodeDecodeError) as e:
        print("invalid scrape %s: %s" % (path, e), file=sys.stderr)
        sys.exit(1)
    if not samples:
        print("invalid scrape %s: no samples" % path, file=sys.stderr)
        sys.exit(1)
    if mode == "value":
        name, want = sys.argv[3], dict(a.split("=", 1) for a in sys.argv[4:])
        found = [v for n, l, v, _ in samples
                 if n == name and all(l.get(k) == x for k, x in want.items())]
        if found:
            total = sum(found)
            print(int(total) if total == int(total) else total)


main()
PY
# valid FILE: the scrape parses as Prometheus text.
valid() { "$PY" prom.py check "$1" 2>>"$WORK/prom.err"; }
# value FILE NAME [LABEL=VALUE...]: a metric's value in a scrape (empty when absent).
value() { "$PY" prom.py value "$@" 2>>"$WORK/prom.err"; }
# scrape PORT FILE: GET /metrics into FILE (headers in FILE.headers).
scrape() { curl -sf --max-time 10 -D "$2.headers" -o "$2" "http://127.0.0.1:$1/metrics"; }

# The parser is not vacuous: it rejects what is not the format.
printf '# TYPE a counter\na{x="1} 1\n' >bad1
printf '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n' >bad2
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n' >bad3
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n' >bad4
printf 'a 1\nb 2\na{x="y"} 3\n' >bad5
printf 'a one\n' >bad6
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n' >good
check "the parser takes a valid histogram" valid good
rejected=0
for f in bad1 bad2 bad3 bad4 bad5 bad6; do valid "$f" || rejected=$((rejected + 1)); done
check "the parser rejects a bad label, non-cumulative buckets, a wrong _count, no +Inf, split families, a bad value" \
  test "$rejected" -eq 6
: >"$WORK/prom.err"  # what the parser said about those

# --- a run with a worker and a scheduler serving /metrics ---------------------------------------
"$PY" -c 'print("\n".join("record %d" % i for i in range(400)))' >records.txt
"$PQRT" encrypt records "${KEYS[@]}" --in records.txt --out records.encrypted 2>/dev/null
"$PQRT" upload $(common) records.encrypted aes.encrypted 2>/dev/null
RUN=(--encrypted-data-filename records.encrypted --processor sleep:40)
# 20 records per job: 20 RQ jobs, so jobs and records are counted apart.
PER_JOB=(--records-per-job 20)
WPORT="$(free_port)"
"$PQRT" --role=worker $(common) "${RUN[@]}" --concurrency 2 \
  --metrics-listen "127.0.0.1:$WPORT" >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
check_log "the worker serves /metrics on its address (and says so)" worker.log \
  wait_until 60 "grep -q 'serving Prometheus metrics.*listen=127.0.0.1:$WPORT' '$WORK/worker.log' && scrape $WPORT idle"
check "the idle worker's scrape is valid Prometheus text" valid idle
check "it has pqrt_build_info with the version and role" \
  test "$(value idle pqrt_build_info role=worker)" = 1 -a -n "$(grep -o 'pqrt_build_info{version="[0-9][^"]*"' idle)"
start_time="$(value idle pqrt_process_start_time_seconds)"
check "its pqrt_process_start_time_seconds is a time since the epoch" \
  "$PY" -c 'import sys, time; t = float(sys.argv[1]); sys.exit(not (time.time() - 3600 < t <= time.time()))' "$start_time"
check "the answer is text/plain; version=0.0.4" \
  grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' idle.headers
check "other paths get 404" \
  test "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WPORT/nope")" = 404
check "other methods get 405" \
  test "$(curl -s --max-time 10 -X POST -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WPORT/metrics")" = 405

SPORT="$(free_port)"
"$PQRT" --role=scheduler $(common) "${RUN[@]}" "${PER_JOB[@]}" --run-id m1 \
  --metrics-listen "127.0.0.1:$SPORT" >"$WORK/scheduler.log" 2>&1 &
SCHED=$!
PIDS+=("$SCHED")

# Two scrapes of the worker during the run: the first once a job has finished, the second once
# the count has moved on. The waits are guards; the run takes about 8 s (400 x 40 ms / 2).
first=0
wait_until 120 "scrape $WPORT during1 && [ \"\$(value during1 pqrt_jobs_finished_total)\" -ge 1 ] 2>/dev/null"
first="$(value during1 pqrt_records_finished_total)"
check "the first scrape during the run is valid and counts finished records" \
  sh -c "'$PY' prom.py check during1 && [ '${first:-0}' -ge 20 ] && [ '${first:-0}' -lt 400 ]"
wait_until 120 "scrape $WPORT during2 && [ \"\$(value during2 pqrt_records_finished_total)\" -gt '${first:-0}' ] 2>/dev/null"
second="$(value during2 pqrt_records_finished_total)"
check "a second scrape is valid and pqrt_records_finished_total increased ($first -> $second)" \
  sh -c "'$PY' prom.py check during2 && [ '${second:-0}' -gt '${first:-0}' ]"
check "during the run jobs are in flight and have started" \
  test "$(value during2 pqrt_jobs_started_total queue=default)" -gt "$(value during2 pqrt_jobs_finished_total queue=default)"
check "the duration histogram has observations with outcome=finished" \
  test "$(value during2 pqrt_job_duration_seconds_count outcome=finished queue=default)" -ge 1
# The scheduler's own endpoint, while the run goes on.
wait_until 120 "scrape $SPORT sched && [ \"\$(value sched pqrt_run_jobs_total run=m1)\" = 400 ] 2>/dev/null"
check "the scheduler's scrape is valid" valid sched
check "the scheduler reports 400 jobs enqueued and the run's total" \
  test "$(value sched pqrt_jobs_enqueued_total queue=default)" = 400 -a \
  "$(value sched pqrt_run_jobs_total run=m1)" = 400 -a "$(value sched pqrt_build_info role=scheduler)" = 1

wait_pid "$SCHED" 300
check_log "the run completes (scheduler exit 0)" scheduler.log test "$rc" -eq 0
scrape "$WPORT" after
check "after the run the worker's scrape is valid" valid after
check "after the run: 400 records in 20 jobs finished, none failed, none in flight" \
  test "$(value after pqrt_records_finished_total queue=default)" = 400 -a \
  "$(value after pqrt_records_failed_total queue=default)" = 0 -a \
  "$(value after pqrt_jobs_finished_total queue=default)" = 20 -a \
  "$(value after pqrt_jobs_failed_total queue=default)" = 0 -a \
  "$(value after pqrt_jobs_in_flight queue=default)" = 0
check "after the run: the histogram counted 20 finished jobs, none under the 20 x 40 ms they sleep" \
  test "$(value after pqrt_job_duration_seconds_count outcome=finished)" = 20 -a \
  "$(value after pqrt_job_duration_seconds_bucket outcome=finished le=0.5)" = 0
check "after the run: 400 results were written" \
  test "$(value after pqrt_results_written_total)" = 400 -a \
  "$(value after pqrt_result_bytes_written_total)" -gt 0

# --- an address in use, an address that does not parse, port 0 ----------------------------------
run "$PQRT" --role=worker $(common) "${RUN[@]}" --metrics-listen "127.0.0.1:$WPORT"
expect "a worker given an address in use exits with the configuration code, naming it" 3 \
  "metrics_listen 127.0.0.1:$WPORT: cannot listen: Address already in use"
run "$PQRT" --role=scheduler $(common) "${RUN[@]}" --run-id m2 --metrics-listen "127.0.0.1:$WPORT"
expect "so does a scheduler" 3 "metrics_listen 127.0.0.1:$WPORT"
check "that scheduler enqueued nothing" test "$(redis-cli -u "$URL" exists pqrt:run:m2)" = 0
run "$PQRT" --role=worker $(common) "${RUN[@]}" --metrics-listen "localhost"
expect "an address without a port is a configuration error naming it" 3 "metrics_listen localhost"

"$PQRT" --role=worker $(common) "${RUN[@]}" --metrics-listen 127.0.0.1:0 >"$WORK/worker0.log" 2>&1 &
ZERO=$!
PIDS+=("$ZERO")
wait_until 60 "grep -q 'serving Prometheus metrics' '$WORK/worker0.log'"
zport="$(grep -o 'serving Prometheus metrics.*listen=127.0.0.1:[0-9]*' "$WORK/worker0.log" | grep -o '[0-9]*$')"
check_log "port 0: the worker logs the port it bound" worker0.log test -n "$zport" -a "${zport:-0}" != 0
check "port 0: that port serves valid metrics" sh -c "curl -sf --max-time 10 -o zero 'http://127.0.0.1:$zport/metrics' && '$PY' prom.py check zero"
stop_pid "$ZERO"
check_log "port 0: the worker stops with exit 0" worker0.log test "$rc" -eq 0

stop_pid "$WORKER"
check_log "SIGTERM: the serving worker exits 0" worker.log test "$rc" -eq 0
check "and nothing listens on its address any more" \
  sh -c "! curl -s --max-time 5 -o /dev/null 'http://127.0.0.1:$WPORT/metrics'"
if [ -s "$WORK/prom.err" ]; then echo "# parser messages:"; sed 's/^/#   /' "$WORK/prom.err" | head -20; fi

finish
