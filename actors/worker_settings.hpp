#pragma once

/// What every actor of a worker tree knows about its worker.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "actors/pipeline_settings.hpp"
#include "actors/spawn_mode.hpp"
#include "transport/job_store.hpp"
#include "transport/redis_url.hpp"
#include "transport/rq_job_data.hpp"

namespace pqrt {

struct worker_settings {
  transport::redis_url redis;
  transport::rq_serializer serializer = transport::rq_serializer::pickle;
  transport::worker_identity identity;
  transport::liveness_options liveness;
  size_t concurrency = 1;
  /// Jobs the pool may reserve beyond its free executors while jobs are short (`prefetch`; the
  /// pool's window shrinks to none as jobs grow long, see actors/executor_pool.hpp).
  size_t prefetch = 0;
  bool burst = false;
  /// The most a job's `data` may inflate to (`job_data_max_mb`); a bomb fails its job.
  size_t job_data_max = transport::default_job_data_max;
  /// How long a Redis outage may last before calls fail (they are retried after that).
  std::chrono::milliseconds redis_give_up{30000};
  /// The processing pipeline (storage, keys, scripts) for pqrt's record jobs; null for a worker
  /// that runs only the built-in functions.
  std::shared_ptr<const pipeline_settings> pipeline;
  /// Makes each actor's job store; unset: an `rq_store` on `redis` (see `open_store`).
  transport::job_store_factory make_store;
  /// How executor_pool runs its executors: each on a thread of its own (a job blocks), or on the
  /// scheduler in the unit suites.
  spawn_mode executors = spawn_mode::detached;
};

/// A job store for one actor of this worker: `make_store`'s, or else Redis at `s.redis`. A Redis
/// outage lasts up to `patience.give_up_after` before its calls fail.
std::unique_ptr<transport::job_store> open_store(const worker_settings& s,
                                                 const transport::redis_client_options& patience);
/// The same with `s.redis_give_up` as the limit and the default backoff.
std::unique_ptr<transport::job_store> open_store(const worker_settings& s);

}  // namespace pqrt
