#pragma once

/// Python RQ 1.13's Redis keys (shared/reference/rq-1.13-protocol.md, "Key inventory"), plus the
/// few keys pqrt adds for reliable reserve. RQ uses no prefix or hash tag: one database.

#include <string>
#include <string_view>

namespace pqrt::transport::rq_keys {

inline std::string str(std::string_view a, std::string_view b) {
  std::string out{a};
  out.append(b.data(), b.size());
  return out;
}

/// The set of every queue key.
inline const std::string queues = "rq:queues";
/// The set of every worker key.
inline const std::string workers = "rq:workers";
/// `rq suspend` sets it; workers take no job while it exists.
inline const std::string suspended = "rq:suspended";

inline std::string queue(std::string_view q) {
  return str("rq:queue:", q);
}
inline std::string job(std::string_view id) {
  return str("rq:job:", id);
}
inline std::string dependents(std::string_view id) {
  return str(job(id), ":dependents");
}
/// Note RQ's double colon.
inline std::string dependencies(std::string_view id) {
  return str("rq:job::", id) + ":dependencies";
}
inline std::string results(std::string_view id) {
  return str("rq:results:", id);
}
inline std::string wip(std::string_view q) {
  return str("rq:wip:", q);
}
inline std::string finished(std::string_view q) {
  return str("rq:finished:", q);
}
inline std::string failed(std::string_view q) {
  return str("rq:failed:", q);
}
inline std::string deferred(std::string_view q) {
  return str("rq:deferred:", q);
}
inline std::string scheduled(std::string_view q) {
  return str("rq:scheduled:", q);
}
inline std::string canceled(std::string_view q) {
  return str("rq:canceled:", q);
}
inline std::string worker(std::string_view name) {
  return str("rq:worker:", name);
}
inline std::string queue_workers(std::string_view q) {
  return str("rq:workers:", q);
}
inline std::string pubsub(std::string_view name) {
  return str("rq:pubsub:", name);
}

// --- pqrt's own keys: reliable reserve ---------------------------------------------------------
/// The set of pqrt worker names that may hold reserved jobs.
inline const std::string pqrt_workers = "pqrt:workers";
/// A pqrt worker's processing list: the ids it reserved and has not finished yet.
inline std::string processing(std::string_view name) {
  return str("pqrt:processing:", name);
}
/// A pqrt worker's liveness key (a short TTL, refreshed by its heartbeat).
inline std::string alive(std::string_view name) {
  return str("pqrt:alive:", name);
}

// --- pqrt's own keys: runs (jobs enqueued by a pqrt scheduler carry pqrt_run and pqrt_index) -----
/// A run's description (a hash: dataset, total, queue, state, ...).
inline std::string run(std::string_view id) {
  return str("pqrt:run:", id);
}
/// Bitmaps over a run's record indices: set once a job finished / failed for good. They outlive
/// the job hashes, so a second scheduler never enqueues a job that already ran.
inline std::string run_finished(std::string_view id) {
  return str(run(id), ":finished");
}
inline std::string run_failed(std::string_view id) {
  return str(run(id), ":failed");
}
/// A hash over a run's result blobs: name → the size its writer wrote, set by the finish script
/// in the step that records the blob's jobs finished. The scheduler checks storage against it.
inline std::string run_blobs(std::string_view id) {
  return str(run(id), ":blobs");
}

}  // namespace pqrt::transport::rq_keys
