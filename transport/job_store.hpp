#pragma once

/// The job store as pqrt's actors see it: Python RQ 1.13's operations (reserve, record, worker
/// registration, run bookkeeping) behind one interface, so that an actor takes its store from a
/// factory as it takes its blob and queue stores. `rq_store` (transport/rq_store.hpp) is the one
/// production implementation, on Redis; the actor unit suites use an in-memory one.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "transport/py_value.hpp"
#include "transport/redis_client.hpp"
#include "transport/rq_job.hpp"

namespace pqrt::transport {

/// Who a worker is, as RQ's worker hash shows it.
struct worker_identity {
  std::string name;                 ///< unique, no spaces (RQ's pub/sub channel uses it)
  std::vector<std::string> queues;  ///< in priority order
  std::string hostname;
  int64_t pid = 0;
};

/// Timing of a worker's liveness.
struct liveness_options {
  std::chrono::seconds wip_ttl{90};            ///< rq:wip scores ahead of now (RQ: ~90 s busy)
  std::chrono::milliseconds alive_ttl{10000};  ///< a worker silent this long is dead
  std::chrono::seconds worker_ttl{480};        ///< RQ's worker hash TTL
  int64_t max_attempts = 5;                    ///< deaths a job survives before it fails
};

/// The outcome of one record of a job that carries many (`job_outcome::records`).
struct record_outcome {
  uint64_t index = 0;      ///< the record's index in its run
  bool ok = false;         ///< its result is in the job's `result_ref`
  std::string error_text;  ///< when failed
  bool retry = false;      ///< when failed: worth another attempt (else it failed for good)
};

/// The outcome of one job, to record.
struct job_outcome {
  std::string id;
  bool ok = false;
  py_value result;         ///< when ok
  std::string error_text;  ///< when failed: RQ's exc_string text
  bool stopped = false;    ///< stopped by a command: status `stopped`, never retried
  double working_secs = 0;
  int64_t retry_delay = 0;    ///< seconds before a retry when retries are left; -1: never retry
  std::string result_ref;     ///< where the job's result went (a pqrt run's status record keeps it)
  uint64_t result_bytes = 0;  ///< the size `result_ref` was written with (kept per run, checked)
  /// A job of many records (`pqrt.records`): one outcome per record it ran (records that had
  /// ended before are not in it). The job is finished when every record ended; records to retry
  /// send it back through RQ's retry (`retry_delay`) with the others recorded.
  bool chunk = false;
  std::vector<record_outcome> records;
};

/// What `info` counts for a queue.
struct queue_info {
  std::string name;
  int64_t queued = 0, started = 0, finished = 0, failed = 0, deferred = 0, scheduled = 0;
};

/// How many of a run's jobs ended for good (its bitmaps).
struct run_counts {
  int64_t finished = 0;
  int64_t failed = 0;
};

/// A finished record of a run to run again (`rq_store::rerun_records`).
struct record_to_rerun {
  std::string job_id;
  uint64_t index = 0;
  std::string status_key;
  std::string blob;    ///< the lost result blob its status record names
  std::string reason;  ///< kept in its status record
};

/// A worker as its RQ hash shows it.
struct worker_info {
  std::string name, state, queues, current_job, hostname, pid;
  /// RQ's `successful_job_count` and `failed_job_count`: jobs it ended since it started (the
  /// autoscaler's finish rate per worker).
  int64_t successful = 0, failed = 0;
};

/// How many jobs of a queue wait and how many are being worked on (RQ's started registry).
struct queue_load {
  int64_t queued = 0;
  int64_t in_flight = 0;
};

/// RQ's command channel for one worker (`rq:pubsub:<name>`), subscribed.
class command_feed {
public:
  virtual ~command_feed() = default;
  /// The next command's JSON payload, waiting up to `wait`; nullopt when none came. An error
  /// means the subscription is gone (subscribe again).
  virtual caf::expected<std::optional<std::string>> next(std::chrono::milliseconds wait) = 0;
};

/// RQ's operations, as `rq_store` documents them. One store per actor or thread: a store blocks
/// and is not shared.
class job_store {
public:
  virtual ~job_store() = default;

