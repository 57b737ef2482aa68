#pragma once

/// status_writer: records job outcomes in Redis as RQ does (finish/fail bookkeeping, retries),
/// batching everything that arrived while the previous write was in flight into one round trip.
/// An outcome is never dropped: a write that fails is retried with backoff until it lands.
///
/// In: `record_atom, job_outcome`; `sync_atom` → `ok_atom` once all received outcomes are
/// written; `quiet_atom`. On exit it writes what is pending first.

#include <caf/fwd.hpp>

#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns a status_writer (a detached actor: Redis calls block) registered as "writer".
caf::actor spawn_status_writer(caf::actor_system& sys, const worker_settings& settings);

}  // namespace pqrt
