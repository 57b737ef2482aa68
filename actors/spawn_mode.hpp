#pragma once

#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace pqrt {

/// How an actor that blocks (in Redis, storage or a child process) runs: on a thread of its own
/// in production; on the scheduler in the unit suites, whose deterministic test coordinator runs
/// every actor itself (their stores there do not block).
enum class spawn_mode { detached, scheduled };

template <class Fun, class... Ts>
caf::actor spawn_in(caf::actor_system& sys, spawn_mode mode, Fun fun, Ts&&... xs) {
  if (mode == spawn_mode::detached) return sys.spawn<caf::detached>(fun, std::forward<Ts>(xs)...);
  return sys.spawn(fun, std::forward<Ts>(xs)...);
}

}  // namespace pqrt
