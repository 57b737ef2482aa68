#pragma once

/// scheduled_events_watcher: the worker's watch on Azure Scheduled Events (Spot evictions,
/// scale-in). A thread of its own polls IMDS about once a second from start-up; nothing waits for
/// its first answer, which may take long. An event that names this VM and needs a drain
/// (Preempt, Terminate, a user Reboot or Redeploy: `azure::decide`) is logged and counted, then
/// the tree drains through its usual shutdown, within `azure::drain_budget` (min(NotBefore − now,
/// shutdown grace); a Preempt 30 s at most):
///   1. the executor_pool gets `drain_atom` (its handle asked from the root, `which_atom`): it
///      starts nothing more, hands back at once what was reserved but has not started, and hands
///      back what still runs a margin before the deadline;
///   2. the root supervisor gets `shutdown_atom` with the budget as its grace: every child is
///      quieted (the fetcher stops reserving at once), then they stop in reverse start order
///      (the heartbeat returns whatever is still reserved and deregisters the worker);
///   3. once the tree has stopped, `acknowledge` approves the event (StartRequests), and the
///      worker exits 0.
/// Events for other VMs are logged at debug level; Freeze and platform reboots are logged only.
/// An IMDS that is away or answers errors is logged once, and once when it answers again, and
/// changes nothing.
///
/// Metrics: pqrt_scheduled_events_seen_total{type,vm="this"|"other"} (each event once per
/// status), pqrt_scheduled_events_drains_total{type}, pqrt_scheduled_events_acks_total{outcome},
/// pqrt_scheduled_events_poll_errors_total.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "azure/scheduled_events.hpp"
#include "config/config.hpp"

namespace pqrt {

/// How long before a drain's deadline the pool hands back the jobs still running (they need
/// time to stop, and the heartbeat to return them and deregister); also the least time a drain
/// gets.
inline constexpr std::chrono::milliseconds handback_margin{3000};

class scheduled_events_watcher {
public:
  /// Starts polling at once. `grace` is the shutdown grace, the most a drain may take.
  scheduled_events_watcher(std::unique_ptr<azure::scheduled_events_client> client,
                           caf::timespan grace);
  ~scheduled_events_watcher();
  scheduled_events_watcher(const scheduled_events_watcher&) = delete;
  scheduled_events_watcher& operator=(const scheduled_events_watcher&) = delete;

  /// The running tree's root (run_tree calls this once the tree runs); a drain that began before
  /// reaches the tree now.
  void watch(caf::actor root);
  /// Once the tree has stopped: stops polling and acknowledges the event drained for, if any.
  /// Returns `tree_exit` (an acknowledgement that fails is logged: the platform goes ahead at
  /// NotBefore all the same).
  int acknowledge(int tree_exit);

private:
  /// The drain under way.
  struct drain_plan {
    std::string event_id;
    std::string type;
    std::chrono::steady_clock::time_point deadline;
    bool sent = false;
  };

  void run();
  void poll_once();
  void on_document(const azure::scheduled_events_doc& doc);
  void on_new_event(const azure::scheduled_event& e);
  void begin_drain(const azure::scheduled_event& e);
  void send_drain();  // mutex_ held
  void imds_failed(const caf::error& err);
  void imds_answered();

  std::unique_ptr<azure::scheduled_events_client> client_;
  std::chrono::milliseconds grace_;
  std::string vm_name_;
  int64_t incarnation_ = -1;
  std::set<std::string> seen_;  // EventId + status, so each is logged and counted once
  bool imds_down_ = false;
  bool watching_logged_ = false;

  std::mutex mutex_;  // guards what follows, shared with the caller of watch and acknowledge
  std::condition_variable wake_;
  bool stop_ = false;
  caf::actor root_;
  std::optional<drain_plan> drain_;
  std::thread thread_;
};

/// The watcher the configuration asks for: `scheduled_events` on, or auto with
/// use_managed_identity, polls `imds_endpoint`; null when off. `config_invalid` for a bad
/// imds_endpoint.
caf::expected<std::unique_ptr<scheduled_events_watcher>> make_scheduled_events_watcher(
    const config::settings& cfg, caf::timespan grace);

}  // namespace pqrt
