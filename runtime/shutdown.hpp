#pragma once

/// Signals and process lifetime. SIGTERM or SIGINT asks the root supervisor to shut down (quiet →
/// stop within the grace period → hard stop at the deadline); a second signal hard-stops at once.
/// Signals are blocked in every thread and taken by one watcher thread with sigtimedwait, so no
/// actor code ever runs in a signal handler.

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor.hpp>
#include <chrono>

#include <caf/timespan.hpp>

#include "runtime/supervisor.hpp"

namespace pqrt {

/// Blocks SIGTERM and SIGINT and ignores SIGPIPE in the calling thread. Call first in main, before
/// any thread starts, so that every thread inherits the mask.
void block_shutdown_signals();

/// For a tool that runs until interrupted (`status --watch`, `logs --follow`): waits up to `wait`
/// for SIGTERM or SIGINT (blocked since main, so taken here); their number, or 0 when none came.
int wait_shutdown_signal(std::chrono::milliseconds wait);

/// Turns signals into messages to `root` until destroyed.
class signal_watcher {
public:
  signal_watcher(caf::actor root, caf::timespan grace);
  ~signal_watcher();
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;

  /// How many shutdown signals arrived.
  int signals_seen() const { return seen_; }
  /// The last signal number seen (0 if none).
  int last_signal() const { return last_; }

private:
  void run();

  caf::actor root_;
  caf::timespan grace_;
  std::atomic<bool> done_{false};
  std::atomic<int> seen_{0};
  std::atomic<int> last_{0};
  std::thread thread_;
};

/// Exit codes of the pqrt process.
constexpr int exit_ok = 0;       ///< the role finished, or shut down cleanly
constexpr int exit_failure = 1;  ///< the root supervisor failed, or a tool failed
constexpr int exit_usage = 2;    ///< unknown flag, role or subcommand; bad arguments
constexpr int exit_config = 3;   ///< the configuration is invalid (the field is named)

/// Runs a role's tree under a root supervisor until it ends; turns signals into shutdown.
/// `on_start` (optional) gets the root once it runs, for watchers that may shut the tree down
/// with `shutdown_atom` too (the worker's scheduled_events_watcher).
/// Returns exit_ok after a clean end, 128 + signal after a hard stop, exit_failure otherwise.
int run_tree(caf::actor_system& sys, const std::string& role, std::vector<child_spec> children,
             restart_budget budget, caf::timespan grace,
             const std::function<void(const caf::actor&)>& on_start = {});

}  // namespace pqrt
