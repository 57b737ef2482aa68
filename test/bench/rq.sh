#!/usr/bin/env bash
# RQ figures, pqrt next to Python RQ on the same redis-server (one started here on a free loopback
# port, no persistence): enqueue rates (one job per call, bulk), burst worker throughput, and
# enqueue-to-finish latency. Each figure runs BENCH_RUNS times; the table shows the medians.
# Builds nothing; no pass/fail: figures only, then the aims and whether they were met.
#
#   test/bench/rq.sh [build dir, default build]     (uses DIR/pqrt and DIR/test/bench_rq)
#
# Knobs (environment): BENCH_RUNS (3), BENCH_N_SINGLE (5000), BENCH_N_BULK ("10000 100000"),
# BENCH_N_WORK (20000), BENCH_CONCURRENCY ("1 8"), BENCH_N_LATENCY (2000), BENCH_PYTHON
# (/usr/bin/python3), BENCH_RQ (/usr/bin/rq), BENCH_RQ_WORKER_ARGS (extra `rq worker` flags).
#
# What is compared:
# * enqueue: rq_store::enqueue (one call per job; one call for all N) vs Queue.enqueue and
#   Queue.enqueue_many(Queue.prepare_data(...)). Both time building the jobs too.
# * worker: N jobs queued beforehand, then one burst worker. pqrt runs its built-in pqrt.echo;
#   Python runs bench_tasks.echo (`def echo(x): return x`) in `rq worker --burst -w
#   rq.worker.SimpleWorker` (no fork per job), since a Python worker cannot run pqrt.echo.
#   "wall": worker start to the N-th job in rq:finished (process start-up included); "span":
#   first started_at to last ended_at in the job hashes (start-up excluded).
# * latency: a worker (pqrt concurrency 1 / SimpleWorker) waits on the queue; the client enqueues
#   one job, blocks on its results stream (XREAD BLOCK) until the worker wrote the result, and
#   repeats. p50/p99 of that round trip, client side.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
pqrt=$build/pqrt
bench=$build/test/bench_rq
python=${BENCH_PYTHON:-/usr/bin/python3}
rq_cli=${BENCH_RQ:-/usr/bin/rq}
runs=${BENCH_RUNS:-3}
n_single=${BENCH_N_SINGLE:-5000}
n_bulk=${BENCH_N_BULK:-10000 100000}
n_work=${BENCH_N_WORK:-20000}
concurrency=${BENCH_CONCURRENCY:-1 8}
n_latency=${BENCH_N_LATENCY:-2000}
rq_worker_args=${BENCH_RQ_WORKER_ARGS:-}
queue=bench
for f in "$pqrt" "$bench"; do
  if [[ ! -x $f ]]; then
    echo "rq.sh: no $f (build the pqrt and bench_rq targets)" >&2
    exit 2
  fi
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
  --logfile "$tmp/redis.log" &
pids+=($!)
url=redis://127.0.0.1:$port
for _ in $(seq 100); do
  redis-cli -p "$port" PING >/dev/null 2>&1 && break
  sleep 0.05
done

