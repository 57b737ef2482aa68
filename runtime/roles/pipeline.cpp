// Stores, key sources and settings made from the configuration, shared by the pipeline roles.
#include "runtime/roles/pipeline.hpp"

#include <unistd.h>

#include <ctime>
#include <thread>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "crypto/random.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/jobs/exec_processor.hpp"
#include "runtime/jobs/record_job.hpp"

namespace pqrt {

namespace {

std::string host_name() {
  char host[256] = "host";
  ::gethostname(host, sizeof(host) - 1);
  std::string name = host;
  for (auto& c : name)
    if (c == ' ') c = '_';
  return name;
}

std::vector<std::string> split_queues(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

caf::error check_run_id(const std::string& id) {
  auto ok =
      !id.empty() && id.size() <= 64 &&
      id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
          std::string::npos;
  if (ok) return caf::none;
  return make_error(errc::config_invalid,
                    "run_id: '" + id + "' must be 1 to 64 letters, digits, '.', '_' or '-'");
}

std::string make_run_id() {
  auto now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return std::string{"run-"} + stamp + "-" + crypto::random_name(6);
}

caf::expected<std::shared_ptr<pipeline_settings>> make_pipeline(const config::settings& cfg,
                                                                const std::string& run_id,
                                                                bool local_storage) {
  if (auto err = check_processor(cfg.processor))
    return make_error(errc::config_invalid, "processor: " + context_of(err));
  auto store_cfg = cfg;
  if (local_storage) {
    store_cfg.storage = "local";
    // The local role unwraps with a local key unless a Key Vault is configured.
    if (store_cfg.key_source == "keyvault" && store_cfg.azure_keyvault_url.empty())
      store_cfg.key_source = "local";
  }
  auto ps = std::make_shared<pipeline_settings>();
  ps->run_id = run_id;
  ps->queue = cfg.queue_name;
  ps->processor = cfg.processor;
  ps->dataset_id = cfg.dataset_id;
  ps->inputs_container = cfg.storage_container_name;
  ps->data_blob = cfg.encrypted_data_filename;
  ps->key_blob = cfg.encrypted_aes_key_filename;
  ps->script_blob = cfg.encrypted_scheduler_script_filename;
  ps->results_container = cfg.results_container_name;
  ps->status_queue = cfg.job_status_queue_name;
  ps->workload_queue = cfg.workload_tracker_queue_name;
  ps->status_prefix = cfg.job_status_key_prefix;
  ps->script_timeout = std::chrono::seconds{cfg.script_timeout_sec};
  ps->records_per_job = static_cast<uint64_t>(cfg.records_per_job);
  ps->records_as_bytes = cfg.serializer != "json";
  auto protocol = parse_script_protocol(cfg.script_protocol);
  if (!protocol)
    return make_error(errc::config_invalid, "script_protocol: " + context_of(protocol.error()));
  ps->script_protocol = *protocol;
  ps->max_attempts = cfg.job_max_attempts;
  // Fail at start, naming the field, rather than at the first job.
  if (auto blobs = make_blob_store(store_cfg); !blobs) return blobs.error();
  if (auto keys = make_key_source(store_cfg); !keys) return keys.error();
  ps->make_blobs = [store_cfg] { return make_blob_store(store_cfg); };
  ps->make_queues = [store_cfg] { return make_queue_store(store_cfg); };
  ps->make_key_source = [store_cfg] { return make_key_source(store_cfg); };
  return ps;
}

caf::expected<std::shared_ptr<const autoscale_settings>> make_autoscale(
    const config::settings& cfg, std::shared_ptr<const pipeline_settings> ps) {
  if (cfg.autoscale_scale_set_id.empty()) return std::shared_ptr<const autoscale_settings>{};
  if (cfg.autoscale_min_workers > cfg.autoscale_max_workers)
    return make_error(errc::config_invalid,
                      "autoscale_max_workers: " + std::to_string(cfg.autoscale_max_workers) +
                          " is below autoscale_min_workers (" +
                          std::to_string(cfg.autoscale_min_workers) + ")");
  auto credential = azure_credential(cfg);
  if (!credential)
    return make_error(errc::config_invalid,
                      "autoscale_scale_set_id is set, so the scheduler needs an Azure identity: " +
                          context_of(credential.error()));
  azure::arm_options arm;
  arm.endpoint = cfg.arm_endpoint;
  arm.credential = *credential;
  arm.http = azure_http_options(cfg);
  auto client = azure::arm_client::make(std::move(arm));
  if (!client) return client.error();
  auto out = std::make_shared<autoscale_settings>();
  out->scale_set_id = cfg.autoscale_scale_set_id;
  out->queue = ps->queue;
  out->run_id = ps->run_id;
  out->limits.min_workers = cfg.autoscale_min_workers;
  out->limits.max_workers = cfg.autoscale_max_workers;
  out->limits.target_drain = std::chrono::seconds{cfg.autoscale_target_drain_sec};
  out->limits.scale_out_cooldown = std::chrono::seconds{cfg.autoscale_scale_out_cooldown_sec};
  out->limits.scale_in_cooldown = std::chrono::seconds{cfg.autoscale_scale_in_cooldown_sec};
  out->interval = std::chrono::seconds{cfg.autoscale_interval_sec};
  out->dry_run = cfg.autoscale_dry_run;
  out->arm = *client;
  out->run_ended = [outcome = ps->outcome] {
    std::lock_guard<std::mutex> guard{outcome->mutex};
    return outcome->complete;
  };
  // The id's shape is checked now, for a clear start-up error (no request is sent).
  if (auto err = azure::check_scale_set_id(out->scale_set_id)) return err;
  return std::shared_ptr<const autoscale_settings>{out};
}

caf::expected<worker_settings> make_worker_settings(const config::settings& cfg,
                                                    const role_options& opt) {
  auto url = redis_url_from(cfg);
  if (!url) return url.error();
  worker_settings s;
  s.redis = std::move(*url);
  s.serializer =
      cfg.serializer == "json" ? transport::rq_serializer::json : transport::rq_serializer::pickle;
  auto host = host_name();
  s.identity.name =
      "pqrt." + host + "." + std::to_string(::getpid()) + "." + crypto::random_name(8);
  s.identity.queues = split_queues(opt.queues.empty() ? cfg.queue_name : opt.queues);
  if (s.identity.queues.empty())
    return make_error(errc::invalid_argument, "--queues: no queue named");
  s.identity.hostname = host;
  s.identity.pid = ::getpid();
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  s.concurrency = cfg.concurrency > 0 ? static_cast<size_t>(cfg.concurrency) : cores;
  s.prefetch = static_cast<size_t>(cfg.prefetch);
  s.burst = opt.burst;
  s.redis_give_up = std::chrono::seconds{cfg.redis_give_up_sec};
  s.job_data_max = static_cast<size_t>(cfg.job_data_max_mb) << 20;
  return s;
}

bool register_worker_now(const worker_settings& s) {
  auto probe = open_store(s);
  if (auto err = probe->connect()) {
    log::error("worker", "cannot reach Redis",
               {{"redis", s.redis.describe()}, {"error", render(err)}});
    return false;
  }
  // Registration first: it returns whatever a former worker of this name left reserved, which
  // must happen before this worker's fetcher reserves anything of its own.
  if (auto err = probe->register_worker(s.identity)) {
    log::error("worker", "cannot register the worker", {{"error", render(err)}});
    return false;
  }
  log::info("worker", "registered",
            {{"worker", s.identity.name},
             {"redis", s.redis.describe()},
             {"concurrency", std::to_string(s.concurrency)}});
  return true;
}

}  // namespace pqrt
