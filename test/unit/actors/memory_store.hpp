#pragma once

// An in-memory job store for the actor unit suites, where Redis is not the point: RQ's queues,
// one processing list per worker, outcomes and run hashes in plain containers, shared by every
// store its factory makes (each actor makes its own, as against Redis). Calls can be made to fail
// (`fail_calls`) as an unreachable server's do. The RQ model itself is tested against a real
// redis-server (integration.redis, integration.rq_interop); this only has to keep its promises.

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "transport/job_store.hpp"

namespace pqrt::test {

struct memory_redis {
  std::map<std::string, std::deque<std::string>> queues;       ///< job ids, head first
  std::map<std::string, transport::rq_job> jobs;               ///< every job ever enqueued
  std::map<std::string, std::vector<std::string>> reserved;    ///< per worker, in reserve order
  std::map<std::string, std::vector<std::string>> run_series;  ///< "<run>:<series>" -> entries
  std::set<std::string> workers;                               ///< registered
  std::map<std::string, std::string> worker_state;
  std::vector<transport::job_outcome> recorded;  ///< in the order recorded
  std::map<std::string, std::map<std::string, std::string>> runs;
  std::map<std::string, transport::run_counts> run_counts;
  std::map<std::string, std::map<std::string, std::string>> status_hashes;      ///< by key
  std::map<std::string, std::unordered_map<std::string, uint64_t>> blob_sizes;  ///< per run
  std::vector<transport::record_to_rerun> reruns;                               ///< taken back
  std::map<std::string, std::deque<std::string>> commands;  ///< published, per worker
  size_t subscriptions = 0;
  bool suspended = false;  ///< `rq suspend` in force
  size_t fail_calls = 0;   ///< this many calls fail next (`unavailable`), whatever they are
  size_t calls = 0;        ///< calls made, failed ones included
  size_t heartbeats = 0;
  size_t most_reserved = 0;  ///< the most jobs one reserve call returned
  size_t released = 0;       ///< jobs handed back by `release` (deregistration's included)
  size_t deregistrations = 0;

  /// Adds a queued job (its hash: origin and status); the id is returned.
  std::string add_job(const std::string& queue, const std::string& id);
  /// Ids in `queue`, head first.
  std::vector<std::string> queued(const std::string& queue) const;
  /// Ids `worker` holds reserved.
  std::vector<std::string> held_by(const std::string& worker) const;
  /// The job's `status` field ("" when unknown).
  std::string status(const std::string& id) const;
};

/// Makes stores over `redis`.
transport::job_store_factory memory_store_factory(std::shared_ptr<memory_redis> redis);

}  // namespace pqrt::test
