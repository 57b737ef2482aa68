#pragma once

/// How a processing script's process is started and watched, shared by the `once` protocol
/// (run_script) and the long-lived ones (script_process). Internal to runtime/jobs.

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <caf/expected.hpp>

#include "runtime/jobs/exec_processor.hpp"

namespace pqrt::detail {

using clock_type = std::chrono::steady_clock;

/// How often a running script's deadline and stop request are checked.
constexpr auto poll_interval = std::chrono::milliseconds{50};
constexpr size_t io_chunk = 64 * 1024;

std::string describe(int err);

class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

private:
  int fd_ = -1;
};

/// A started script: its pid (also its process group id while unreaped) and our ends of its
/// pipes, all non-blocking and close-on-exec. `pidfd` may be empty (old kernels).
struct sandboxed_child {
  pid_t pid = -1;
  unique_fd in, out, err, pidfd;
};

/// Starts `script` in the sandbox: own process group, stdin/stdout/stderr pipes, the script on
/// fd 3 and no other fd, a minimal environment (with `PQRT_SCRIPT_PROTOCOL=protocol`), default
/// signal mask and dispositions. A script with a shebang or an ELF file runs directly as
/// /proc/self/fd/3; any other runs as `interpreter /proc/self/fd/3`.
caf::expected<sandboxed_child> spawn_sandboxed(const memory_script& script,
                                               const std::string& interpreter,
                                               std::string_view protocol);

/// Blocks SIGPIPE on this thread while it writes to the script, and swallows the SIGPIPE a write
/// to a closed pipe raises, so that even a process that does not ignore SIGPIPE survives a script
/// that does not read its input.
class sigpipe_guard {
public:
  sigpipe_guard();
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;
  ~sigpipe_guard();

  /// After a write failed with EPIPE: takes the SIGPIPE it raised off this thread.
  void consume();

private:
  sigset_t pipe_set_;
  sigset_t old_mask_;
  bool was_pending_ = false;
};

/// Waits for `pid` (a child of ours) and returns its wait status.
std::optional<int> reap(pid_t pid);

/// True once `pid` has exited; leaves it unreaped, so its pid (and process group id) stays ours.
bool has_exited(pid_t pid);

/// "1.5" or "12": seconds for error messages.
std::string seconds_text(clock_type::duration elapsed);

/// The last `limit` bytes of `text` (not starting inside a UTF-8 sequence), trailing whitespace
/// trimmed.
std::string error_text(std::string text, size_t limit);

/// "script exited with code N" / "script killed by signal N", from a wait status.
std::string exit_text(int status);

/// Appends what `fd` holds now (non-blocking; at most 64 reads) to `into`, keeping at most its
/// last `keep` bytes (plus one read's worth). Returns false at EOF or on a read error.
bool drain_into(int fd, std::string& into, size_t keep);

}  // namespace pqrt::detail
