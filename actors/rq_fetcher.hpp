#pragma once

/// rq_fetcher: reserves jobs from the worker's queues, in priority order, as fast as the
/// executor_pool has free executors (credits) and no faster. A reserve moves the job into this
/// worker's processing list and registers it as started in one atomic step. When the queues are
/// empty it blocks on the first queue (BLMOVE, 1 s) so a new job starts at once; in burst mode it
/// tells the pool the queues are drained and ends.
///
/// In: `credit_atom, size_t`; `quiet_atom` (stop reserving); `poll_atom` (its own loop).

#include <caf/fwd.hpp>

#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns an rq_fetcher (detached: it blocks in Redis), registered as "fetcher".
caf::actor spawn_rq_fetcher(caf::actor_system& sys, const worker_settings& settings);

}  // namespace pqrt
