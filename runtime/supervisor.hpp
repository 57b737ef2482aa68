#pragma once

/// A supervisor: starts its children in order, monitors them, restarts a child that died
/// one-for-one within a restart budget (at most `max_restarts` in `window`), and escalates by
/// failing itself (`errc::restart_limit`, naming the child) when the budget is spent.
///
/// Shutdown (`shutdown_atom, grace`): quiet (every child gets `quiet_atom`), then stop: children
/// get an exit message one at a time in reverse start order, each after the previous one is down,
/// all within `grace`; whatever is still alive at the deadline is killed (hard stop) and the
/// supervisor ends with `errc::timeout`. `hard_stop_atom` kills every child at once. A clean
/// shutdown ends the supervisor normally.
///
/// Messages in: `shutdown_atom, caf::timespan`; `hard_stop_atom`; `which_atom, std::string` →
/// `caf::actor` (the child's current handle; a restarted child has a new one).

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

namespace pqrt {

/// When a child that ended is started again.
enum class restart_policy {
  permanent,  ///< always
  transient,  ///< only when it failed (a normal exit ends it for good)
  temporary,  ///< never
};

/// How to start one child. `start` spawns it (the supervisor monitors it).
struct child_spec {
  std::string name;
  restart_policy policy = restart_policy::permanent;
  std::function<caf::actor(caf::actor_system&)> start;
};

/// The restart budget: more than `max_restarts` restarts inside `window` escalate.
struct restart_budget {
  size_t max_restarts = 5;
  caf::timespan window = std::chrono::seconds{60};
};

/// Spawns a supervisor named `name` over `children` (started in this order).
caf::actor spawn_supervisor(caf::actor_system& sys, std::string name,
                            std::vector<child_spec> children, restart_budget budget);

}  // namespace pqrt
