#!/usr/bin/env bash
# Hostile input at a worker's edges, with the real binary: a job whose data is a 1 GiB zlib bomb
# (it fails alone, with a clear error, and the worker's memory grows by no more than
# job_data_max_mb), and a server that answers every command with the integer 1 (a protocol error
# that ends the worker non-zero, never empty queues and a clean exit).
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"

# --- a zlib bomb as a job's data -------------------------------------------------------------
# job_error ID: the failure text RQ keeps for a job (its latest result's exc_string).
job_error() {
  "$PY" -c 'import sys; from redis import Redis; from rq.job import Job
print(Job.fetch(sys.argv[2], connection=Redis.from_url(sys.argv[1])).latest_result().exc_string)' \
    "$URL" "$1"
}
export -f job_error
export PY URL
# A Python RQ job for a function pqrt knows, then its data replaced by 1 GiB of zeros deflated
# (about 1 MiB), plus an ordinary job behind it.
"$PY" - "$URL" <<'EOF'
import sys, zlib
from redis import Redis
from rq import Queue
r = Redis.from_url(sys.argv[1])
q = Queue("hostile", connection=r)
q.enqueue("pqrt.upper", "before", job_id="plain-1")
q.enqueue("pqrt.upper", "bomb", job_id="bomb")
q.enqueue("pqrt.upper", "after", job_id="plain-2")
z = zlib.compressobj()
chunk = bytes(1 << 20)
bomb = b"".join(z.compress(chunk) for _ in range(1024)) + z.flush()
r.hset("rq:job:bomb", "data", bomb)
EOF
check "three jobs are queued, the middle one a 1 GiB zlib bomb" \
  test "$(redis-cli -u "$URL" llen rq:queue:hostile)" -eq 3

/usr/bin/time -f '%M' -o rss.txt "$PQRT" --role=worker --redis "$URL" --queues hostile --burst \
  --concurrency 1 >bomb.out 2>bomb.log
rc=$?
check "the burst worker ends cleanly after failing the bomb" test "$rc" -eq 0
check "the bomb failed" test "$(redis-cli -u "$URL" hget rq:job:bomb status)" = failed
check "its error says why: the data inflates past the cap" \
  bash -c "job_error bomb | grep -q 'job data: zlib: output exceeds 67108864 bytes'"
check "the jobs around it finished" \
  test "$(redis-cli -u "$URL" hget rq:job:plain-1 status)/$(redis-cli -u "$URL" hget rq:job:plain-2 status)" = finished/finished
peak_kib="$(tail -n 1 rss.txt)"
echo "# worker peak RSS: $((peak_kib / 1024)) MiB (cap 64 MiB of job data)"
if [ "$SANITIZE" = ON ]; then
  # ASan's shadow memory and quarantine inflate RSS; the bound is checked in the plain build.
  check "the worker's peak RSS was measured" test "$peak_kib" -gt 0
else
  check "the worker's peak RSS stays under 256 MiB" test "$peak_kib" -lt $((256 * 1024))
fi

# A smaller cap, named by its field, holds too.
"$PY" - "$URL" <<'EOF'
import sys, zlib
from redis import Redis
from rq import Queue
r = Redis.from_url(sys.argv[1])
Queue("hostile", connection=r).enqueue("pqrt.upper", "x" * (3 << 20), job_id="big")
EOF
run "$PQRT" --role=worker --redis "$URL" --queues hostile --burst --job-data-max-mb 2
expect "a 3 MiB job with --job-data-max-mb 2 ends the burst worker cleanly" 0
check "and fails, naming the cap" bash -c "job_error big | grep -q 'exceeds 2097152 bytes'"

# --- a server that answers every command with :1 ---------------------------------------------
FAKE_PORT="$(free_port)"
"$PY" - "$FAKE_PORT" <<'EOF' >fake.log 2>&1 &
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
def serve(conn):
    buf = b""
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            # One ':1' per complete RESP command (an array of bulk strings) in the buffer.
            while True:
                if not buf.startswith(b"*"):
                    buf = b""
                    break
                end = buf.find(b"\r\n")
                if end < 0:
                    break
                n, pos, done = int(buf[1:end]), end + 2, True
                for _ in range(n):
                    e = buf.find(b"\r\n", pos)
                    if e < 0:
                        done = False
                        break
                    size = int(buf[pos + 1:e])
                    pos = e + 2 + size + 2
                    if pos > len(buf):
                        done = False
                        break
                if not done:
                    break
                buf = buf[pos:]
                conn.sendall(b":1\r\n")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
PIDS+=($!)
wait_until 20 "(exec 3<>/dev/tcp/127.0.0.1/$FAKE_PORT)"
run timeout 120 "$PQRT" --role=worker --redis "redis://127.0.0.1:$FAKE_PORT" --burst \
  --redis-give-up-sec 5
check "a server answering :1 to everything makes the worker exit non-zero" \
  test "$rc" -ne 0 -a "$rc" -ne 124
check "naming a protocol error" grep -q 'protocol_error' "$WORK/err"

finish
