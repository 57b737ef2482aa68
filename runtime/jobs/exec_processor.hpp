#pragma once

/// The `exec` processor: runs a decrypted processing script. The script lives in an anonymous,
/// sealed memfd and never touches the filesystem; it runs in its own process group with a minimal
/// environment, its input on stdin and its result on stdout. `run_script` starts it once per
/// record (the `once` protocol); script_process.hpp keeps one process for many records.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace pqrt {

/// A processing script held in memory only: an anonymous memfd (`memfd_create` with
/// `MFD_ALLOW_SEALING | MFD_CLOEXEC`), sealed against writes, growing and shrinking once its
/// contents are written. The fd is close-on-exec: `run_script` hands it to the script's process
/// only. Never touches the filesystem.
class memory_script {
public:
  /// Copies `contents` into a fresh sealed memfd. `name` is only a label (the memfd's name).
  static caf::expected<memory_script> create(std::string_view contents, const std::string& name);

  memory_script(memory_script&& other) noexcept;
  memory_script& operator=(memory_script&& other) noexcept;
  memory_script(const memory_script&) = delete;
  memory_script& operator=(const memory_script&) = delete;
  ~memory_script();  ///< closes the fd

  int fd() const { return fd_; }

  /// True when the script starts with "#!".
  bool has_shebang() const { return has_shebang_; }

  /// True when the script is an ELF file (a native program).
  bool is_elf() const { return is_elf_; }

  /// True when the kernel runs the script itself (a shebang or an ELF file), without the
  /// interpreter.
  bool runs_directly() const { return has_shebang_ || is_elf_; }

private:
  memory_script(int fd, bool has_shebang, bool is_elf)
      : fd_(fd), has_shebang_(has_shebang), is_elf_(is_elf) {}

  int fd_ = -1;
  bool has_shebang_ = false;
  bool is_elf_ = false;
};

/// How records reach a script and results come back (field `script_protocol`).
enum class script_protocol {
  once,    ///< one process per record: the record is stdin, stdout is the result
  lines,   ///< one long-lived process: a line per record on stdin, a result line per record
  framed,  ///< one long-lived process: length-prefixed frames both ways, a status per record
};

/// "once", "lines" or "framed".
const char* to_string(script_protocol protocol);

/// The protocol named `name`; `errc::config_invalid` for any other name.
caf::expected<script_protocol> parse_script_protocol(std::string_view name);

struct exec_limits {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  /// stdout bytes kept (a long-lived script: of one result line or frame); more fails the job.
  size_t max_output = 64 * 1024 * 1024;
  size_t max_error_text = 4096;                  ///< stderr bytes kept (the LAST ones)
  std::string interpreter = "/usr/bin/python3";  ///< runs scripts without a shebang
  /// Polled about every 50 ms; true kills the script like a timeout. May be empty.
  std::function<bool()> stop_requested;
};

/// Runs `script` once: `input` on its stdin, returns its stdout. No shell.
///
/// - A script with a shebang, or an ELF executable, is executed directly as `/proc/self/fd/3`
///   (the kernel reads the shebang or the ELF header); any other runs as
///   `interpreter /proc/self/fd/3`.
/// - The child runs in its own process group (posix_spawn), with stdin/stdout/stderr pipes and the
///   script on fd 3; every other fd is closed. Its environment is a minimal one
///   (`PATH=/usr/local/bin:/usr/bin:/bin`, `LANG=C.UTF-8`, `PQRT_SCRIPT_PROTOCOL=once`, `HOME`
///   when set), never the parent's.
///   Signal mask and the dispositions of common signals (SIGPIPE included) are reset to defaults.
/// - stdin is fed and stdout/stderr drained concurrently (poll), so big inputs and outputs never
///   deadlock. A script that does not read its input is fine (EPIPE is not an error by itself).
/// - Deadline passed or `stop_requested`: SIGKILL to the whole process group, `errc::timeout`
///   "script timed out after N s" / "script stopped".
/// - Exit code != 0 or killed by a signal: `errc::job_failed` "script exited with code N: <stderr>"
///   / "script killed by signal N: <stderr>" (the last `max_error_text` bytes of stderr, trailing
///   whitespace trimmed).
/// - stdout over `max_output`: the group is killed, `errc::job_failed` "script output over N
/// bytes".
/// - The child is always reaped, and once it has exited, what is left of its process group is
///   killed; reading stops when the pipes hit EOF or after a short drain.
/// - Failing to create pipes or to start the script: `errc::io_error`.
///
/// Thread-safe: may run concurrently on several threads.
caf::expected<std::string> run_script(const memory_script& script, std::string_view input,
                                      const exec_limits& limits);

}  // namespace pqrt
