#pragma once

/// status_writer: records job outcomes in Redis as RQ does (finish/fail bookkeeping, retries, and
/// for a run's jobs their status records and the run's bitmaps), batching everything that arrived
/// while the previous write was in flight into one round trip. An outcome is never dropped: a
/// write that fails is retried with backoff until it lands.
///
/// With a pipeline configured it also posts, batched, one JSON message per batch of status records
/// to the job status queue (`{"type":"job_status","records":[{job_id, state, worker, at, error,
/// result}, ...]}`) and workload events to the workload queue
/// (`{"type":"workload","events":[...]}`), each message under the queue's 64 KiB limit. Queue
/// messages are informative copies (Redis holds the truth): a queue that stays down loses the
/// oldest beyond 10,000 pending messages, with a warning.
///
/// In: `record_atom, job_outcome`; `record_atom, std::vector<job_outcome>`; `event_atom, json`;
/// `sync_atom` → `ok_atom` once all received outcomes are written; `quiet_atom`. On exit it
/// writes what is pending first.

#include <caf/fwd.hpp>

#include "actors/spawn_mode.hpp"
#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns a status_writer (a detached actor: Redis calls block); its peers are wired by its
/// supervisor (actors/peer.hpp).
caf::actor spawn_status_writer(caf::actor_system& sys, const worker_settings& settings,
                               spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
