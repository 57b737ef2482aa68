#pragma once

/// run_monitor (scheduler): watches a run to its end. Every half second it reads the run's
/// bitmaps and queue from Redis and shows progress (done / failed / in flight / rate / ETA: a bar
/// on a terminal, a log line every 5 s otherwise, a workload event every 30 s); it also returns
/// dead workers' jobs to the queue and moves due retries back, so a run finishes even when every
/// worker that held its jobs died.
///
/// Once the run's total is known (this process's job_parser enqueued every record) and every job
/// has ended, it writes the results manifest `<run>/manifest.jsonl` to the results container (a
/// header line, then one line per record in index order: its job id, final state, attempts, and the
/// blob holding its result or the error), records the outcome for the role (`run_outcome`), posts
/// the `run_done` event, and asks the root supervisor to shut the tree down.
///
/// In: `tick_atom` (its own timer); `quiet_atom`.

#include <caf/fwd.hpp>

#include "actors/pipeline_settings.hpp"
#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns a run_monitor (detached: Redis and storage calls block) registered as "monitor".
caf::actor spawn_run_monitor(caf::actor_system& sys, const worker_settings& ws,
                             std::shared_ptr<const pipeline_settings> ps);

}  // namespace pqrt
