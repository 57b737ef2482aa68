# Processes and servers for the integration suites (sourced after lib.sh, from $WORK): every
# process started here is in PIDS and ended on exit; waits are guards against hanging, never
# timed assertions.
PY=/usr/bin/python3

# --- processes: every one started here is in PIDS and killed on exit ---------------------------
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# wait_until SECONDS 'CONDITION': polls every 0.1 s until the shell condition (evaluated afresh
# each time) holds; fails when the time is up. A guard against hanging, never a timed assertion.
wait_until() {
  local limit="$1" start=$SECONDS
  shift
  until eval "$*" >/dev/null 2>&1; do
    [ $((SECONDS - start)) -ge "$limit" ] && return 1
    sleep 0.1
  done
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis NAME PORT [ARGS...]: a redis-server on 127.0.0.1:PORT in $WORK/NAME; sets REDIS_PID.
start_redis() {
  local name="$1" port="$2"
  shift 2
  mkdir -p "$WORK/$name"
  /usr/bin/redis-server --bind 127.0.0.1 --port "$port" --save '' --dir "$WORK/$name" \
    --logfile "$WORK/$name/redis.log" "$@" &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_until 20 '(exec 3<>"/dev/tcp/127.0.0.1/$port")' 2>/dev/null
}
# Same, but ready means answering PING (plain TCP only).
start_redis_plain() {
  local port="$2"
  start_redis "$@"
  wait_until 20 '[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]'
}

# stop_pid PID: SIGTERM, then waits (at most 120 s) and sets rc to its exit code.
stop_pid() {
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1200); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  wait "$1" 2>/dev/null
  rc=$?
}

# wait_pid PID SECONDS: waits for a process to end by itself; sets rc (124 if it did not).
wait_pid() {
  local pid="$1" limit="$2" start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then rc=124; return; fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null
  rc=$?
}

# Shows a log's last lines in a failure message.
log_tail() { tail -n 15 "$WORK/$1" 2>/dev/null | tr '\n' '|'; }

# check_log NAME LOG COMMAND...: check, quoting the worker log LOG when it fails.
check_log() {
  local name="$1" log="$2"
  shift 2
  if "$@"; then pass "$name"; else fail "$name" "check failed: $*; $log: $(log_tail "$log")"; fi
}

