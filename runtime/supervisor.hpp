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
/// Wiring: see `child_spec::peers`. A child that ends is unwired at its peers' side by their own
/// monitor (actors/peer.hpp), and re-wired when its successor starts.
///
/// Messages in: `shutdown_atom, caf::timespan`; `hard_stop_atom`; `which_atom, std::string` →
/// `caf::actor` (the child's current handle, for tests and tools; actors get theirs wired).

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

/// How to start one child. `start` spawns it (the supervisor monitors it). `peers` names the
/// siblings it sends to (their `name`s; `peer_names::supervisor` is the supervisor itself): the
/// supervisor sends the child `(wire_atom, name, handle)` for each of them as soon as both run,
/// and again whenever it restarts one of them (actors/peer.hpp).
///
/// A `helper` serves its siblings and is restarted by its policy, but does not keep the tree's
/// work going: once only helpers (and temporary children) are left, the supervisor stops them in
/// order and ends (a burst worker's result path ends with its pool).
struct child_spec {
  std::string name;
  restart_policy policy = restart_policy::permanent;
  std::function<caf::actor(caf::actor_system&)> start;
  std::vector<std::string> peers = {};
  bool helper = false;
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
