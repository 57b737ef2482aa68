"""The Python RQ side of test/bench/pipeline.sh: an encrypted data set processed end to end.

Usage:
  pipeline_python.py run --redis URL --rsa rsa.pem --key aes.encrypted --data data.encrypted
                         --processor sha256|exec [--script process.py.encrypted] [--workers W]
                         [--queue pipeline] [--batch 1000] [--samples 5]
  pipeline_python.py check --rsa rsa.pem --key aes.encrypted --data data.encrypted --plain data.txt
                           [--script process.py.encrypted --script-plain process.py]
  pipeline_python.py worker ...   (internal: one burst worker, started by `run`)
  pipeline_python.py version

run: unwraps the data key, reads the records header (data set id), then enqueues one RQ job per
  record with Queue.enqueue_many in batches (pipeline_tasks.process_record(dataset id, index,
  encrypted line)). After the first batch it starts W worker processes (default: one per core),
  each an rq.worker.SimpleWorker in burst mode; each worker gets the data key over an inherited
  pipe (never an environment variable or a file) and, for `exec`, decrypts the script itself into
  a memfd. Enqueueing goes on while the workers run; a burst worker that ran the queue dry before
  the enqueuer caught up is started again. The clock runs from the first enqueue to the moment
  the finished and failed registries hold every job. Afterwards every job's status is read back
  (all must be `finished`, none failed) and a few results are decrypted and compared with the
  sha256 of their record. Prints one line:
    python PROCESSOR RECORDS SECONDS RECORDS_PER_S enqueue=SECONDS workers=W restarts=K
check: decrypts every record (and the script) and compares them with the plaintext files, to show
  this module reads pqrt's formats; also seals and opens a result.
"""

import argparse
import hashlib
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pipeline_tasks as tasks  # noqa: E402
import redis  # noqa: E402
import rq  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import Job  # noqa: E402

POLL_SECONDS = 0.005
RESULT_TTL = 24 * 3600  # results (and the finished registry entries) outlive any run
JOB_TIMEOUT = 600  # seconds one job may take (exec spawns a Python per record)


def read_records_header(path):
    with open(path, "r", encoding="ascii") as f:
        return tasks.parse_records_header(f.readline())


def count_records(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f) - 1  # minus the header


def record_batches(path, batch):
    """(index, line) lists of up to `batch` records, in file order."""
    with open(path, "r", encoding="ascii") as f:
        f.readline()  # the header
        chunk = []
        for index, line in enumerate(f):
            chunk.append((index, line.rstrip("\r\n")))
            if len(chunk) == batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


# --- workers ------------------------------------------------------------------------------------


class Workers:
    """W burst worker processes; each gets the data key over a pipe it inherits."""

    def __init__(self, args, key):
        self.args, self.key = args, key
        self.procs = []
        self.restarts = 0

    def start_one(self):
        read_end, write_end = os.pipe()
        cmd = [sys.executable, os.path.abspath(__file__), "worker", "--redis", self.args.redis,
               "--queue", self.args.queue, "--processor", self.args.processor,
               "--key-fd", str(read_end)]
        if self.args.script:
            cmd += ["--script", os.path.abspath(self.args.script)]
        env = dict(os.environ, PYTHONPATH=HERE)
        proc = subprocess.Popen(cmd, pass_fds=(read_end,), env=env)
        os.close(read_end)
        os.write(write_end, self.key)  # 32 bytes: fits the pipe buffer, never blocks
        os.close(write_end)
        self.procs.append(proc)

    def start(self, count):
        for _ in range(count):
            self.start_one()

    def check(self, queue_has_jobs):
        """Fails on a worker that crashed; restarts burst workers that ended too early."""
        for proc in list(self.procs):
            code = proc.poll()
            if code is None:
                continue
            if code != 0:
                raise SystemExit(f"pipeline_python: worker {proc.pid} exited with {code}")
            self.procs.remove(proc)
            if queue_has_jobs:
                self.restarts += 1
                self.start_one()

    def alive(self):
        return any(p.poll() is None for p in self.procs)

    def stop(self, grace):
        """Waits up to `grace` seconds for the workers to end by themselves, then stops them."""
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker_main(args):
    """One burst SimpleWorker with the data key read from the inherited pipe."""
    key = b""
    while len(key) < tasks.KEY_SIZE:
        piece = os.read(args.key_fd, tasks.KEY_SIZE - len(key))
        if not piece:
            raise SystemExit("pipeline_python worker: the key pipe closed early")
        key += piece
    os.close(args.key_fd)
    script = None
    if args.processor == "exec":
        with open(args.script, "rb") as f:
            script = tasks.decrypt_file(key, f.read(), "script")
    tasks.configure(key, args.processor, script)
    conn = redis.Redis.from_url(args.redis)
    worker = rq.worker.SimpleWorker([Queue(args.queue, connection=conn)], connection=conn)
    # WARNING: no log line per job (RQ logs two at INFO), the fastest setting RQ offers.
    worker.work(burst=True, logging_level="WARNING")


