#pragma once

/// What every actor of a worker tree knows about its worker.

#include <chrono>
#include <cstddef>
#include <string>

#include "transport/redis_url.hpp"
#include "transport/rq_job_data.hpp"
#include "transport/rq_store.hpp"

namespace pqrt {

struct worker_settings {
  transport::redis_url redis;
  transport::rq_serializer serializer = transport::rq_serializer::pickle;
  transport::worker_identity identity;
  transport::liveness_options liveness;
  size_t concurrency = 1;
  bool burst = false;
  /// How long a Redis outage may last before calls fail (they are retried after that).
  std::chrono::milliseconds redis_give_up{30000};
};

}  // namespace pqrt
