#pragma once

/// pqrt's record jobs: RQ jobs that carry encrypted records of a run, and the built-in record
/// processors that can stand in for a processing script.
///
/// A record job is the RQ call `pqrt.record(run_id, dataset_id, index, sealed_line,
/// processor=NAME)` (one record, `records_per_job` 1) or `pqrt.records(run_id, dataset_id, first,
/// [sealed_line, ...], processor=NAME)` (the contiguous records first, first + 1, ...). Its id is
/// `<run id>-<index of its first record>`, so enqueuing a run twice never duplicates a job. The
/// records stay sealed in Redis; only an executor opens them, in memory.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "transport/rq_job_data.hpp"

namespace pqrt {

/// The RQ function names of record jobs: one record, many records.
inline const std::string record_job_func = "pqrt.record";
inline const std::string records_job_func = "pqrt.records";

/// What a record job carries.
struct record_call {
  std::string run_id;
  std::string dataset_id;
  uint64_t first = 0;                ///< the index of its first record
  std::vector<std::string> records;  ///< the records' sealed base64 lines, from `first` on
  std::string processor;             ///< exec or a built-in record processor
  bool many = false;                 ///< `pqrt.records` (else `pqrt.record`: exactly one)
  /// `make_record_call` of `pqrt.records`: each record as bytes (its line's base64 decoded; a
  /// line that is not canonical base64 stays text), a third smaller than the text and not worth
  /// compressing. For the pickle serializer (JSON has no bytes). `parse_record_call` reads both.
  bool as_bytes = false;
};

/// True for the function names of record jobs.
bool is_record_job(const std::string& func_name);

/// `<run id>-<index>`.
std::string record_job_id(const std::string& run_id, uint64_t index);

/// The job call of a record job.
transport::job_call make_record_call(const record_call& rc);
/// Reads a record job's call back; nullopt-like `unsupported` when `call` is not a record job,
/// `bad_format` when its arguments are malformed.
caf::expected<record_call> parse_record_call(const transport::job_call& call);

/// The binding (data set id) results of `run` are sealed under: results of one run never open
/// as records or as another run's results.
std::string result_binding(const std::string& dataset_id, const std::string& run_id);

/// Built-in record processors: `echo` (the record), `upper` (ASCII upper case), `sha256` (hex
/// digest), `fail` (always fails), `sleep:MS` and `cpu:MS` (wait or burn MS milliseconds, then echo
/// the record's sha256).
bool is_record_processor(const std::string& name);
/// `exec` or a built-in record processor name; `invalid_argument` naming the choices otherwise.
caf::error check_processor(const std::string& name);
/// Runs a built-in record processor on a plaintext record.
caf::expected<std::string> run_record_processor(const std::string& name, const std::string& record,
                                                std::chrono::steady_clock::time_point deadline);

}  // namespace pqrt
