#pragma once

/// command_listener: RQ's command channel. Subscribes to `rq:pubsub:<worker name>` and acts on
/// the JSON commands `rq.command.send_*` publishes: `shutdown` (a warm stop, the same path as
/// SIGTERM), `stop-job` (the job ends with status `stopped`, never retried), `kill-horse` (every
/// running job ends as failed, as when RQ's work horse is killed). Reconnects on its own.
///
/// In: `quiet_atom`; `poll_atom` (its own loop).

#include <caf/fwd.hpp>

#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns a command_listener (detached: it blocks reading the subscription).
caf::actor spawn_command_listener(caf::actor_system& sys, const worker_settings& settings,
                                  spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
