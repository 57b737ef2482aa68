#pragma once

/// Role selection: `main` only picks the role; each role's tree is assembled in its own file
/// under runtime/roles/ as the role is built.

#include <string>
#include <vector>

#include <caf/timespan.hpp>

#include "config/config.hpp"
#include "runtime/supervisor.hpp"
#include "transport/redis_url.hpp"

namespace pqrt {

/// The roles pqrt knows, built or not.
const std::vector<std::string>& known_roles();

/// Role options that are flags only (not configuration fields).
struct role_options {
  std::string queues;  ///< --queues high,default (empty: the queue_name field)
  bool burst = false;  ///< --burst: end when the queues are empty
  bool once = false;   ///< metrics --once: one round, then exit
  caf::timespan interval{std::chrono::seconds{60}};  ///< metrics --interval
  std::string out;                                   ///< metrics --out FILE (JSON lines)
};

/// Runs `role` with the loaded configuration; returns the process exit code.
int run_role(const std::string& role, const config::settings& cfg, const role_options& opt,
             caf::timespan grace);

/// The start-up every role shares: an actor system (the sharing scheduler), the root supervisor
/// over `children` with the configured restart budget, signals, and the tree's end as an exit
/// code (runtime/shutdown.hpp's run_tree). `on_start` sees the root once it runs.
int run_role_tree(const config::settings& cfg, const std::string& role,
                  std::vector<child_spec> children, caf::timespan grace,
                  const std::function<void(const caf::actor&)>& on_start = {});

/// The worker role (runtime/roles/worker.cpp).
int run_worker(const config::settings& cfg, const role_options& opt, caf::timespan grace);
/// The scheduler role (runtime/roles/scheduler.cpp).
int run_scheduler(const config::settings& cfg, const role_options& opt, caf::timespan grace);
/// The metrics role (runtime/roles/metrics.cpp).
int run_metrics(const config::settings& cfg, const role_options& opt, caf::timespan grace);
/// The local all-in-one role (runtime/roles/local.cpp).
int run_local(const config::settings& cfg, const role_options& opt, caf::timespan grace);

/// The Redis URL the configuration names: `redis_url`, or redis_host/redis_port/redis_db with
/// redis_tls, redis_ca_file, redis_username and redis_password (which also fill in a URL that
/// has none).
caf::expected<transport::redis_url> redis_url_from(const config::settings& cfg);

}  // namespace pqrt