py() { "$python" "$here/rq_python.py" "$@"; }
flush() { redis-cli -p "$port" FLUSHALL >/dev/null; }
now() { date +%s.%N; }
# Field $1 (1-based) of the line on stdin.
field() { awk -v f="$1" '{ print $f }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Waits up to $2 seconds for process $1 to end by itself; then TERM. Prints "yes" if it ended itself.
reap() {
  local pid=$1 deadline=$((SECONDS + $2)) ended=yes
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      ended=no
      kill -TERM "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
  echo "$ended"
}

# --- enqueue --------------------------------------------------------------------------------
declare -A result
enqueue_figure() {  # name, bench_rq figure, rq_python figure, n
  local pq=() pyr=()
  for _ in $(seq "$runs"); do
    flush
    pq+=("$("$bench" "$2" "$url" "$4" "$queue" | field 4)")
    flush
    pyr+=("$(py "$3" "$url" "$4" "$queue" | field 4)")
  done
  result[$1.pqrt]=$(median "${pq[@]}")
  result[$1.py]=$(median "${pyr[@]}")
  echo "  $1: pqrt ${pq[*]} | python ${pyr[*]} jobs/s" >&2
}

echo "redis on $url; $runs runs per figure" >&2
enqueue_figure single single single "$n_single"
for n in $n_bulk; do enqueue_figure "bulk$n" bulk bulk "$n"; done

# --- burst worker throughput ----------------------------------------------------------------
worker_run() {  # kind (pqrt|py), concurrency; prints "wall_rate span_rate"
  flush
  if [[ $1 == pqrt ]]; then
    "$bench" fill "$url" "$n_work" "$queue" >/dev/null
  else
    py fill "$url" "$n_work" "$queue" >/dev/null
  fi
  local t0 t1 pid
  t0=$(now)
  if [[ $1 == pqrt ]]; then
    "$pqrt" --role=worker --redis "$url" --queues "$queue" --concurrency "$2" --burst \
      --log-format text >"$tmp/worker.log" 2>&1 &
  else
    # shellcheck disable=SC2086
    (cd "$tmp" && PYTHONPATH=$here exec "$rq_cli" worker --burst -w rq.worker.SimpleWorker \
      -u "$url" $rq_worker_args "$queue" >"$tmp/worker.log" 2>&1) &
  fi
  pid=$!
  pids+=("$pid")
  py wait "$url" "$n_work" "$queue" >/dev/null
  t1=$(now)
  if [[ $(reap "$pid" 5) == no && $1 == pqrt ]]; then touch "$tmp/pqrt-burst-did-not-exit"; fi
  awk -v n="$n_work" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f ", n / (b - a) }'
  py span "$url" 0 "$queue" | field 4
}

worker_figure() {  # kind, concurrency
  local wall=() span=() line
  for _ in $(seq "$runs"); do
    line=$(worker_run "$1" "$2")
    wall+=("${line% *}")
    span+=("${line#* }")
  done
  result[work.$1.$2.wall]=$(median "${wall[@]}")
  result[work.$1.$2.span]=$(median "${span[@]}")
  echo "  worker $1 c=$2: wall ${wall[*]} | span ${span[*]} jobs/s" >&2
}

for c in $concurrency; do worker_figure pqrt "$c"; done
worker_figure py 1

# --- latency --------------------------------------------------------------------------------
latency_figure() {  # kind
  local p50=() p99=() pid line
  for _ in $(seq "$runs"); do
    flush
    if [[ $1 == pqrt ]]; then
      "$pqrt" --role=worker --redis "$url" --queues "$queue" --concurrency 1 \
        --log-format text >"$tmp/latency.log" 2>&1 &
    else
      # shellcheck disable=SC2086
      (cd "$tmp" && PYTHONPATH=$here exec "$rq_cli" worker -w rq.worker.SimpleWorker \
        -u "$url" $rq_worker_args "$queue" >"$tmp/latency.log" 2>&1) &
    fi
    pid=$!
    pids+=("$pid")
    sleep 1  # start-up; the 20 warm-up jobs absorb the rest
    if [[ $1 == pqrt ]]; then
      line=$("$bench" latency "$url" "$n_latency" "$queue")
    else
      line=$(py latency "$url" "$n_latency" "$queue")
    fi
    kill -TERM "$pid" 2>/dev/null || true
    reap "$pid" 10 >/dev/null
    p50+=("$(field 5 <<<"$line")")
    p99+=("$(field 6 <<<"$line")")
  done
  result[lat.$1.p50]=$(median "${p50[@]}")
  result[lat.$1.p99]=$(median "${p99[@]}")
  echo "  latency $1: p50 ${p50[*]} | p99 ${p99[*]} ms" >&2
}

latency_figure pqrt
latency_figure py

# --- report ---------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f×", a / b }'; }
commas() { local s; s=$(printf '%d' "$1"); while [[ $s =~ ^([0-9]+)([0-9]{3})(.*)$ ]]; do s="${BASH_REMATCH[1]},${BASH_REMATCH[2]}${BASH_REMATCH[3]}"; done; echo "$s"; }

redis_version=$(redis-cli -p "$port" INFO server | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$here" diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
echo
echo "Conditions: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "Linux $(uname -r); redis-server $redis_version on loopback TCP (no persistence), one for both;" \
  "pqrt $("$pqrt" --version 2>&1 | awk '{ print $NF }') ($commit, $(basename "$build"));" \
  "$(py version); median of $runs runs; $(date -u +%Y-%m-%d)."
echo
echo "| figure | pqrt | Python RQ | pqrt / Python |"
echo "|---|---:|---:|---:|"
echo "| enqueue, one job per call, N=$(commas "$n_single") (\`rq_store::enqueue\` vs \`Queue.enqueue\`) |" \
  "$(commas "${result[single.pqrt]}") jobs/s | $(commas "${result[single.py]}") jobs/s |" \
  "$(ratio "${result[single.pqrt]}" "${result[single.py]}") |"
for n in $n_bulk; do
  echo "| enqueue, bulk, N=$(commas "$n") (one \`rq_store::enqueue\` vs \`enqueue_many\` + \`prepare_data\`) |" \
    "$(commas "${result[bulk$n.pqrt]}") jobs/s | $(commas "${result[bulk$n.py]}") jobs/s |" \
    "$(ratio "${result[bulk$n.pqrt]}" "${result[bulk$n.py]}") |"
done
for c in $concurrency; do
  for m in wall span; do
    echo "| burst worker, N=$(commas "$n_work"), $m: pqrt \`pqrt.echo\` concurrency $c vs SimpleWorker \`echo\` |" \
      "$(commas "${result[work.pqrt.$c.$m]}") jobs/s | $(commas "${result[work.py.1.$m]}") jobs/s |" \
      "$(ratio "${result[work.pqrt.$c.$m]}" "${result[work.py.1.$m]}") |"
  done
done
for p in p50 p99; do
  echo "| enqueue→finished latency $p, N=$(commas "$n_latency") one at a time (pqrt concurrency 1 vs SimpleWorker) |" \
    "${result[lat.pqrt.$p]} ms | ${result[lat.py.$p]} ms | $(ratio "${result[lat.py.$p]}" "${result[lat.pqrt.$p]}") faster |"
done
echo
echo "wall: worker start to the last job in rq:finished (start-up included); span: first started_at to"
echo "last ended_at. The Python worker runs a Python function (\`def echo(x): return x\`), pqrt its"
echo "built-in pqrt.echo. Latency: client enqueue until XREAD BLOCK on rq:results:<id> returns."
if [[ -e $tmp/pqrt-burst-did-not-exit ]]; then
  echo "Note: a pqrt --burst worker did not exit by itself within 5 s of its queue being done (stopped"
  echo "with SIGTERM); its wall figure ends at the last finished job, not at the process exit."
fi

echo
echo "Aims:"
best_bulk=${n_bulk##* }
aim() {  # text, value, op, target
  local met
  met=$(awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN { print ((op == ">=") ? (v >= t) : (v < t)) ? "met" : "NOT met" }')
  echo "- $1: $met"
}
aim "bulk enqueue ≥ 20× enqueue_many (N=$(commas "$best_bulk"): $(ratio "${result[bulk$best_bulk.pqrt]}" "${result[bulk$best_bulk.py]}"))" \
  "$(awk -v a="${result[bulk$best_bulk.pqrt]}" -v b="${result[bulk$best_bulk.py]}" 'BEGIN { print a / b }')" ">=" 20
best_c=${concurrency##* }
aim "processing ≥ 20× SimpleWorker (concurrency $best_c, span: $(ratio "${result[work.pqrt.$best_c.span]}" "${result[work.py.1.span]}"))" \
  "$(awk -v a="${result[work.pqrt.$best_c.span]}" -v b="${result[work.py.1.span]}" 'BEGIN { print a / b }')" ">=" 20
aim "p50 latency under 0.5 ms (${result[lat.pqrt.p50]} ms)" "${result[lat.pqrt.p50]}" "<" 0.5
