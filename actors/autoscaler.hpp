#pragma once

/// autoscaler (scheduler): sizes the worker scale set to the work itself. Every `interval` it
/// reads the queue's jobs queued and in flight (RQ's queue and started registry) and the live
/// workers of that queue with their RQ counters (`successful_job_count + failed_job_count`, so
/// the finish rate per worker is measured on the workers themselves, Python RQ's included) from
/// Redis, reads the scale set's capacity from ARM, and lets `autoscale_policy` decide
/// (actors/autoscale_policy.hpp: the count that drains the queue within the target, clamped,
/// cooldowns, hysteresis). A change is one `PATCH` of `sku.capacity` (the ARM client retries 429
/// after its Retry-After and 5xx); a scale-in is lossless because each worker drains on its
/// Scheduled Events `Terminate` (runtime/scheduled_events_watcher.hpp).
///
/// Why in the scheduler's tree and not the metrics role: the scheduler lives exactly as long as
/// the run, knows when it ended (then the scale set goes to the minimum), already holds Redis,
/// and is one process per run, so there is one decider with its cooldowns in memory; the metrics
/// role is a timer's one-shot that would have to keep cooldowns somewhere between runs.
///
/// Every round is one log line (inputs, needed, current, target, action and why) and the gauges
/// `pqrt_autoscale_*`. `dry_run` decides and logs, and never PATCHes. An error (Redis, or ARM's
/// 403 when the identity lacks Virtual Machine Contributor on the scale set) is logged once, with
/// the cause, for as long as it repeats (counted in `pqrt_autoscale_errors_total`), and the round
/// is skipped; the line "recovered" follows when a round succeeds again. Nothing here crashes
/// the tree.
///
/// In: its own `tick_atom`; `quiet_atom` (the tree stops: when the run ended, one last round
/// takes the scale set to the minimum).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/autoscale_policy.hpp"
#include "actors/spawn_mode.hpp"
#include "actors/worker_settings.hpp"
#include "azure/arm_client.hpp"

namespace pqrt {

struct autoscale_settings {
  /// The worker scale set's full resource id (`autoscale_scale_set_id`).
  std::string scale_set_id;
  std::string queue = "default";
  /// The run whose `autoscale` series (pqrt:run:<id>:autoscale) gets each decision, for
  /// `pqrt report`; empty: none kept.
  std::string run_id;
  autoscale_limits limits;
  std::chrono::milliseconds interval{std::chrono::seconds{30}};
  bool dry_run = false;
  std::shared_ptr<azure::scale_set_api> arm;
  /// Whether the run ended (every record finished or failed for good).
  std::function<bool()> run_ended;
};

caf::actor spawn_autoscaler(caf::actor_system& sys, const worker_settings& ws,
                            std::shared_ptr<const autoscale_settings> settings,
                            spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
