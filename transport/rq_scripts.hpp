#pragma once

/// The Lua scripts that make pqrt's RQ operations atomic. Each script does in one step what
/// Python RQ does in a MULTI/EXEC transaction, and more where RQ can lose a job: the reserve moves
/// a job id from its queue into the worker's own processing list and registers it as started in
/// one step, so no crash between the two can lose it.
///
/// Scripts touch keys derived from job ids (as RQ's transactions do): they need a standalone Redis
/// (or Azure Cache for Redis without clustering), like Python RQ itself.

#include <string>

namespace pqrt::transport::rq_scripts {

/// A script and its SHA1 (for EVALSHA).
struct script {
  std::string name;
  std::string source;
  std::string sha;
};

/// KEYS: none. ARGV: now_ts, then per job 3 values: id, queue, and the job's HSET mapping as
/// field/value pairs encoded as count + pairs. Skips ids whose job hash exists (deterministic ids
/// never duplicate a job), and a run's jobs whose bit is set in its finished or failed bitmap.
/// Creates the status record of a run's job, keeping its `rerun` (why `rerun` took it back).
/// A job of many records (`pqrt_count`) is skipped while it waits, runs or waits for a retry, or
/// when every record of it ended; else it is enqueued (again) with a status record for each
/// record that has not ended. Returns the number of records enqueued (a job of one record: 1).
const script& enqueue();
/// KEYS: processing list, then queue keys in priority order. ARGV: worker name, now_ts, now_int,
/// wip_ttl, max jobs, token (stored on every job it starts). Returns `SUSPENDED` (status) or an
/// array of {id, HGETALL fields}.
const script& reserve();
/// KEYS: processing list. ARGV: worker name, now_ts, now_int, wip_ttl, id, token. Registers one id
/// that BLMOVE already moved into the processing list; returns {id, fields} or an empty array.
const script& claim();
/// KEYS: processing list. ARGV: worker name, now_ts, now_int, wip_ttl, token. After a reserve or
/// claim whose reply was lost: the jobs it started (by token), and any id a lost BLMOVE moved but
/// nobody claimed, as {id, fields} pairs.
const script& reclaim();
/// KEYS: processing list. ARGV: worker name, now_ts, now_int, default result_ttl, working secs,
/// has_return_value (0/1), return value (base64), id, result ref (for a run's status record),
/// the result blob's size ("" for none: a run's job records it in `rq_keys::run_blobs`).
/// Returns 1 (recorded) or 0 (no longer ours).
const script& finish();
/// KEYS: processing list. ARGV: worker name, now_ts, now_int, default result_ttl, then per job of
/// many records: id, working secs, result blob, its size, retry delay (-1: never), exc_string,
/// status text, n, and n times (record index, f|x|r, error text). Records every record's status
/// and bit and ends each job (rq_scripts_failure.cpp says how). Returns one status per job:
/// `finished`, `failed`, `retried`, `scheduled` or `gone`.
const script& finish_records();
/// KEYS: processing list. ARGV: worker name, now_ts, now_int, status (failed|stopped), exc_string
/// (base64 of zlib), working secs, retry delay secs (-1: never retry), id, error text (plain, for
/// a run's status record). Returns `failed`,
/// `retried`, `scheduled` or `gone`.
const script& fail();
/// KEYS: processing list, alive key. ARGV: worker name, now_ts, now_int, max attempts, exc_string
/// for jobs that exhausted their attempts, count_attempt (0/1), that text plain. Puts a dead (or
/// stopping) worker's reserved jobs back at the front of their queues. Returns -1 when the worker
/// is alive, else the number of jobs returned.
const script& recover();
/// KEYS: processing list. ARGV: worker name, now_ts, then job ids. Puts those of the ids still in
/// the processing list back at the front of their queues, in order, as if never started (no
/// attempt counted). Returns the number of jobs returned.
const script& release();
/// KEYS: processing list, alive key, worker key. ARGV: now_ts, now_int, wip_ttl, alive_ms,
/// worker_ttl, worker name, its queues. Refreshes liveness, the worker hash TTL and the wip scores
/// of every reserved job; a worker that was taken for dead joins the worker sets again. Returns
/// 1 when RQ's suspension is in force, plus 2 when the worker had to join again.
const script& heartbeat();
/// KEYS: scheduled registry. ARGV: now_ts, now_int, limit. Enqueues the jobs whose time came.
const script& promote();
/// KEYS: none. ARGV: run, its queue, then per record 5 values: job id, index, status key, result
/// blob, reason. Takes back a finished record whose result blob is lost, so that the next enqueue
/// pass runs it again: only while its finished bit is set and its status still names that blob,
/// clears the bit, deletes the job hash and its results stream (and its finished registry entry),
/// and sets the status record queued with the reason (`rerun`, which the enqueue keeps, and
/// `error`). Returns how many records were taken back.
const script& rerun();

}  // namespace pqrt::transport::rq_scripts
