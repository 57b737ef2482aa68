#pragma once

/// Every message and atom pqrt's actors exchange. One place, so a reader sees the whole protocol.
///
/// Contract of every supervised child: it accepts `quiet_atom` (take no new work, finish what is
/// in flight) and stops when it receives an exit message from its supervisor, handing back or
/// finishing in-flight work within the grace period.
///
/// Wiring: no actor looks another up. A role file names each child's peers in its child_spec and
/// the supervisor sends each child `(wire_atom, name, handle)` for them, again after a restart
/// (actors/peer.hpp); messages for a restarting peer are held, not dropped.
///
/// Worker flow (credits, never unbounded mailboxes):
///   rq_fetcher --(job_atom, rq_job)--> executor_pool --(run_atom, rq_job)--> executor,
///          whose reply is an `executor_reply`
///   executor_pool --(credit_atom, n)--> rq_fetcher       (one credit per free executor slot)
///   executor_pool --(record_atom, job_outcome)--> status_writer   (batched into one round trip)
///   status_writer --(settled_atom, ids)--> executor_pool --(settled_atom, ids)--> rq_fetcher
///          once the outcomes are in Redis. Until then the fetcher keeps each job it handed to the
///          pool, and the pool each outcome it handed on: when the pool ends, the fetcher returns
///          the pool's jobs to their queues; when a peer on the result path ends, the pool
///          returns the jobs whose outcomes it held (a job recorded meanwhile is skipped).
///   executor_pool --(state_atom, "busy"|"idle")--> heartbeat
///   burst: rq_fetcher --drained_atom--> executor_pool --sync_atom--> status_writer,
///          then --done_atom--> heartbeat (deregisters) and every actor ends normally.
///   eviction: scheduled_events_watcher --(drain_atom, time)--> executor_pool, then
///          --(shutdown_atom, grace)--> the root supervisor (runtime/scheduled_events_watcher.hpp).
///   record jobs: an executor asks the decryptor for the run's material (data key, its
///   cipher_set, script) once; a finished record job's result goes forward, never back through
///   the pool: executor --(seal_atom, pending_result)--> result_encryptor --(result_atom,
///   pending_result)--> result_writer, which writes results in batches, then hands their
///   outcomes (with the result's blob) to status_writer, whose settled_atom is the credit back.
///   The executor's reply tells the pool only that the job's outcome went forward (no result, no
///   plaintext); the pool counts it as handed on until it is settled. The pool holds back credit
///   while too many outcomes are unsettled, so a slow store slows the fetcher instead of filling
///   memory. The run's cipher_set is the one place the data key's ciphers live: the executors
///   open records with it, result_encryptor seals results with it.
///
/// Scheduler flow:
///   job_parser --(open_atom, container, name)--> blob_fetcher, then (next_atom) → one chunk per
///   request (empty at the end; the fetcher reads one chunk ahead);
///   job_parser --(jobs_atom, specs)--> rq_enqueuer → jobs added (at most two batches in flight);
///   run_monitor polls Redis, posts (event_atom, json) to status_writer, and at the end writes the
///   results manifest and asks its supervisor peer to shut the tree down. It passes its
///   blob_fetcher, decryptor and rq_enqueuer peers on to the enqueue passes it starts.

#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "crypto/record_cipher.hpp"
#include "crypto/secure_buffer.hpp"
#include "runtime/jobs/exec_processor.hpp"
#include "transport/job_store.hpp"
#include "transport/rq_job.hpp"

