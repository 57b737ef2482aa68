// The local role: a whole run on one machine, in one process: the scheduler tree and a worker
// tree under one root, against --redis URL or a private redis-server, with local storage. Reads
// top to bottom: Redis, settings, registration, the tree, then the summary.
#include <unistd.h>

#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/metrics_server.hpp"
#include "runtime/private_redis.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/shutdown.hpp"

namespace pqrt {

int run_local(const config::settings& given, const role_options& opt, caf::timespan grace) {
  auto cfg = given;
  if (cfg.run_id.empty()) cfg.run_id = make_run_id();
  if (auto err = check_run_id(cfg.run_id)) {
    log::error("local", render(err));
    return exit_config;
  }
  // The configuration is checked before anything starts.
  auto ps = make_pipeline(cfg, cfg.run_id, true);
  if (!ps) {
    log::error("local", render(ps.error()));
    return exit_config;
  }
  // /metrics for the life of the role (a bad address is a configuration error).
  auto metrics = serve_metrics(cfg.metrics_listen, "local");
  if (!metrics) {
    log::error("local", render(metrics.error()));
    return exit_config;
  }
  std::unique_ptr<private_redis> redis;
  if (cfg.redis_url.empty()) {
    auto started = private_redis::start();
    if (!started) {
      log::error("local", render(started.error()));
      return exit_failure;
    }
    redis = std::move(*started);
    cfg.redis_url = redis->url();
  }
  auto ws = make_worker_settings(cfg, opt);
  if (!ws) {
    log::error("local", render(ws.error()));
    return exit_failure;
  }
  (*ps)->progress_bar = ::isatty(STDERR_FILENO) != 0;
  ws->pipeline = *ps;
  if (!register_worker_now(*ws)) return exit_failure;
  log::info("local", "starting the run",
            {{"run", cfg.run_id},
             {"storage", cfg.local_storage_dir},
             {"processor", cfg.processor},
             {"script_protocol", cfg.script_protocol},
             {"concurrency", std::to_string(ws->concurrency)}});
  int code = exit_ok;
  {
    auto tree = worker_children(*ws);
    for (auto& child : scheduler_children(*ws, *ps, false))
      tree.push_back(std::move(child));
    code = run_outcome_exit(**ps, run_role_tree(cfg, "local", std::move(tree), grace));
  }
  const auto& out = *(*ps)->outcome;
  if (out.complete) {
    std::cout << "run " << cfg.run_id << ": " << out.finished << " of " << out.total
              << " records processed, " << out.failed << " failed\n"
              << "results (encrypted): " << cfg.local_storage_dir << "/blobs/"
              << cfg.results_container_name << "/" << cfg.run_id << "/\n"
              << "decrypt them in record order with:\n  pqrt results --run-id " << cfg.run_id
              << " --storage local --local-storage-dir " << cfg.local_storage_dir
              << " --key-source local --rsa-private-key-file "
              << (cfg.rsa_private_key_file.empty() ? "KEY.pem" : cfg.rsa_private_key_file)
              << " --out results.txt\n";
  }
  return code;
}

}  // namespace pqrt