  /// Connects now (for a clear start-up error).
  virtual caf::error connect() = 0;
  virtual rq_serializer serializer() const = 0;

  virtual caf::expected<size_t> enqueue(std::vector<job_spec> jobs) = 0;
  virtual caf::expected<std::vector<rq_job>> reserve(const worker_identity& w, size_t max,
                                                     bool& suspended) = 0;
  virtual caf::expected<std::optional<rq_job>> wait_and_reserve(const worker_identity& w,
                                                                std::chrono::milliseconds wait) = 0;
  virtual caf::expected<std::vector<rq_job>> reclaim(const worker_identity& w) = 0;
  virtual caf::error record(const worker_identity& w, const std::vector<job_outcome>& outcomes,
                            std::vector<std::string>* states = nullptr) = 0;

  virtual caf::error register_worker(const worker_identity& w) = 0;
  virtual caf::expected<bool> heartbeat(const worker_identity& w) = 0;
  virtual caf::error set_state(const worker_identity& w, const std::string& state) = 0;
  virtual caf::error deregister_worker(const worker_identity& w) = 0;
  virtual caf::expected<size_t> release(const worker_identity& w,
                                        const std::vector<std::string>& ids) = 0;
  virtual caf::expected<size_t> recover_dead_workers() = 0;
  virtual caf::expected<size_t> promote_scheduled(const std::vector<std::string>& queues) = 0;
  /// Subscribes to the commands published for `w` (`rq.command.send_*`).
  virtual caf::expected<std::unique_ptr<command_feed>> subscribe_commands(
      const worker_identity& w) = 0;

  virtual caf::expected<rq_job> fetch(const std::string& id) = 0;
  virtual caf::expected<std::vector<std::string>> latest_result(const std::string& id) = 0;
  virtual caf::expected<std::vector<queue_info>> queues_info() = 0;
  virtual caf::expected<std::vector<worker_info>> workers_info() = 0;
  virtual caf::expected<std::optional<double>> oldest_queued_age(const std::string& queue) = 0;
  virtual caf::expected<queue_load> load(const std::string& queue) = 0;

  virtual caf::expected<std::map<std::string, std::string>> run_info(const std::string& run) = 0;
  virtual caf::error set_run_info(
      const std::string& run, const std::vector<std::pair<std::string, std::string>>& fields) = 0;
  virtual caf::expected<run_counts> count_run(const std::string& run) = 0;
  virtual caf::expected<std::vector<bool>> run_bitmap(const std::string& run, bool failed,
                                                      uint64_t total) = 0;
  virtual caf::expected<std::vector<std::vector<std::string>>> status_records(
      const std::vector<std::string>& keys, const std::vector<std::string>& fields) = 0;
  virtual caf::expected<std::unordered_map<std::string, uint64_t>> run_blob_sizes(
      const std::string& run) = 0;
  virtual caf::expected<size_t> rerun_records(const std::string& run, const std::string& queue,
                                              const std::vector<record_to_rerun>& records) = 0;
  /// Appends `entry` (one JSON object) to the run's time series `series` (the list
  /// `pqrt:run:<run>:<series>`: the run monitor's `samples`, the autoscaler's `autoscale`),
  /// keeping the newest `keep` entries. For `pqrt report`.
  virtual caf::error append_run_series(const std::string& run, const std::string& series,
                                       const std::string& entry, size_t keep) = 0;
  /// The entries of a run's time series, oldest first.
  virtual caf::expected<std::vector<std::string>> run_series(const std::string& run,
                                                             const std::string& series) = 0;

  liveness_options& liveness() { return liveness_; }

protected:
  liveness_options liveness_;
};

/// Makes a store for one actor; `patience` is how that actor's calls treat an unreachable server.
using job_store_factory =
    std::function<std::unique_ptr<job_store>(const redis_client_options& patience)>;

}  // namespace pqrt::transport
