#pragma once

/// A job as RQ 1.13 stores it in its hash `rq:job:<id>` (reference §2): what a producer writes, and
/// what a worker reads back when it reserves the job.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "transport/rq_job_data.hpp"

namespace pqrt::transport {

/// What a producer says about a job.
struct job_spec {
  std::string id;                 ///< empty: a fresh uuid4, as RQ does
  std::string queue = "default";  ///< the queue name (not key)
  job_call call;
  std::string description;  ///< empty: RQ's call string, `tasks.add(2, 3)`
  int64_t timeout = 180;    ///< seconds; -1: no limit
  std::optional<int64_t> result_ttl;
  std::optional<int64_t> failure_ttl;
  std::optional<int64_t> ttl;  ///< expires the job while it waits in the queue
  int64_t retries = 0;         ///< RQ's Retry(max): stored as retries_left
  std::vector<int64_t> retry_intervals;
  bool at_front = false;
  /// zlib the `data` field, as RQ writes it. Off for data that does not compress (sealed records
  /// as bytes): RQ reads such data as it is (its fallback for data that is not zlib), and so does
  /// pqrt.
  bool compress = true;
  /// Further hash fields, written as given (pqrt's run tracking: pqrt_run, pqrt_index,
  /// pqrt_status). Python RQ ignores fields it does not know.
  std::vector<std::pair<std::string, std::string>> extra_fields;
};

/// A job read back from Redis: its id and hash fields.
struct rq_job {
  std::string id;
  std::map<std::string, std::string> fields;

  /// A field, or "" when absent.
  const std::string& field(const std::string& name) const;
  /// The queue the job belongs to.
  const std::string& origin() const { return field("origin"); }
  /// `timeout` in seconds (RQ's default 180 when absent, -1 for none).
  int64_t timeout_seconds() const;
  /// `retries_left` (0 when absent).
  int64_t retries_left() const;
  /// `retry_intervals`, parsed from its JSON list (empty when absent).
  std::vector<int64_t> retry_intervals() const;
};

/// A random uuid4 in RQ's form (36 characters, lower case).
std::string make_job_id();

/// RQ's default description: `func(` reprs of the arguments, sorted `k=repr(v)` `)`, each repr cut
/// to 75 characters plus `...`.
std::string call_string(const job_call& call);

/// `invalid_argument` for a spec RQ would reject before encoding it (a timeout of 0).
caf::error check_job_spec(const job_spec& spec);

/// The hash fields of a new job (besides status, created_at, enqueued_at and origin, which the
/// enqueue script sets), as field/value pairs; fails as `check_job_spec` does.
caf::expected<std::vector<std::string>> job_fields(const job_spec& spec, rq_serializer serializer);

/// Builds an `rq_job` from an HGETALL reply's flat field/value list.
rq_job make_rq_job(std::string id, const std::vector<std::string>& flat);

}  // namespace pqrt::transport
