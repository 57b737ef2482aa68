#pragma once

/// executor_pool: runs up to N jobs at a time on N executors. It grants the fetcher one credit per
/// free executor, so reserved jobs never pile up in a mailbox; it hands every outcome to the
/// status_writer and tells the heartbeat whether the worker is busy or idle.
///
/// In: `job_atom, rq_job` (fetcher); `hello_atom` → `size_t` credits (a (re)started fetcher);
/// `drained_atom` (burst: the queues are empty); `quiet_atom`; `drain_atom, caf::timespan` (a
/// scheduled eviction: nothing more starts, reserved jobs that have not started go back to their
/// queues at once, and the jobs still running after the timespan are stopped and left for the
/// heartbeat to hand back, their outcomes dropped). On exit it waits for the jobs in flight,
/// makes sure their outcomes are written, then ends.

#include <caf/fwd.hpp>

#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns an executor_pool registered as "pool".
caf::actor spawn_executor_pool(caf::actor_system& sys, const worker_settings& settings);

}  // namespace pqrt
