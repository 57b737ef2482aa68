// The worker role: serves RQ queues until told to stop (or, in burst mode, until the queues are
// empty): pqrt's record jobs through the pipeline (when storage is configured) and the built-in
// functions. Reads top to bottom: settings, registration, then the tree in start order; the
// supervisor stops it in reverse (fetcher first, status_writer last). On Azure a watcher of
// Scheduled Events drains the tree before a Spot eviction or a scale-in and acknowledges the event
// once the tree has stopped.
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/blob_fetcher.hpp"
#include "actors/command_listener.hpp"
#include "actors/decryptor.hpp"
#include "actors/executor_pool.hpp"
#include "actors/heartbeat.hpp"
#include "actors/peer.hpp"
#include "actors/result_encryptor.hpp"
#include "actors/result_writer.hpp"
#include "actors/rq_fetcher.hpp"
#include "actors/status_writer.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/metrics_server.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/scheduled_events_watcher.hpp"
#include "runtime/shutdown.hpp"

namespace pqrt {

/// The worker's tree in start order (the supervisor stops it in reverse), with each child's
/// peers. Also the worker half of the local role's tree.
std::vector<child_spec> worker_children(const worker_settings& s) {
  auto policy = s.burst ? restart_policy::transient : restart_policy::permanent;
  namespace p = peer_names;
  std::vector<child_spec> tree{
      {p::status_writer,
       policy,
       [s](caf::actor_system& sys) { return spawn_status_writer(sys, s); },
       {p::executor_pool}},
      {p::heartbeat, policy, [s](caf::actor_system& sys) { return spawn_heartbeat(sys, s); }},
      {p::command_listener, restart_policy::temporary,
       [s](caf::actor_system& sys) { return spawn_command_listener(sys, s); }},
  };
  std::vector<std::string> pool_peers{p::rq_fetcher, p::status_writer, p::heartbeat};
  if (s.pipeline) {
    // Helpers: restarted whenever they fail, and stopped once the pool's work is done (burst).
    auto ps = s.pipeline;
    auto helper = true;
    tree.push_back({p::blob_fetcher,
                    restart_policy::permanent,
                    [ps](caf::actor_system& sys) { return spawn_blob_fetcher(sys, ps); },
                    {},
                    helper});
    tree.push_back({p::decryptor,
                    restart_policy::permanent,
                    [ps](caf::actor_system& sys) { return spawn_decryptor(sys, ps); },
                    {p::blob_fetcher},
                    helper});
    tree.push_back({p::result_writer,
                    restart_policy::permanent,
                    [s, ps](caf::actor_system& sys) { return spawn_result_writer(sys, s, ps); },
                    {p::status_writer},
                    helper});
    tree.push_back({p::result_encryptor,
                    restart_policy::permanent,
                    [](caf::actor_system& sys) { return spawn_result_encryptor(sys); },
                    {p::result_writer, p::status_writer},
                    helper});
    // The pool passes the decryptor and result_encryptor on to its executors (whose results go
    // forward to result_encryptor); it watches the result path.
    pool_peers.insert(pool_peers.end(), {p::decryptor, p::result_encryptor, p::result_writer});
  }
  tree.push_back({p::executor_pool, policy,
                  [s](caf::actor_system& sys) { return spawn_executor_pool(sys, s); }, pool_peers});
  tree.push_back({p::rq_fetcher,
                  policy,
                  [s](caf::actor_system& sys) { return spawn_rq_fetcher(sys, s); },
                  {p::executor_pool}});
  return tree;
}

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
  auto& watcher = *events;
  auto code = run_role_tree(cfg, "worker", worker_children(*settings), grace,
                            [&watcher](const caf::actor& root) {
                              if (watcher) watcher->watch(root);
                            });
  return watcher ? watcher->acknowledge(code) : code;
}

}  // namespace pqrt
