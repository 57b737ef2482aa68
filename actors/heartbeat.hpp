#pragma once

/// heartbeat: the worker's liveness in Redis. The role registers the worker (as RQ does, so
/// `rq info` lists it, and as a pqrt worker) before any actor starts; every tick refreshes the
/// liveness key, the worker hash and the wip scores of reserved jobs (so neither RQ's cleanup nor
/// another pqrt process takes them for abandoned), returns the jobs of dead pqrt workers to their
/// queues and moves due scheduled jobs (retries) back to their queues. On exit it hands its own
/// reserved jobs back and deregisters.
///
/// In: `state_atom, std::string` (busy/idle), `done_atom` (burst finished: deregister, end),
/// `quiet_atom`, `tick_atom` (its own timer).

#include <caf/fwd.hpp>

#include "actors/spawn_mode.hpp"
#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns a heartbeat (detached: Redis calls block); its peers are wired by its supervisor
/// (actors/peer.hpp).
caf::actor spawn_heartbeat(caf::actor_system& sys, const worker_settings& settings,
                           spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
