"""Python RQ's side of test/bench/rq.sh, plus the worker figures read back from Redis.

Usage: rq_python.py FIGURE REDIS_URL N [QUEUE, default bench]
  single   N calls of Queue.enqueue(bench_tasks.echo, i)
  bulk     one Queue.enqueue_many of N Queue.prepare_data(...); the time includes prepare_data
  fill     as bulk, for a worker to drain (the line is informative only)
  latency  N times: Queue.enqueue one job, then wait for its results stream entry (XREAD BLOCK);
           needs a worker serving QUEUE. 20 unmeasured jobs warm up first.
  wait     block until QUEUE's finished registry holds N jobs (polled every 5 ms); prints the
           seconds waited (a burst worker's end, whether or not the process exits by itself)
  span     (N ignored) jobs in QUEUE's finished registry, and seconds from the first started_at
           to the last ended_at among them (any worker: pqrt or Python)
  version  RQ, redis-py and Python versions
Prints one line, as bench_rq does: figure n seconds jobs/s [p50_ms p99_ms].
"""

import os
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_tasks  # noqa: E402
import redis  # noqa: E402
import rq  # noqa: E402
from rq import Queue  # noqa: E402

WARMUP_JOBS = 20
RESULT_WAIT_MS = 10000


def single(conn, queue, n):
    q = Queue(queue, connection=conn)
    start = time.perf_counter()
    for i in range(n):
        q.enqueue(bench_tasks.echo, i)
    secs = time.perf_counter() - start
    print(f"single {n} {secs:.4f} {n / secs:.0f}")


def bulk(conn, queue, n, figure):
    q = Queue(queue, connection=conn)
    start = time.perf_counter()
    q.enqueue_many([Queue.prepare_data(bench_tasks.echo, (i,)) for i in range(n)])
    secs = time.perf_counter() - start
    print(f"{figure} {n} {secs:.4f} {n / secs:.0f}")


def round_trip(conn, q, i):
    start = time.perf_counter()
    job = q.enqueue(bench_tasks.echo, i)
    reply = conn.xread({f"rq:results:{job.id}": "0"}, block=RESULT_WAIT_MS)
    secs = time.perf_counter() - start
    if not reply:
        sys.exit(f"rq_python: no result for {job.id} within {RESULT_WAIT_MS} ms")
    return secs


def percentile(sorted_samples, p):
    rank = int(p * (len(sorted_samples) - 1) + 0.5)
    return sorted_samples[min(rank, len(sorted_samples) - 1)]


def latency(conn, queue, n):
    q = Queue(queue, connection=conn)
    for i in range(WARMUP_JOBS):
        round_trip(conn, q, i)
    start = time.perf_counter()
    samples = sorted(round_trip(conn, q, i) for i in range(n))
    secs = time.perf_counter() - start
    print(f"latency {n} {secs:.4f} {n / secs:.0f} "
          f"{percentile(samples, 0.50) * 1e3:.3f} {percentile(samples, 0.99) * 1e3:.3f}")


def wait(conn, queue, n):
    start = time.perf_counter()
    while conn.zcard(f"rq:finished:{queue}") < n:
        time.sleep(0.005)
    secs = time.perf_counter() - start
    print(f"wait {n} {secs:.4f} {n / secs:.0f}")


def parse_ts(raw):
    return datetime.strptime(raw.decode(), "%Y-%m-%dT%H:%M:%S.%fZ")


def span(conn, queue):
    ids = conn.zrange(f"rq:finished:{queue}", 0, -1)
    pipe = conn.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(b"rq:job:" + job_id, "started_at", "ended_at")
    times = [(parse_ts(s), parse_ts(e)) for s, e in pipe.execute() if s and e]
    if not times:
        sys.exit(f"rq_python: no finished jobs in rq:finished:{queue}")
    secs = (max(e for _, e in times) - min(s for s, _ in times)).total_seconds()
    print(f"span {len(times)} {secs:.4f} {len(times) / secs:.0f}")


def main():
    figure = sys.argv[1]
    if figure == "version":
        print(f"rq {rq.__version__}, redis-py {redis.__version__}, Python {sys.version.split()[0]}")
        return
    conn = redis.Redis.from_url(sys.argv[2])
    n = int(sys.argv[3])
    queue = sys.argv[4] if len(sys.argv) > 4 else "bench"
    if figure == "single":
        single(conn, queue, n)
    elif figure in ("bulk", "fill"):
        bulk(conn, queue, n, figure)
    elif figure == "latency":
        latency(conn, queue, n)
    elif figure == "wait":
        wait(conn, queue, n)
    elif figure == "span":
        span(conn, queue)
    else:
        sys.exit(f"rq_python: unknown figure {figure}")


if __name__ == "__main__":
    main()
