#!/usr/bin/python3
"""Python RQ 1.13's side of the RQ interop suite (test/integration/rq_interop.sh).

Every subcommand talks to Redis through the real `rq` package (Queue, Job, registries), so what
it reports is what a Python RQ user would see.

  enqueue URL QUEUE SERIALIZER FUNC [JSON_ARG...]     prints the job id
  bulk URL QUEUE IDS_FILE COUNT:FUNC:JSON_ARGS...     enqueues many jobs in order, ids to IDS_FILE
  expect URL SERIALIZER ID STATUS [REPR]              exit 0 iff get_status() == STATUS and
                                                      repr(return_value()) == REPR (if given)
  failed-ids URL QUEUE                                FailedJobRegistry(queue).get_job_ids()
  exc-info URL SERIALIZER ID                          Job.fetch(id).exc_info
  verify URL IDS_FILE                                 every job finished with exactly one result
"""
import json
import sys

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import DefaultSerializer, JSONSerializer


def serializer(name):
    return JSONSerializer if name == "json" else DefaultSerializer


def cmd_enqueue(url, queue, ser, func, *args):
    r = Redis.from_url(url)
    q = Queue(queue, connection=r, serializer=serializer(ser))
    job = q.enqueue(func, *[json.loads(a) for a in args])
    print(job.id)


def cmd_bulk(url, queue, ids_file, *specs):
    r = Redis.from_url(url)
    q = Queue(queue, connection=r)
    ids = []
    for spec in specs:
        count, func, args = spec.split(":", 2)
        args = json.loads(args)
        # Results kept an hour, so a slow (sanitizer) run still finds them when it checks.
        datas = [Queue.prepare_data(func, args=args, result_ttl=3600) for _ in range(int(count))]
        for start in range(0, len(datas), 1000):
            with r.pipeline() as pipe:
                jobs = q.enqueue_many(datas[start:start + 1000], pipeline=pipe)
                pipe.execute()
            ids.extend(job.id for job in jobs)
    with open(ids_file, "w") as out:
        out.write("\n".join(ids) + "\n")
    print(len(ids))


def cmd_expect(url, ser, job_id, status, want_repr=None):
    r = Redis.from_url(url)
    job = Job.fetch(job_id, connection=r, serializer=serializer(ser))
    got_status = job.get_status()
    got_repr = repr(job.return_value())
    print("status=%s return_value=%s" % (got_status, got_repr))
    ok = got_status == status and (want_repr is None or got_repr == want_repr)
    sys.exit(0 if ok else 1)


def cmd_failed_ids(url, queue):
    r = Redis.from_url(url)
    for job_id in FailedJobRegistry(queue=Queue(queue, connection=r)).get_job_ids():
        print(job_id)


def cmd_exc_info(url, ser, job_id):
    r = Redis.from_url(url)
    print(Job.fetch(job_id, connection=r, serializer=serializer(ser)).exc_info)


def cmd_verify(url, ids_file):
    """Checks with raw reads (pipelined, 10,000 jobs) that each job finished exactly once."""
    r = Redis.from_url(url)
    ids = [line.strip() for line in open(ids_file) if line.strip()]
    bad = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        with r.pipeline(transaction=False) as pipe:
            for job_id in chunk:
                pipe.hget("rq:job:" + job_id, "status")
                pipe.xrange("rq:results:" + job_id)
            replies = pipe.execute()
        for i, job_id in enumerate(chunk):
            status, entries = replies[2 * i], replies[2 * i + 1]
            types = [e[1].get(b"type") for e in entries]
            if status != b"finished" or types != [b"1"]:
                bad.append("%s status=%s results=%s" % (job_id, status, types))
    print("%d jobs, %d not finished exactly once" % (len(ids), len(bad)))
    for line in bad[:10]:
        print("  " + line)
    sys.exit(0 if ids and not bad else 1)


if __name__ == "__main__":
    commands = {"enqueue": cmd_enqueue, "bulk": cmd_bulk, "expect": cmd_expect,
                "failed-ids": cmd_failed_ids, "exc-info": cmd_exc_info, "verify": cmd_verify}
    commands[sys.argv[1]](*sys.argv[2:])
