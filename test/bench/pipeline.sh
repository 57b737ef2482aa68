#!/usr/bin/env bash
# Pipeline figures, end to end: an encrypted data set of 1 KiB records processed record by record,
# pqrt's all-in-one `pqrt --role=local` next to a Python RQ pipeline doing the same work
# (test/bench/pipeline_python.py: enqueue_many, SimpleWorker burst workers, AES-GCM in and out)
# on the same redis-server (started here on a free loopback port, no persistence; FLUSHALL before
# every run). Processors: sha256 (the hex sha256 of each record), exec (an encrypted Python
# script run once per record, the record on stdin: script protocol `once`) and lines (the same
# work as a Python line loop, one long-lived process per executor: `--script-protocol lines`,
# the N records of sha256). Python RQ has no long-lived script: its in-process sha256 function
# (the sha256 row) is what lines is compared with. Each figure runs R times; the table shows the
# medians in records/s. Builds nothing; no pass/fail: figures only.
#
#   test/bench/pipeline.sh [--records N] [--exec-records M] [--runs R] [--concurrency C]
#                          [--records-per-job K] [--only PROCESSOR] [--pqrt PATH]
#
#   --records N        records for sha256 (100000)
#   --exec-records M   records for exec, which spawns a Python per record (5000)
#   --runs R           runs per figure (3)
#   --concurrency C    pqrt --concurrency and the number of Python workers (nproc)
#   --records-per-job K  pqrt's records_per_job (its default, 64; 1: one RQ job per record, as
#                      Python RQ runs them)
#   --only PROCESSOR   run only sha256, exec or lines (lines needs the sha256 Python figure, so
#                      --only lines runs Python sha256 too)
#   --pqrt PATH        the pqrt binary (build/pqrt under the repository root); its tools make the
#                      keys and the data set, so it is needed for the Python figures too
# Environment: BENCH_PYTHON (/usr/bin/python3).
#
# Python: time from the first enqueue to the last job in rq:finished (the pipeline_python.py
# line); the workers start after the first batch of 1000 jobs, so their start-up is included.
# pqrt: wall clock of the `pqrt --role=local` command (exit 0 once every record finished). Until
# that role exists, its rows say "not available in this build".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
records=100000
exec_records=5000
runs=3
concurrency=$(nproc)
pqrt=$root/build/pqrt
python=${BENCH_PYTHON:-/usr/bin/python3}
per_job=
only=
usage() { sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --records) records=$2; shift ;;
    --exec-records) exec_records=$2; shift ;;
    --runs) runs=$2; shift ;;
    --concurrency) concurrency=$2; shift ;;
    --records-per-job) per_job=$2; shift ;;
    --only) only=$2; shift ;;
    --pqrt) pqrt=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "pipeline.sh: unknown argument '$1'" >&2; echo "Try 'test/bench/pipeline.sh --help'." >&2; exit 2 ;;
  esac
  shift
done
for v in "$records" "$exec_records" "$runs" "$concurrency" ${per_job:+"$per_job"}; do
  if [[ ! $v =~ ^[1-9][0-9]*$ ]]; then
    echo "pipeline.sh: counts must be positive integers, got '$v'" >&2
    exit 2
  fi
