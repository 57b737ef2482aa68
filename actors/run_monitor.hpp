#pragma once

/// run_monitor (scheduler): watches a run to its end. Every half second it reads the run's
/// bitmaps and queue from Redis and shows progress (done / failed / in flight / rate / ETA: a bar
/// on a terminal, a log line every 5 s otherwise, a workload event every 30 s); it also returns
/// dead workers' jobs to the queue and moves due retries back, so a run finishes even when every
/// worker that held its jobs died.
///
/// Once the run's total is known (this process's job_parser enqueued every record) and every job
/// has ended, it checks the results in storage (actors/run_results.hpp): it lists the run's
/// results prefix and checks that every blob a finished record names is there with the size its
/// writer recorded. The records of a blob that is missing or of another size are taken back in
/// Redis (status queued, reason "result blob missing: NAME") and run again: the monitor starts
/// another enqueue pass over the data file (`run_monitor_pass`, a job_parser from the role file),
/// which adds exactly those, and the run goes on. A listing or Redis error is retried with
/// backoff, never read as "all missing" or "all there". Only when every record's result checks
/// out does it write the results manifest `<run>/manifest.jsonl` to the results container (a
/// header line, then one line per record in index order: its job id, final state, attempts, and the
/// blob holding its result or the error), record the outcome for the role (`run_outcome`), post
/// the `run_done` event, and ask the root supervisor to shut the tree down.
///
/// In: `tick_atom` (its own timer); `run_atom` (start the enqueue pass again after it failed);
/// the pass's `down_msg`; `quiet_atom`.

#include <functional>

#include <caf/fwd.hpp>

#include "actors/pipeline_settings.hpp"
#include "actors/worker_settings.hpp"

namespace pqrt {

/// Starts an enqueue pass over the run's data file (records that exist or ended are skipped)
/// and returns its actor, which ends normally once every record is enqueued.
using run_monitor_pass = std::function<caf::actor(caf::actor_system&)>;

/// Spawns a run_monitor (detached: Redis and storage calls block); its peers are wired by its
/// supervisor (actors/peer.hpp).
caf::actor spawn_run_monitor(caf::actor_system& sys, const worker_settings& ws,
                             std::shared_ptr<const pipeline_settings> ps, run_monitor_pass pass,
                             spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
