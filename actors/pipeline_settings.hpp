#pragma once

/// What the actors of the processing pipeline (scheduler and worker trees) know about a run: where
/// its inputs and results live, how its jobs are named and processed. Stores and key sources are
/// made per actor through factories (a store blocks and is used by one detached actor at a time).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "crypto/key_wrap.hpp"
#include "runtime/jobs/exec_processor.hpp"
#include "transport/storage.hpp"

namespace pqrt {

/// How a run ended, filled in by the run monitor for the role that waits on it.
struct run_outcome {
  std::mutex mutex;
  bool enqueued = false;  ///< this process's job_parser has enqueued every record
  bool complete = false;
  uint64_t total = 0, finished = 0, failed = 0;
  std::vector<std::string> failed_jobs;  ///< ids of the jobs that failed (the first 1000)
  std::string manifest;                  ///< container/name of the results manifest
  std::string fatal;                     ///< why the run could not go on (bad input), if so
};

struct pipeline_settings {
  std::string run_id;
  std::string queue = "default";
  std::string processor = "exec";  ///< exec or a built-in processor name
  std::string dataset_id;          ///< empty: taken from the data file's header

  // Inputs.
  std::string inputs_container;
  std::string data_blob, key_blob, script_blob;
  // Outputs.
  std::string results_container;
  std::string status_queue;                    ///< job status records (JSON, batched)
  std::string workload_queue;                  ///< workload events (JSON)
  std::string status_prefix = "task-status-";  ///< Redis status records: prefix + job id

  /// Records per RQ job (`records_per_job`; a run keeps the value its first scheduler used).
  uint64_t records_per_job = 1;
  /// Jobs of many records carry them as bytes, uncompressed (the pickle serializer).
  bool records_as_bytes = true;
  std::chrono::seconds script_timeout{300};
  int64_t max_attempts = 3;
  std::string script_interpreter = "/usr/bin/python3";
  /// How the exec processor's script gets its records: a process per record (`once`) or one
  /// long-lived process per executor (`lines`, `framed`).
  pqrt::script_protocol script_protocol = pqrt::script_protocol::once;

  std::function<caf::expected<std::unique_ptr<transport::blob_store>>()> make_blobs;
  std::function<caf::expected<std::unique_ptr<transport::queue_store>>()> make_queues;
  std::function<caf::expected<std::unique_ptr<crypto::key_source>>()> make_key_source;

  /// Scheduler: progress on a terminal (a bar) rather than log lines.
  bool progress_bar = false;
  std::shared_ptr<run_outcome> outcome = std::make_shared<run_outcome>();
};

class peer;

/// Ends the run early: records why and asks the supervisor (the caller's `supervisor` peer) to
/// shut the tree down. For errors no restart can fix (a wrong key, a malformed data file).
void abort_run(caf::event_based_actor* self, peer& supervisor, const pipeline_settings& ps,
               const std::string& why);

}  // namespace pqrt
