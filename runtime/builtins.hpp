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
/// dict). A function that would run past `deadline` stops there with `errc::timeout`.
caf::expected<transport::py_value> run_builtin(const std::string& func,
                                               const transport::py_value& args,
                                               const transport::py_value& kwargs,
                                               std::chrono::steady_clock::time_point deadline);

/// The names of every built-in function.
const std::vector<std::string>& builtin_names();

}  // namespace pqrt