namespace pqrt {

// --- supervision and lifecycle -------------------------------------------------------------
/// To a child: stop taking new work.
using quiet_atom = caf::atom_constant<caf::atom("quiet")>;
/// To a supervisor: quiet, then stop children in reverse start order within a grace period.
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
/// To a supervisor: stop every child at once (the second signal).
using hard_stop_atom = caf::atom_constant<caf::atom("hardstop")>;
/// Supervisor-internal: the grace period ran out.
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
/// To a supervisor: the current handle of the child named in the message.
using which_atom = caf::atom_constant<caf::atom("which")>;
/// Supervisor → child: `(wire_atom, peer name, handle)`, the current handle of one of its peers
/// (actors/peer.hpp).
using wire_atom = caf::atom_constant<caf::atom("wire")>;

// --- worker ----------------------------------------------------------------------------------
/// A reserved job, fetcher → pool.
using job_atom = caf::atom_constant<caf::atom("job")>;
/// Run one job, pool → executor; the reply is an `executor_reply`.
using run_atom = caf::atom_constant<caf::atom("run")>;
/// Free slots, pool → fetcher (a `size_t`).
using credit_atom = caf::atom_constant<caf::atom("credit")>;
/// A fetcher (re)started and asks for credit.
using hello_atom = caf::atom_constant<caf::atom("hello")>;
/// Jobs whose outcomes are recorded in Redis (a `std::vector<std::string>` of ids):
/// status_writer → executor_pool → rq_fetcher. Until then the sender's upstream keeps each id to
/// hand it back should a peer on the way end.
using settled_atom = caf::atom_constant<caf::atom("settled")>;
/// One outcome to record, pool → status_writer.
using record_atom = caf::atom_constant<caf::atom("record")>;
/// status_writer-internal: write what has accumulated.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Request: everything received so far is written (reply: `ok_atom`).
using sync_atom = caf::atom_constant<caf::atom("sync")>;
/// Burst mode: the queues are empty.
using drained_atom = caf::atom_constant<caf::atom("drained")>;
/// Burst mode: all done; deregister and end.
using done_atom = caf::atom_constant<caf::atom("done")>;
/// Timer ticks and loops inside an actor.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
/// The worker's RQ state ("busy", "idle"), pool → heartbeat.
using state_atom = caf::atom_constant<caf::atom("state")>;
/// A scheduled eviction, to executor_pool with a `caf::timespan`: start nothing more, hand back
/// at once what was reserved but has not started, and what still runs once the time is up.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// executor_pool-internal: a drain's time is up.
using handback_atom = caf::atom_constant<caf::atom("handback")>;

// --- pipeline --------------------------------------------------------------------------------
/// A whole (small) blob, to blob_fetcher: container, name → bytes.
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
/// Open a blob for streaming, to blob_fetcher: container, name → size.
using open_atom = caf::atom_constant<caf::atom("open")>;
/// The next chunk of the open blob (empty at its end).
using next_atom = caf::atom_constant<caf::atom("next")>;
/// The run's material (data key, script), to decryptor: need_script → `run_material`.
using material_atom = caf::atom_constant<caf::atom("material")>;
/// Job specs to enqueue, job_parser → rq_enqueuer → jobs added.
using jobs_atom = caf::atom_constant<caf::atom("jobs")>;
/// A result to seal, executor → result_encryptor.
using seal_atom = caf::atom_constant<caf::atom("seal")>;
/// A sealed result to write, result_encryptor → result_writer.
using result_atom = caf::atom_constant<caf::atom("result")>;
/// A workload event (JSON text) for the workload queue, to status_writer.
using event_atom = caf::atom_constant<caf::atom("event")>;

/// The key and script of a run, held in memory only.
struct run_material {
  crypto::shared_secret key;
  std::shared_ptr<crypto::cipher_set> cipher;   ///< the key's ciphers, shared by the run's users
  std::shared_ptr<const memory_script> script;  ///< null when not asked for
  std::string key_check;
};

/// One record's result on its way to storage.
struct pending_record {
  uint64_t index = 0;
  std::string plaintext;  ///< cleared once sealed
  std::string sealed;
};

/// A record job's results on their way to storage: one record's, or those of the records of a
/// job of many that succeeded (the others' failures ride along in `outcome.records`). They go
/// into one results blob together, and the job's outcome is recorded once that blob is written.
struct pending_result {
  transport::job_outcome outcome;  ///< result_ref is filled in once written
  std::string run_id, dataset_id;
  std::vector<pending_record> records;
  std::shared_ptr<crypto::cipher_set> cipher;  ///< dropped once sealed
};

/// An executor's answer to `run_atom`: where the job's outcome went.
struct executor_reply {
  enum class path : uint8_t {
    record,     ///< `outcome` is to be recorded (a failure, or a job without a stored result)
    forwarded,  ///< the result went on to result_encryptor; its outcome follows from there
    release,    ///< the result could not be handed on: the job goes back to its queue
  };
  transport::job_outcome outcome;  ///< for `forwarded` and `release`: the id and `ok` only
  path to = path::record;
  size_t records = 1;         ///< for `forwarded`: the results it holds (the pool's memory bound)
  size_t failed_records = 0;  ///< for `forwarded`: the records of the job that failed
};

}  // namespace pqrt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::transport::rq_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::run_material)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::pending_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::executor_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<pqrt::transport::job_spec>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<pqrt::transport::job_outcome>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::transport::job_outcome)
