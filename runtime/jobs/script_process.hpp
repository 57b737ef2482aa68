#pragma once

/// A long-lived processing script, for the `lines` and `framed` protocols: one process serves
/// record after record, started lazily from the sealed memfd in the same sandbox as `run_script`
/// (own process group, minimal environment with `PQRT_SCRIPT_PROTOCOL`, its pipes and the script
/// as its only fds). The frame format is documented in README.md ("Script protocols").

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "runtime/base/error.hpp"
#include "runtime/jobs/exec_processor.hpp"
#include "runtime/jobs/sandbox.hpp"

namespace pqrt {

/// One script process serving many records, one at a time. Used by one thread at a time (an
/// executor owns one). Every failure fails only the record in flight:
///
/// - `lines`: the record (which must hold no newline) is written as one line; the result is the
///   one line the script writes back, without its newline. `framed`: the record goes as a frame
///   (4-byte big-endian length, bytes); the answer is a status byte (0 ok, 1 failed), a 4-byte
///   big-endian length and that many bytes (the result, or the record's error text).
/// - Deadline passed or `stop_requested`: SIGKILL to the process group, `errc::timeout`; the next
///   record starts a new process.
/// - The process exits while a record is in flight: `errc::job_failed` "script exited with code
///   N ...: <stderr>"; it is started again for the next record after a backoff (100 ms doubling
///   per consecutive death, at most 5 s; a record whose deadline comes first fails at once with
///   the last death's text), so a script that dies at start-up fails its records with its stderr
///   instead of spinning.
/// - Two result lines (frames) for one record, none before the script's stdout closes, a result
///   line or frame over `max_output` bytes, a bad status byte, output between records or a result
///   before the whole record was written: `errc::job_failed` naming the problem; the process is
///   killed and started again for the next record.
/// - stderr read while a record is in flight is that record's (the last `max_error_text` bytes);
///   what the script writes to stderr between records is dropped.
class script_process {
public:
  /// `protocol` is `lines` or `framed`. Starts nothing yet.
  script_process(std::shared_ptr<const memory_script> script, script_protocol protocol);
  script_process(const script_process&) = delete;
  script_process& operator=(const script_process&) = delete;
  ~script_process();  ///< kills the process group and reaps the process

  /// Sends `record` to the process (started first when none runs) and returns its result.
  caf::expected<std::string> run(std::string_view record, const exec_limits& limits);

  /// The script this process runs.
  const memory_script* script() const { return script_.get(); }

  /// The running process's pid (and process group id), -1 when none runs.
  pid_t pid() const { return child_.pid; }

  /// How many processes were started so far.
  uint64_t starts() const { return starts_; }

private:
  using clock_type = detail::clock_type;

  caf::error ensure_started(const exec_limits& limits);
  caf::error wait_for_restart(const exec_limits& limits);
  caf::expected<std::string> exchange(const std::string& request, const exec_limits& limits);
  /// The record's outcome once its answer is complete or wrong; nothing while it is incomplete.
  std::optional<caf::expected<std::string>> settle(std::string& out, std::string& err,
                                                   bool all_written, const exec_limits& limits);
  caf::error died(std::string err, const exec_limits& limits);
  /// Records a death (or a failed start): the next start waits out the backoff.
  void note_death(std::string text);
  caf::error restart_after(errc code, std::string text);
  int kill_and_reap();

  std::shared_ptr<const memory_script> script_;
  script_protocol protocol_;
  detail::sandboxed_child child_;
  uint64_t starts_ = 0;
  int deaths_ = 0;  ///< consecutive deaths, for the backoff
  clock_type::time_point restart_at_{};
  std::string last_death_;
};

}  // namespace pqrt
