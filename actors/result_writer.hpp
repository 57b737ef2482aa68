#pragma once

/// result_writer: writes sealed results to the results container in batches: one blob per batch
/// and run, `<run>/results/<worker>-<instance>-<seq>`, one sealed result per line in index order
/// (each line carries its index, authenticated). A batch is written when it reaches 1 MiB or
/// 4096 results, or 100 ms after its first result. Only once a blob is written are its jobs'
/// outcomes (naming the blob and its size, which the finish script records for the scheduler's
/// check of storage) handed to status_writer: a job is never recorded finished before its result
/// is stored. A job that runs twice (a worker taken for dead) leaves its result in two
/// blobs; its status record names one, and the manifest and `pqrt results` use only that one.
///
/// In: `result_atom, pending_result`; `flush_atom`; `quiet_atom`. Out: `record_atom,
/// std::vector<job_outcome>` to status_writer (whose settled_atom reaches the pool). On exit it
/// writes what it holds (retrying); what it cannot write stays unrecorded and goes back to the
/// queue with the worker's reserved jobs.

#include <caf/fwd.hpp>

#include "actors/pipeline_settings.hpp"
#include "actors/spawn_mode.hpp"
#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns a result_writer (detached: storage calls block); its peers are wired by its supervisor
/// (actors/peer.hpp).
caf::actor spawn_result_writer(caf::actor_system& sys, const worker_settings& ws,
                               std::shared_ptr<const pipeline_settings> ps,
                               spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
