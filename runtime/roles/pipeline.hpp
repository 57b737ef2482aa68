#pragma once

/// What the pipeline roles (scheduler, worker, local) and the storage tools share: the stores,
/// key source and run settings made from the configuration.

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "actors/autoscaler.hpp"
#include "actors/pipeline_settings.hpp"
#include "actors/worker_settings.hpp"
#include "config/config.hpp"
#include "runtime/roles/roles.hpp"
#include "runtime/stores.hpp"

namespace pqrt {

/// Checks a run id: 1 to 64 of [A-Za-z0-9._-] (it names keys, blobs and job ids).
caf::error check_run_id(const std::string& id);
/// A fresh run id: `run-YYYYMMDD-HHMMSS-<6 hex>` (UTC).
std::string make_run_id();

/// The pipeline settings for `run_id` (may be empty for a worker, which serves any run).
/// `local_storage` forces local storage (the local role).
caf::expected<std::shared_ptr<pipeline_settings>> make_pipeline(const config::settings& cfg,
                                                                const std::string& run_id,
                                                                bool local_storage);

/// A worker's settings from the configuration (its name is fresh and unique).
caf::expected<worker_settings> make_worker_settings(const config::settings& cfg,
                                                    const role_options& opt);

/// Connects and registers a worker before its tree starts (clear start-up errors); false after
/// logging why not.
bool register_worker_now(const worker_settings& s);

/// The worker's children in start order (status_writer ... rq_fetcher). With a pipeline, also
/// blob_fetcher, decryptor, result_writer and result_encryptor.
std::vector<child_spec> worker_children(const worker_settings& s);

/// The autoscaler's settings (`autoscale_*`), for the run of `ps`; null when
/// `autoscale_scale_set_id` is empty. `config_invalid` naming the field that is wrong.
caf::expected<std::shared_ptr<const autoscale_settings>> make_autoscale(
    const config::settings& cfg, std::shared_ptr<const pipeline_settings> ps);

/// The scheduler's children in start order. `own_io`: with its own status_writer, blob_fetcher and
/// decryptor (the local role shares the worker tree's). `autoscale`: with an autoscaler.
std::vector<child_spec> scheduler_children(
    const worker_settings& ws, std::shared_ptr<const pipeline_settings> ps, bool own_io,
    std::shared_ptr<const autoscale_settings> autoscale = nullptr);

/// The exit code a scheduler ends with: 0 when every job finished, 1 naming the failed ones (or
/// the fatal error) otherwise, the tree's own code when the run did not complete.
int run_outcome_exit(const pipeline_settings& ps, int tree_exit);

}  // namespace pqrt
