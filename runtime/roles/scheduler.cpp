// The scheduler role: one run, start to end. Reads top to bottom: settings, then the tree in start
// order (status_writer first, so it stops last; the autoscaler, when autoscale_scale_set_id is
// set, before the enqueue path, so it stops after the monitor and takes the scale set to the
// minimum once the run ended; run_monitor last), then the run's outcome, which decides the exit
// code: 0 when every job finished, 1 naming the failed ones otherwise.
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/autoscaler.hpp"
#include "actors/blob_fetcher.hpp"
#include "actors/decryptor.hpp"
#include "actors/job_parser.hpp"
#include "actors/peer.hpp"
#include "actors/rq_enqueuer.hpp"
#include "actors/run_monitor.hpp"
#include "actors/status_writer.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/metrics_server.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/shutdown.hpp"

namespace pqrt {

std::vector<child_spec> scheduler_children(const worker_settings& ws,
                                           std::shared_ptr<const pipeline_settings> ps, bool own_io,
                                           std::shared_ptr<const autoscale_settings> autoscale) {
  std::vector<child_spec> tree;
  if (own_io) {
    tree.push_back({peer_names::status_writer, restart_policy::permanent,
                    [ws](caf::actor_system& sys) { return spawn_status_writer(sys, ws); }});
    tree.push_back({peer_names::blob_fetcher, restart_policy::permanent,
                    [ps](caf::actor_system& sys) { return spawn_blob_fetcher(sys, ps); }});
    tree.push_back({peer_names::decryptor,
                    restart_policy::permanent,
                    [ps](caf::actor_system& sys) { return spawn_decryptor(sys, ps); },
                    {peer_names::blob_fetcher}});
  }
  if (autoscale)
    tree.push_back(
        {peer_names::autoscaler, restart_policy::permanent,
         [ws, autoscale](caf::actor_system& sys) { return spawn_autoscaler(sys, ws, autoscale); }});
  tree.push_back({peer_names::rq_enqueuer,
                  restart_policy::permanent,
                  [ws, ps](caf::actor_system& sys) { return spawn_rq_enqueuer(sys, ws, ps); },
                  {peer_names::status_writer}});
  // job_parser and its later passes (started by run_monitor, which passes these peers on).
  std::vector<std::string> parser_peers{peer_names::blob_fetcher, peer_names::decryptor,
                                        peer_names::rq_enqueuer, peer_names::supervisor};
  tree.push_back({peer_names::job_parser, restart_policy::transient,
                  [ps](caf::actor_system& sys) { return spawn_job_parser(sys, ps); },
                  parser_peers});
  // The monitor runs another enqueue pass when results went missing from storage (same parser).
  run_monitor_pass pass = [ps](caf::actor_system& sys) { return spawn_job_parser(sys, ps); };
  auto monitor_peers = parser_peers;
  monitor_peers.push_back(peer_names::status_writer);
  tree.push_back(
      {peer_names::run_monitor, restart_policy::permanent,
       [ws, ps, pass](caf::actor_system& sys) { return spawn_run_monitor(sys, ws, ps, pass); },
       monitor_peers});
  return tree;
}

int run_outcome_exit(const pipeline_settings& ps, int tree_exit) {
  std::lock_guard<std::mutex> guard{ps.outcome->mutex};
  const auto& out = *ps.outcome;
  if (!out.fatal.empty()) {
    log::error("scheduler", "the run cannot go on", {{"run", ps.run_id}, {"error", out.fatal}});
    return exit_failure;
  }
  if (!out.complete) return tree_exit == exit_ok ? exit_failure : tree_exit;
  if (out.failed == 0) {
    log::info(
        "scheduler", "every job finished",
        {{"run", ps.run_id}, {"jobs", std::to_string(out.total)}, {"manifest", out.manifest}});
    return tree_exit;
  }
  std::string named;
  for (size_t i = 0; i < out.failed_jobs.size() && i < 20; ++i)
    named += (i ? ", " : "") + out.failed_jobs[i];
  if (out.failed > 20) named += ", and " + std::to_string(out.failed - 20) + " more";
  log::error("scheduler", "jobs failed",
             {{"run", ps.run_id},
              {"failed", std::to_string(out.failed)},
              {"of", std::to_string(out.total)},
              {"jobs", named},
              {"manifest", out.manifest}});
  return exit_failure;
}

int run_scheduler(const config::settings& cfg, const role_options& opt, caf::timespan grace) {
  auto run_id = cfg.run_id.empty() ? make_run_id() : cfg.run_id;
  if (auto err = check_run_id(run_id)) {
    log::error("scheduler", render(err));
    return exit_config;
  }
  auto ws = make_worker_settings(cfg, opt);
  if (!ws) {
    log::error("scheduler", render(ws.error()));
    return exit_failure;
  }
  ws->identity.name = "pqrt-scheduler." + run_id;
  auto ps = make_pipeline(cfg, run_id, false);
  if (!ps) {
    log::error("scheduler", render(ps.error()));
    return exit_config;  // every cause is in the configuration: a field, a path, a choice
  }
  ws->pipeline = *ps;
  auto autoscale = make_autoscale(cfg, *ps);
  if (!autoscale) {
    log::error("scheduler", render(autoscale.error()));
    return exit_config;
  }
  // /metrics for the life of the role (a bad address is a configuration error).
  auto metrics = serve_metrics(cfg.metrics_listen, "scheduler");
  if (!metrics) {
    log::error("scheduler", render(metrics.error()));
    return exit_config;
  }
  if (auto err = open_store(*ws)->connect()) {
    log::error("scheduler", "cannot reach Redis",
               {{"redis", ws->redis.describe()}, {"error", render(err)}});
    return exit_failure;
  }
  log::info("scheduler", "starting",
            {{"run", run_id}, {"redis", ws->redis.describe()}, {"queue", (*ps)->queue}});
  auto code =
      run_role_tree(cfg, "scheduler", scheduler_children(*ws, *ps, true, *autoscale), grace);
  return run_outcome_exit(**ps, code);
}

}  // namespace pqrt
