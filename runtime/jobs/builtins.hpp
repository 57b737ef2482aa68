#pragma once

/// The job functions pqrt runs itself, by RQ function name: for interop with Python RQ, tests and
/// benchmarks. `pqrt.echo(x)` → x (several arguments → a tuple of them), `pqrt.upper(s)` →
/// s upper-cased (ASCII letters), `pqrt.sha256(x)` → hex digest of a str (UTF-8) or bytes,
/// `pqrt.sleep_ms(n)` → sleeps n ms, returns n, `pqrt.cpu_ms(n)` → keeps a core busy n ms,
/// returns n, `pqrt.fail(message="...")` → fails with the message.
///
/// An unknown name or wrong arguments fail the job with a clear message, as RQ does; they never
/// take the worker down.

#include <chrono>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "transport/py_value.hpp"

namespace pqrt {

/// Runs built-in `func` with RQ's positional `args` (a tuple or list) and keyword `kwargs` (a
/// dict). A function that would run past `deadline` stops there with `errc::timeout`; one whose
/// job was asked to stop (`job_control`) ends with `errc::job_failed` "stopped".
caf::expected<transport::py_value> run_builtin(const std::string& job_id, const std::string& func,
                                               const transport::py_value& args,
                                               const transport::py_value& kwargs,
                                               std::chrono::steady_clock::time_point deadline);

/// The names of every built-in function.
const std::vector<std::string>& builtin_names();

/// Stop requests for running jobs, from RQ's command channel (`stop-job`, `kill-horse`), checked
/// by the built-ins that run for a while. Thread-safe.
namespace job_control {
/// A job starts running on this thread (until `end`).
void begin(const std::string& job_id);
void end(const std::string& job_id);
/// Asks the running job `job_id` to stop; false when no such job runs here.
bool request_stop(const std::string& job_id);
/// Ends every running job as if its process was killed (`kill-horse`); returns how many run.
size_t request_stop_all();
/// True when `job_id` was ended by `request_stop_all`.
bool killed(const std::string& job_id);
/// True once a stop was requested for `job_id`.
bool stop_requested(const std::string& job_id);
}  // namespace job_control

}  // namespace pqrt
