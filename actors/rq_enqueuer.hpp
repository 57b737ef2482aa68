#pragma once

/// rq_enqueuer: puts a run's jobs into Redis in RQ form, a batch per request (the enqueue script
/// takes 500 jobs per call, pipelined), and describes the run in its hash `pqrt:run:<id>`
/// (dataset, queue, processor, total once known). Job ids are deterministic and the script skips
/// ids that exist or already ended, so a batch sent twice (a restart, a second scheduler) adds
/// nothing.
///
/// In: `hello_atom, dataset, key_check` → `ok_atom` (the run is described);
/// `jobs_atom, std::vector<job_spec>` → `size_t` (jobs added); `done_atom, total, added` →
/// `ok_atom` (every job is enqueued); `quiet_atom`.

#include <caf/fwd.hpp>

#include "actors/pipeline_settings.hpp"
#include "actors/spawn_mode.hpp"
#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns an rq_enqueuer (detached: Redis calls block); its peers are wired by its supervisor
/// (actors/peer.hpp).
caf::actor spawn_rq_enqueuer(caf::actor_system& sys, const worker_settings& ws,
                             std::shared_ptr<const pipeline_settings> ps,
                             spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