done
[[ $pqrt == /* ]] || pqrt=$PWD/$pqrt
if [[ ! -x $pqrt ]]; then
  echo "pipeline.sh: no $pqrt (build the pqrt target, or pass --pqrt PATH)" >&2
  exit 2
fi
export PQRT_LOG_FORMAT=text  # the only PQRT_ variable set here: unknown ones are config errors

tmp=$(mktemp -d)
redis_pid=
cleanup() {
  if [[ -n $redis_pid ]]; then kill "$redis_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
work=$tmp/work
store=$tmp/store
mkdir -p "$work" "$store"

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
  --logfile "$tmp/redis.log" &
redis_pid=$!
url=redis://127.0.0.1:$port
for _ in $(seq 100); do
  redis-cli -p "$port" PING >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$port" PING >/dev/null

flush() { redis-cli -p "$port" FLUSHALL >/dev/null; }
# Redis cost of one run: CONFIG RESETSTAT after the flush, then the commands redis-server ran
# (INFO commandstats, calls inside scripts included; INFO and CONFIG themselves left out) and its
# CPU time (INFO cpu, user + sys: getrusage of the server process, not reset, so taken as a delta).
redis_cpu() { redis-cli -p "$port" INFO cpu | tr -d '\r' | awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { t += $2 } END { printf "%.6f", t }'; }
stats_start() { redis-cli -p "$port" CONFIG RESETSTAT >/dev/null; cpu0=$(redis_cpu); }
stats_end() {  # records: sets cmds_per (commands/record) and cpu_per (µs of Redis CPU/record)
  local calls cpu1
  calls=$(redis-cli -p "$port" INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" && $1 != "cmdstat_config" { n += $3 } END { print n + 0 }')
  cpu1=$(redis_cpu)
  cmds_per=$(awk -v c="$calls" -v n="$1" 'BEGIN { printf "%.1f", c / n }')
  cpu_per=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$1" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
}
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
commas() { local s; s=$(printf '%.0f' "$1"); while [[ $s =~ ^([0-9]+)([0-9]{3})(.*)$ ]]; do s="${BASH_REMATCH[1]},${BASH_REMATCH[2]}${BASH_REMATCH[3]}"; done; echo "$s"; }
quiet() {  # runs a setup command; shows its output only if it fails
  if ! "$@" >"$tmp/step.log" 2>&1; then
    echo "pipeline.sh: failed: $*" >&2
    cat "$tmp/step.log" >&2
    exit 1
  fi
}

# --- setup: keys, data sets, script (once) ------------------------------------------------------
echo "setup in $tmp: keys, $records + $exec_records records of 1 KiB, the script" >&2
cd "$work"
keys=(--key aes.encrypted --unwrap-with rsa.pem)
quiet "$pqrt" keygen rsa --out rsa.pem --public-out rsa.pub.pem
quiet "$pqrt" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted
quiet "$pqrt" gen-data --records "$records" --size-kb 1 --out data.txt
quiet "$pqrt" gen-data --records "$exec_records" --size-kb 1 --seed 2 --out data-exec.txt
quiet "$pqrt" encrypt records "${keys[@]}" --in data.txt --out data.encrypted
quiet "$pqrt" encrypt records "${keys[@]}" --in data-exec.txt --out data-exec.encrypted
cat >process.py <<'PY'
import hashlib
import sys

print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())
PY
quiet "$pqrt" encrypt file "${keys[@]}" --context script --in process.py --out process.py.encrypted
cat >process_lines.py <<'PY'
import hashlib
import sys

for line in sys.stdin.buffer:
    sys.stdout.write(hashlib.sha256(line.rstrip(b"\n")).hexdigest() + "\n")
    sys.stdout.flush()
PY
quiet "$pqrt" encrypt file "${keys[@]}" --context script --in process_lines.py \
  --out process_lines.py.encrypted
# The Python side reads pqrt's formats: every record and the script decrypt to their plaintext.
for set in data data-exec; do
  "$python" "$here/pipeline_python.py" check --rsa rsa.pem --key aes.encrypted \
    --data "$set.encrypted" --plain "$set.txt" --script process.py.encrypted \
    --script-plain process.py >&2
done
rm -f data.txt data-exec.txt process.py process_lines.py

# pqrt reads its inputs from (local) blob storage.
pqrt_state=ok
if ! "$pqrt" upload --storage local --local-storage-dir "$store" --container encrypted-data \
  data.encrypted data-exec.encrypted aes.encrypted process.py.encrypted \
  process_lines.py.encrypted >"$tmp/upload.log" 2>&1; then
  if grep -qiE 'not available|unknown subcommand' "$tmp/upload.log"; then
    pqrt_state=unavailable
  else
    pqrt_state=failed
  fi
  echo "  pqrt upload failed ($pqrt_state): $(tail -n 3 "$tmp/upload.log" | tr '\n' ' ')" >&2
fi

# --- runs ---------------------------------------------------------------------------------------
declare -A result all count cost
count[sha256]=$records
count[exec]=$exec_records
count[lines]=$records
data_of() { if [[ $1 == exec ]]; then echo data-exec.encrypted; else echo data.encrypted; fi; }

# The run functions set `rate` (records/s; empty when there is none) rather than print it: they
# must run in this shell to stop the script or to change pqrt_state.
python_run() {  # processor
  local line
  flush
  stats_start
  line=$("$python" "$here/pipeline_python.py" run --redis "$url" --rsa rsa.pem --key aes.encrypted \
    --data "$(data_of "$1")" --processor "$1" --script process.py.encrypted \
    --workers "$concurrency" 2>"$tmp/python.log") || {
    echo "pipeline.sh: the Python pipeline failed ($1):" >&2
    tail -n 20 "$tmp/python.log" >&2
    exit 1
  }
  stats_end "${count[$1]}"
  cost[python.$1]+="$cmds_per $cpu_per - "
  echo "    python $1: $line; Redis $cmds_per commands and $cpu_per µs CPU per record" >&2
  rate=$(awk '{ print $5 }' <<<"$line")
}

pqrt_run() {  # processor, run number; on failure pqrt_state says why
  local t0 t1 n=${count[$1]} log=$tmp/pqrt-$1-$2.log processor=$1 script=process.py.encrypted
  local protocol=once
  if [[ $1 == lines ]]; then processor=exec script=process_lines.py.encrypted protocol=lines; fi
  rate=
  flush
  stats_start
  t0=$(now)
  if /usr/bin/time -f %M -o "$tmp/rss" "$pqrt" --role=local --redis "$url" --run-id "bench-$1-$2-$$" --storage local \
    --local-storage-dir "$store" --storage-container-name encrypted-data \
    --key-source local --rsa-private-key-file "$work/rsa.pem" \
    --encrypted-data-filename "$(data_of "$1")" --encrypted-aes-key-filename aes.encrypted \
    --encrypted-scheduler-script-filename "$script" --script-protocol "$protocol" \
    --processor "$processor" --concurrency "$concurrency" ${per_job:+--records-per-job "$per_job"} \
    >"$log" 2>&1; then
    t1=$(now)
    rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
    stats_end "$n"
    rss=$(awk '{ printf "%.0f", $1 / 1024 }' "$tmp/rss")
    cost[pqrt.$1]+="$cmds_per $cpu_per $rss "
    echo "    pqrt $1: $n records in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s;" \
      "Redis $cmds_per commands and $cpu_per µs CPU per record; peak RSS $rss MiB" >&2
  elif grep -qi 'not available' "$log"; then
    pqrt_state=unavailable
    echo "    pqrt $1: not available in this build" >&2
  else
    pqrt_state=failed
    echo "    pqrt $1 failed; the end of its log:" >&2
    tail -n 20 "$log" >&2
  fi
}

echo "redis on $url; $runs runs per figure; concurrency $concurrency" >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
procs=(sha256 exec lines)
case $only in
  '') ;;
  sha256 | exec) procs=("$only") ;;
  lines) procs=(sha256 lines) ;;
  *) echo "pipeline.sh: --only takes sha256, exec or lines, got '$only'" >&2; exit 2 ;;
esac
for proc in "${procs[@]}"; do
  py=() pq=()
  for r in $(seq "$runs"); do
    if [[ $proc == lines ]]; then  # compared with Python's in-process sha256 (run above)
      read -ra py <<<"${all[python.sha256]}"
    else
      python_run "$proc"
      py+=("$rate")
    fi
    if [[ $pqrt_state == ok ]]; then
      pqrt_run "$proc" "$r"
      if [[ -n $rate ]]; then pq+=("$rate"); fi
    fi
  done
  result[python.$proc]=$(median "${py[@]}")
  all[python.$proc]="${py[*]}"
  if ((${#pq[@]} == runs)); then
    result[pqrt.$proc]=$(median "${pq[@]}")
    all[pqrt.$proc]="${pq[*]}"
  fi
  echo "  $proc: python ${py[*]} | pqrt ${pq[*]:-none} records/s" >&2
done

# --- report -------------------------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
redis_version=$(redis-cli -p "$port" INFO server | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
echo
echo "Conditions: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "Linux $(uname -r); redis-server $redis_version on loopback TCP (no persistence), one for both;" \
  "pqrt $("$pqrt" --version 2>&1 | awk '{ print $NF }') ($commit, $pqrt);" \
  "$("$python" "$here/pipeline_python.py" version); concurrency $concurrency" \
  "(pqrt --concurrency, Python workers); pqrt records_per_job ${per_job:-64 (default)}; 1 KiB records; median of $runs runs; load average" \
  "(1/5/15 min, every process on the machine) $load_before before the runs, $load_after after;" \
  "$(date -u +%Y-%m-%d)."
echo
# The median of column `k` (1 commands, 2 µs, 3 RSS) of a run's costs.
cost_of() {
  local -a v=() c
  read -ra c <<<"${cost[$1]:-}"
  for ((i = $2 - 1; i < ${#c[@]}; i += 3)); do v+=("${c[$i]}"); done
  if ((${#v[@]} == 0)) || [[ ${v[0]} == - ]]; then echo "–"; else median "${v[@]}"; fi
}
costs() { echo "$(cost_of "$1" 1) | $(cost_of "$1" 2) | $(cost_of "$1" 3)"; }
echo "| pipeline | processor | records | records/s median | Redis commands/record | Redis CPU µs/record | peak RSS MiB | runs |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
for proc in "${procs[@]}"; do
  if [[ $proc != lines ]]; then
    echo "| Python RQ (SimpleWorker ×$concurrency) | $proc | $(commas "${count[$proc]}") |" \
      "$(commas "${result[python.$proc]}") | $(costs "python.$proc") | ${all[python.$proc]} |"
  fi
  label=$proc
  if [[ $proc == lines ]]; then label="exec, --script-protocol lines"; fi
  if [[ -n ${result[pqrt.$proc]:-} ]]; then
    echo "| pqrt --role=local | $label | $(commas "${count[$proc]}") |" \
      "$(commas "${result[pqrt.$proc]}") | $(costs "pqrt.$proc") | ${all[pqrt.$proc]} |"
  elif [[ $pqrt_state == unavailable ]]; then
    echo "| pqrt --role=local | $proc | $(commas "${count[$proc]}") | pqrt pipeline: not available in this build | |"
  else
    echo "| pqrt --role=local | $proc | $(commas "${count[$proc]}") | pqrt pipeline: failed (see above) | |"
  fi
done
echo
for proc in "${procs[@]}"; do
  if [[ -n ${result[pqrt.$proc]:-} ]]; then
    echo "pqrt / Python, $proc: $(awk -v a="${result[pqrt.$proc]}" -v b="${result[python.$proc]}" 'BEGIN { printf "%.1f×", a / b }')"
  fi
done
if [[ -n ${result[pqrt.lines]:-} && -n ${result[pqrt.exec]:-} ]]; then
  echo "pqrt lines / pqrt exec once: $(awk -v a="${result[pqrt.lines]}" -v b="${result[pqrt.exec]}" 'BEGIN { printf "%.1f×", a / b }')"
fi
echo "lines is compared with Python RQ's in-process sha256 function (Python RQ has no long-lived"
echo "script process); its Python column repeats the sha256 row."
echo "Python: first enqueue to the last job in rq:finished (workers started after the first batch,"
echo "start-up included; every job checked finished, sampled results decrypted and compared)."
echo "pqrt: wall clock of the --role=local command, start-up and key unwrap included."
echo "Redis columns: INFO commandstats calls (script-internal calls included) and redis-server"
echo "user+sys CPU over the run, per record, medians; peak RSS: the pqrt --role=local process"
echo "(scheduler and worker in one; /usr/bin/time %M)."
[[ $pqrt_state != failed ]]
