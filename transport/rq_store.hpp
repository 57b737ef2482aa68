#pragma once

/// Python RQ 1.13's operations on Redis, done the way RQ records them and atomically where RQ can
/// lose work (reference: shared/reference/rq-1.13-protocol.md). One store per actor or thread:
/// it owns a reconnecting client.
///
/// At-least-once: a reserved job sits in its worker's processing list from the moment it leaves
/// its queue (one atomic step) until its outcome is recorded (one atomic step). A worker whose
/// liveness key expires is dead; `recover_dead_workers` (run by every live pqrt process) puts its
/// jobs back at the front of their queues, counting the attempt; a job that has used up its
/// attempts fails instead of killing workers forever.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "transport/job_store.hpp"
#include "transport/redis_client.hpp"
#include "transport/rq_job.hpp"

namespace pqrt::transport {

/// RQ operations over one reconnecting client.
class rq_store final : public job_store {
public:
  rq_store(redis_url url, rq_serializer serializer, redis_client_options options = {});

  /// Connects now (for a clear start-up error).
  caf::error connect() override;
  rq_serializer serializer() const override { return serializer_; }

  /// Enqueues jobs in RQ form: 500 per script call, 10,000 per round trip, the next 10,000
  /// encoded while Redis runs the last. Jobs whose id exists are skipped, so a call made again
  /// adds only what is missing. Returns how many were added. A job timeout of 0 fails the call
  /// before anything is sent; a call that fails later (Redis away, a job that cannot be encoded)
  /// may have added the windows before it.
  caf::expected<size_t> enqueue(std::vector<job_spec> jobs) override;

  /// Reserves up to `max` jobs from `w.queues` in priority order without waiting. Sets
  /// `suspended` when `rq suspend` is in force (then nothing is reserved).
  caf::expected<std::vector<rq_job>> reserve(const worker_identity& w, size_t max,
                                             bool& suspended) override;
  /// Waits up to `wait` for a job on the first queue (BLMOVE into the processing list), then
  /// registers it; nullopt when none came.
  caf::expected<std::optional<rq_job>> wait_and_reserve(const worker_identity& w,
                                                        std::chrono::milliseconds wait) override;
  /// After a `reserve` or `wait_and_reserve` that failed (a lost reply: the server may have run
  /// it): the jobs that call started for this worker, which no one else will ever run otherwise.
  caf::expected<std::vector<rq_job>> reclaim(const worker_identity& w) override;
  /// Records outcomes as RQ does (finish: results stream, finished registry, TTLs; fail: failed
  /// registry, or a retry via retries_left and the scheduled registry), one round trip.
  /// `states` (optional) receives what became of each: finished, failed, stopped, retried,
  /// scheduled, or gone (no longer this worker's).
  caf::error record(const worker_identity& w, const std::vector<job_outcome>& outcomes,
                    std::vector<std::string>* states = nullptr) override;

  /// Registers the worker as RQ does (worker hash, rq:workers, rq:workers:<q>) and as a pqrt
  /// worker (liveness). Fails if a live worker of that name exists.
  caf::error register_worker(const worker_identity& w) override;
  /// Refreshes liveness, the worker hash and the wip scores of reserved jobs. Returns whether
  /// RQ's suspension is in force.
  caf::expected<bool> heartbeat(const worker_identity& w) override;
  /// Sets the worker hash's `state` (idle, busy, suspended).
  caf::error set_state(const worker_identity& w, const std::string& state) override;
  /// Puts back this worker's reserved jobs (not counted as attempts), then deregisters as RQ's
  /// worker death does.
  caf::error deregister_worker(const worker_identity& w) override;
  /// Puts back reserved jobs of this worker that never started (a drain), at the front of their
  /// queues in order, not counted as attempts; ids no longer reserved by it are skipped. Returns
  /// how many went back.
  caf::expected<size_t> release(const worker_identity& w,
                                const std::vector<std::string>& ids) override;
  /// Returns the jobs of every dead pqrt worker to their queues; returns how many.
  caf::expected<size_t> recover_dead_workers() override;
  /// Moves due jobs from the scheduled registries of `queues` back to their queues.
  caf::expected<size_t> promote_scheduled(const std::vector<std::string>& queues) override;
  /// Subscribes on a connection of its own (a subscribed connection takes no other command).
  caf::expected<std::unique_ptr<command_feed>> subscribe_commands(
      const worker_identity& w) override;

  /// A job's hash (empty fields when it does not exist).
  caf::expected<rq_job> fetch(const std::string& id) override;
  /// The latest entry of a job's results stream as field/value pairs (empty when none).
  caf::expected<std::vector<std::string>> latest_result(const std::string& id) override;
  /// Counts per queue and registry, like `rq info`.
  caf::expected<std::vector<queue_info>> queues_info() override;
  /// The live workers, like `rq info`.
  caf::expected<std::vector<worker_info>> workers_info() override;
  /// Seconds since the job at the head of `queue` was enqueued; nullopt for an empty queue.
  caf::expected<std::optional<double>> oldest_queued_age(const std::string& queue) override;

  // --- pqrt runs (rq_runs.cpp) -------------------------------------------------------------
  /// The run's hash (empty when the run is unknown).
  caf::expected<std::map<std::string, std::string>> run_info(const std::string& run) override;
  /// Sets fields of the run's hash.
  caf::error set_run_info(const std::string& run,
                          const std::vector<std::pair<std::string, std::string>>& fields) override;
  /// Finished and failed counts of a run.
  caf::expected<run_counts> count_run(const std::string& run) override;
  /// The record indices below `total` whose bit is set in the run's finished (or failed) bitmap.
  caf::expected<std::vector<bool>> run_bitmap(const std::string& run, bool failed,
                                              uint64_t total) override;
  /// `fields` of each status record in `keys`, in order ("" where absent), pipelined.
  caf::expected<std::vector<std::vector<std::string>>> status_records(
      const std::vector<std::string>& keys, const std::vector<std::string>& fields) override;
  /// The run's result blobs with the size each was written with (`rq_keys::run_blobs`).
  caf::expected<std::unordered_map<std::string, uint64_t>> run_blob_sizes(
      const std::string& run) override;
  /// Takes back finished records of `run` whose result blob is lost, so that an enqueue pass runs
  /// them again (the `rerun` script: only a record still finished and naming that blob). Returns
  /// how many were taken back.
  caf::error append_run_series(const std::string& run, const std::string& series,
                               const std::string& entry, size_t keep) override;
  caf::expected<std::vector<std::string>> run_series(const std::string& run,
                                                     const std::string& series) override;
  caf::expected<size_t> rerun_records(const std::string& run, const std::string& queue,
                                      const std::vector<record_to_rerun>& records) override;

  /// How many jobs of `queue` wait, and how many are being worked on.
  caf::expected<queue_load> load(const std::string& queue) override;

  redis_client& client() { return client_; }

private:
  caf::expected<std::vector<redis_reply>> run_scripts(std::vector<redis_command> calls);
  caf::expected<std::vector<rq_job>> parse_reserved(const redis_reply& reply);
  std::string next_token(const worker_identity& w);

  redis_client client_;
  rq_serializer serializer_;
  bool scripts_loaded_ = false;
  std::string token_;         // of the latest reserve: marks the jobs it started
  uint64_t token_count_ = 0;  // SCRIPT LOAD sent once; a server that forgets gets EVAL
};

}  // namespace pqrt::transport
