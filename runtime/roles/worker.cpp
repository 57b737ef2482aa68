// The worker role: serves RQ queues until told to stop (or, in burst mode, until the queues are
// empty): pqrt's record jobs through the pipeline (when storage is configured) and the built-in
// functions. Reads top to bottom: settings, registration, then the tree in start order; the
// supervisor stops it in reverse (fetcher first, status_writer last). On Azure a watcher of
// Scheduled Events drains the tree before a Spot eviction or a scale-in and acknowledges the event
// once the tree has stopped.
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/metrics_server.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/scheduled_events_watcher.hpp"
#include "runtime/shutdown.hpp"

namespace pqrt {

int run_worker(const config::settings& cfg, const role_options& opt, caf::timespan grace) {
  auto settings = make_worker_settings(cfg, opt);
  if (!settings) {
    log::error("worker", render(settings.error()));
    return exit_failure;
  }
  // A worker serves plain RQ jobs (the built-in functions) without storage; record jobs need it.
  auto pipeline = make_pipeline(cfg, "", false);
  if (pipeline)
    settings->pipeline = *pipeline;
  else
    log::warn("worker",
              "record jobs cannot run here (they fail, naming this); serving built-in "
              "functions only",
              {{"reason", render(pipeline.error())}});
  // /metrics for the life of the role (a bad address is a configuration error).
  auto metrics = serve_metrics(cfg.metrics_listen, "worker");
  if (!metrics) {
    log::error("worker", render(metrics.error()));
    return exit_config;
  }
  // Polls from here on; the first answer may take long, and nothing waits for it.
  auto events = make_scheduled_events_watcher(cfg, grace);
  if (!events) {
    log::error("worker", render(events.error()));
    return exit_config;
  }
  if (!register_worker_now(*settings)) return exit_failure;
  caf::actor_system_config sys_cfg;
  // Work stealing keeps idle scheduler threads spinning, which on small VMs takes the CPU from the
  // executors and from Redis itself (measured: 2.2x throughput, p50 latency 0.65 -> 0.4 ms).
  sys_cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{sys_cfg};
  restart_budget budget{static_cast<size_t>(cfg.restart_max),
                        std::chrono::seconds{cfg.restart_window_sec}};
  auto& watcher = *events;
  auto code = run_tree(sys, "worker", worker_children(*settings), budget, grace,
                       [&watcher](const caf::actor& root) {
                         if (watcher) watcher->watch(root);
                       });
  return watcher ? watcher->acknowledge(code) : code;
}

}  // namespace pqrt