# --- run ----------------------------------------------------------------------------------------


def ended(conn, queue):
    """Jobs in the finished and failed registries."""
    return conn.zcard(f"rq:finished:{queue}") + conn.zcard(f"rq:failed:{queue}")


def run(args):
    key = tasks.unwrap_data_key(args.key, args.rsa)
    aead, check = AESGCM(key), tasks.key_check(key)
    dataset_id, file_check = read_records_header(args.data)
    if file_check != check.hex():
        raise SystemExit(f"pipeline_python: {args.data} was sealed under key {file_check}")
    n = count_records(args.data)
    if n < 1:
        raise SystemExit(f"pipeline_python: {args.data} holds no records")
    rng = random.Random(n)  # the same sampled records every run
    samples = sorted({0, n - 1, *rng.sample(range(n), min(n, max(0, args.samples - 2)))})
    sample_set = set(samples)
    sample_lines = {}

    conn = redis.Redis.from_url(args.redis)
    queue = Queue(args.queue, connection=conn)
    if conn.llen(f"rq:queue:{args.queue}") or ended(conn, args.queue):
        raise SystemExit(f"pipeline_python: queue {args.queue} is not empty (FLUSHALL first)")
    workers = Workers(args, key)
    job_ids = []
    done = False
    try:
        start = time.perf_counter()
        for batch in record_batches(args.data, args.batch):
            jobs = queue.enqueue_many([
                Queue.prepare_data(tasks.process_record, (dataset_id, index, line),
                                   description=f"record {index}", timeout=JOB_TIMEOUT,
                                   result_ttl=RESULT_TTL)
                for index, line in batch])
            job_ids.extend(job.id for job in jobs)
            sample_lines.update((i, line) for i, line in batch if i in sample_set)
            if not workers.procs:
                workers.start(args.workers)  # after the first batch: burst workers need jobs
            else:
                workers.check(queue_has_jobs=True)
        enqueued = time.perf_counter() - start
        while ended(conn, args.queue) < n:
            queued = conn.llen(f"rq:queue:{args.queue}")
            workers.check(queue_has_jobs=queued > 0)
            if not workers.alive() and queued == 0 and ended(conn, args.queue) < n:
                # Every worker ended on an empty queue, so every job has ended: allow a moment
                # for the registries, then give up.
                time.sleep(0.5)
                if ended(conn, args.queue) < n:
                    raise SystemExit("pipeline_python: every worker ended, the queue is empty, "
                                     f"but only {ended(conn, args.queue)} of {n} jobs ended")
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - start
        done = True
    finally:
        # Done: burst workers find the queue empty and end by themselves. Failed: stop them now.
        workers.stop(grace=30 if done else 0)

    verify(conn, args, aead, check, dataset_id, job_ids, samples, sample_lines)
    print(f"python {args.processor} {n} {seconds:.4f} {n / seconds:.1f} enqueue={enqueued:.3f} "
          f"workers={args.workers} restarts={workers.restarts}")


def verify(conn, args, aead, check, dataset_id, job_ids, samples, sample_lines):
    """Every job finished; the sampled results decrypt to their record's sha256."""
    if len(job_ids) != len(set(job_ids)):
        raise SystemExit("pipeline_python: duplicate job ids")
    failed = conn.zcard(f"rq:failed:{args.queue}")
    pipe = conn.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(f"rq:job:{job_id}", "status")
    statuses = pipe.execute()
    not_finished = sum(1 for s in statuses if s != b"finished")
    if failed or not_finished:
        raise SystemExit(f"pipeline_python: {not_finished} of {len(job_ids)} jobs not finished "
                         f"({failed} in the failed registry)")
    for index in samples:
        record = tasks.open_record(aead, check, dataset_id, index, sample_lines[index])
        sealed = Job.fetch(job_ids[index], connection=conn).return_value()
        result = tasks.open_record(aead, check, tasks.results_dataset(dataset_id), index, sealed)
        if result.strip() != hashlib.sha256(record).hexdigest().encode():
            raise SystemExit(f"pipeline_python: record {index}: result {result[:80]!r} is not "
                             "the sha256 of the record")
    print(f"verified: {len(job_ids)} jobs finished, 0 failed; results of records "
          f"{', '.join(map(str, samples))} checked", file=sys.stderr)


