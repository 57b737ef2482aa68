#pragma once

/// rq_fetcher: reserves jobs from the worker's queues, in priority order, as fast as the
/// executor_pool has free executors (credits) and no faster. A reserve moves the job into this
/// worker's processing list and registers it as started in one atomic step. When the queues are
/// empty it blocks on the first queue (BLMOVE, 1 s) so a new job starts at once; in burst mode it
/// tells the pool the queues are drained and ends.
///
/// It keeps the id of every job it handed to the pool until the pool settles it; when the pool
/// ends (a crash), those jobs go back to the front of their queues (skipping any recorded
/// meanwhile), and the restarted pool gets credit afresh.
///
/// In: `wire_atom` (its executor_pool peer); `credit_atom, size_t`; `settled_atom, ids`;
/// `quiet_atom` (stop reserving); `poll_atom` (its own loop).

#include <caf/fwd.hpp>

#include "actors/spawn_mode.hpp"
#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns an rq_fetcher (detached: it blocks in Redis); its peers are wired by its supervisor
/// (actors/peer.hpp).
caf::actor spawn_rq_fetcher(caf::actor_system& sys, const worker_settings& settings,
                            spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