# --- check --------------------------------------------------------------------------------------


def check_formats(args):
    key = tasks.unwrap_data_key(args.key, args.rsa)
    aead, check = AESGCM(key), tasks.key_check(key)
    dataset_id, file_check = read_records_header(args.data)
    if file_check != check.hex():
        raise SystemExit(f"check: key check {file_check} in {args.data}, the key is {check.hex()}")
    count = 0
    with open(args.plain, "rb") as plain:
        for batch in record_batches(args.data, 10000):
            for index, line in batch:
                expected = plain.readline().rstrip(b"\n")
                if tasks.open_record(aead, check, dataset_id, index, line) != expected:
                    raise SystemExit(f"check: record {index} differs from line {index + 1} of "
                                     f"{args.plain}")
                count += 1
        if plain.readline():
            raise SystemExit(f"check: {args.plain} has more lines than {args.data} has records")
    # A swapped record and another data set must not open.
    first = next(record_batches(args.data, 1))[0][1]
    for bad_index, bad_dataset in ((1, dataset_id), (0, dataset_id + "x")):
        try:
            tasks.open_record(aead, check, bad_dataset, bad_index, first)
            raise SystemExit("check: record 0 opened at the wrong index or data set")
        except tasks.CryptoError:
            pass
    sealed = tasks.seal_record(aead, check, "r", 7, b"result")
    if tasks.open_record(aead, check, "r", 7, sealed) != b"result":
        raise SystemExit("check: seal/open round trip failed")
    what = f"{count} records of data set {dataset_id!r}"
    if args.script:
        with open(args.script, "rb") as f:
            script = tasks.decrypt_file(key, f.read(), "script")
        with open(args.script_plain, "rb") as f:
            if script != f.read():
                raise SystemExit(f"check: {args.script} does not decrypt to {args.script_plain}")
        what += " and the script"
    print(f"check ok: {what} decrypt to their plaintext")


# --- main ---------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run")
    run_p.add_argument("--redis", required=True)
    run_p.add_argument("--rsa", required=True)
    run_p.add_argument("--key", required=True)
    run_p.add_argument("--data", required=True)
    run_p.add_argument("--processor", choices=("sha256", "exec"), required=True)
    run_p.add_argument("--script")
    run_p.add_argument("--workers", type=int, default=os.cpu_count())
    run_p.add_argument("--queue", default="pipeline")
    run_p.add_argument("--batch", type=int, default=1000)
    run_p.add_argument("--samples", type=int, default=5)
    check_p = sub.add_parser("check")
    for name in ("--rsa", "--key", "--data", "--plain"):
        check_p.add_argument(name, required=True)
    check_p.add_argument("--script")
    check_p.add_argument("--script-plain")
    worker_p = sub.add_parser("worker")
    worker_p.add_argument("--redis", required=True)
    worker_p.add_argument("--queue", required=True)
    worker_p.add_argument("--processor", required=True)
    worker_p.add_argument("--key-fd", type=int, required=True)
    worker_p.add_argument("--script")
    sub.add_parser("version")
    args = parser.parse_args()

    if args.command == "version":
        import cryptography
        print(f"rq {rq.__version__}, redis-py {redis.__version__}, "
              f"cryptography {cryptography.__version__}, Python {sys.version.split()[0]}")
    elif args.command == "run":
        if args.processor == "exec" and not args.script:
            parser.error("--processor exec needs --script")
        if args.workers < 1 or args.batch < 1:
            parser.error("--workers and --batch must be at least 1")
        run(args)
    elif args.command == "check":
        if bool(args.script) != bool(args.script_plain):
            parser.error("--script and --script-plain go together")
        check_formats(args)
    else:
        worker_main(args)


if __name__ == "__main__":
    main()
