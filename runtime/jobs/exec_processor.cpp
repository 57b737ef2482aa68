#include "runtime/jobs/exec_processor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "runtime/base/error.hpp"

// Linux 6.3+: an executable memfd says so (kernels with vm.memfd_noexec=2 refuse exec otherwise).
// Older kernels reject the flag with EINVAL; create() retries without it.
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

namespace pqrt {

using clock_type = std::chrono::steady_clock;

namespace {

/// The fd the script has in its process: after stdin, stdout and stderr.
constexpr int child_script_fd = 3;
constexpr const char* child_script_path = "/proc/self/fd/3";

/// How often a running script's deadline and stop request are checked.
constexpr auto poll_interval = std::chrono::milliseconds{50};
/// How long output is still read once the script has exited (its leftovers are killed by then;
/// this bounds a process that left the group but holds the pipes open).
constexpr auto drain_time = std::chrono::milliseconds{200};

constexpr size_t io_chunk = 64 * 1024;

std::string describe(int err) {
  return std::error_code{err, std::generic_category()}.message();
}

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
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_ = -1;
};

/// A close-on-exec copy of `fd` numbered above the fds the child's dup2s target (0..3), so that
/// no dup2 in the child overwrites an fd a later one reads. Closes `fd`.
int above_child_fds(int fd) {
  if (fd < 0 || fd > child_script_fd) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, child_script_fd + 1);
  int err = errno;
  ::close(fd);
  errno = err;
  return moved;
}

caf::error make_pipe(unique_fd& read_end, unique_fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(errc::io_error, "could not create a pipe: " + describe(errno));
  read_end.reset(above_child_fds(fds[0]));
  write_end.reset(above_child_fds(fds[1]));
  if (!read_end || !write_end)
    return make_error(errc::io_error, "could not create a pipe: " + describe(errno));
  return caf::none;
}

bool set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/// Blocks SIGPIPE on this thread while it writes to the script, and swallows the SIGPIPE a write
/// to a closed pipe raises, so that even a process that does not ignore SIGPIPE survives a script
/// that does not read its input.
class sigpipe_guard {
public:
  sigpipe_guard() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_mask_);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;
  ~sigpipe_guard() { pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr); }

  /// After a write failed with EPIPE: takes the SIGPIPE it raised off this thread.
  void consume() {
    if (was_pending_) return;  // not ours to take
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_set_, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }

private:
  sigset_t pipe_set_;
  sigset_t old_mask_;
  bool was_pending_ = false;
};

class spawn_actions {
public:
  spawn_actions() { ok_ = posix_spawn_file_actions_init(&actions_) == 0; }
  spawn_actions(const spawn_actions&) = delete;
  spawn_actions& operator=(const spawn_actions&) = delete;
  ~spawn_actions() {
    if (ok_) posix_spawn_file_actions_destroy(&actions_);
  }
  bool ok() const { return ok_; }
  posix_spawn_file_actions_t* get() { return &actions_; }

private:
  posix_spawn_file_actions_t actions_;
  bool ok_ = false;
};

class spawn_attrs {
public:
  spawn_attrs() { ok_ = posix_spawnattr_init(&attrs_) == 0; }
  spawn_attrs(const spawn_attrs&) = delete;
  spawn_attrs& operator=(const spawn_attrs&) = delete;
  ~spawn_attrs() {
    if (ok_) posix_spawnattr_destroy(&attrs_);
  }
  bool ok() const { return ok_; }
  posix_spawnattr_t* get() { return &attrs_; }

private:
  posix_spawnattr_t attrs_;
  bool ok_ = false;
};

/// Waits for `pid` (a child of ours) and returns its wait status.
std::optional<int> reap(pid_t pid) {
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, 0) == pid) return status;
    if (errno != EINTR) return std::nullopt;
  }
}

/// True once `pid` has exited; leaves it unreaped, so its pid (and process group id) stays ours.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

std::string seconds_text(clock_type::duration elapsed) {
  auto secs = std::chrono::duration<double>{elapsed}.count();
  char buf[32];
  std::snprintf(buf, sizeof(buf), secs < 10 ? "%.1f" : "%.0f", secs);
  return buf;
}

/// The last `limit` bytes of `text` (not starting inside a UTF-8 sequence), trailing whitespace
/// trimmed.
std::string error_text(std::string text, size_t limit) {
  if (text.size() > limit) {
    auto from = text.size() - limit;
    for (int i = 0;
         i < 3 && from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80;
         ++i)
      ++from;
    text.erase(0, from);
  }
  auto end = text.find_last_not_of(" \t\r\n\v\f");
  text.erase(end == std::string::npos ? 0 : end + 1);
  return text;
}

}  // namespace

// --- memory_script -------------------------------------------------------------------------------

caf::expected<memory_script> memory_script::create(std::string_view contents,
                                                   const std::string& name) {
  auto label = name.empty() ? std::string{"pqrt-script"} : name.substr(0, name.find('\0'));
  if (label.size() > 200) label.resize(200);  // the kernel allows 249 bytes
  int raw = ::memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (raw < 0 && errno == EINVAL)
    raw = ::memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (raw < 0) return make_error(errc::io_error, "memfd_create failed: " + describe(errno));
  unique_fd fd{raw};
  size_t done = 0;
  while (done < contents.size()) {
    auto n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errc::io_error,
                        "could not write the script to its memfd: " + describe(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    return make_error(errc::io_error, "could not seal the script's memfd: " + describe(errno));
  bool shebang = contents.size() >= 2 && contents[0] == '#' && contents[1] == '!';
  return memory_script{fd.release(), shebang};
}

memory_script::memory_script(memory_script&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), has_shebang_(other.has_shebang_) {}

memory_script& memory_script::operator=(memory_script&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    has_shebang_ = other.has_shebang_;
  }
  return *this;
}

memory_script::~memory_script() {
  if (fd_ >= 0) ::close(fd_);
}

// --- run_script ----------------------------------------------------------------------------------

caf::expected<std::string> run_script(const memory_script& script, std::string_view input,
                                      const exec_limits& limits) {
  const auto started = clock_type::now();
  if (script.fd() < 0) return make_error(errc::io_error, "no script to run (moved from)");
  if (started >= limits.deadline)
    return make_error(errc::timeout, "script timed out after 0 s (deadline already passed)");

  // Every fd here is close-on-exec (no other thread's children inherit them) and above 3.
  unique_fd in_r, in_w, out_r, out_w, err_r, err_w;
  if (auto err = make_pipe(in_r, in_w)) return err;
  if (auto err = make_pipe(out_r, out_w)) return err;
  if (auto err = make_pipe(err_r, err_w)) return err;
  unique_fd script_fd{::fcntl(script.fd(), F_DUPFD_CLOEXEC, child_script_fd + 1)};
  if (!script_fd)
    return make_error(errc::io_error, "could not dup the script fd: " + describe(errno));
  if (!set_nonblocking(in_w.get()) || !set_nonblocking(out_r.get()) ||
      !set_nonblocking(err_r.get()))
    return make_error(errc::io_error, "could not set up the script's pipes: " + describe(errno));

  spawn_actions actions;
  if (!actions.ok()) return make_error(errc::io_error, "posix_spawn_file_actions_init failed");
  bool set_up =
      posix_spawn_file_actions_adddup2(actions.get(), in_r.get(), STDIN_FILENO) == 0 &&
      posix_spawn_file_actions_adddup2(actions.get(), out_w.get(), STDOUT_FILENO) == 0 &&
      posix_spawn_file_actions_adddup2(actions.get(), err_w.get(), STDERR_FILENO) == 0 &&
      posix_spawn_file_actions_adddup2(actions.get(), script_fd.get(), child_script_fd) == 0;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Also closes fds another thread opened without O_CLOEXEC.
  set_up =
      set_up && posix_spawn_file_actions_addclosefrom_np(actions.get(), child_script_fd + 1) == 0;
#endif
  if (!set_up) return make_error(errc::io_error, "could not set up the script's file actions");

  spawn_attrs attrs;
  if (!attrs.ok()) return make_error(errc::io_error, "posix_spawnattr_init failed");
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t default_signals;
  sigemptyset(&default_signals);
  for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD,
                  SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ})
    sigaddset(&default_signals, sig);
  set_up = posix_spawnattr_setflags(attrs.get(), POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                     POSIX_SPAWN_SETSIGDEF) == 0 &&
           posix_spawnattr_setpgroup(attrs.get(), 0) == 0 &&
           posix_spawnattr_setsigmask(attrs.get(), &no_signals) == 0 &&
           posix_spawnattr_setsigdefault(attrs.get(), &default_signals) == 0;
  if (!set_up) return make_error(errc::io_error, "could not set up the script's spawn attributes");

  // No shell: the kernel reads a shebang itself; other scripts go to the interpreter.
  std::string program = script.has_shebang() ? child_script_path : limits.interpreter;
  std::vector<std::string> args;
  if (!script.has_shebang()) args.push_back(limits.interpreter);
  args.emplace_back(child_script_path);
  std::vector<std::string> env{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"};
  if (const char* home = ::getenv("HOME")) env.push_back(std::string{"HOME="} + home);
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& var : env)
    envp.push_back(var.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  if (int rc = ::posix_spawn(&pid, program.c_str(), actions.get(), attrs.get(), argv.data(),
                             envp.data());
      rc != 0)
    return make_error(errc::io_error, "could not start script (" + program + "): " + describe(rc));
  in_r.reset();
  out_w.reset();
  err_w.reset();
  script_fd.reset();
  // The child is unreaped until the end, so `pid` stays both its pid and its process group id.
  unique_fd pidfd{pidfd_for(pid)};

  sigpipe_guard pipe_guard;
  auto kill_group = [pid] { ::kill(-pid, SIGKILL); };
  auto abort_with = [&](caf::error err) -> caf::error {
    kill_group();
    reap(pid);
    return err;
  };

  std::string out;
  std::string err_out;
  const size_t err_keep = limits.max_error_text + io_chunk;
  size_t written = 0;
  if (input.empty()) in_w.reset();
  bool exited = false;
  auto drain_until = clock_type::time_point::max();
  std::vector<char> buf(io_chunk);

  for (;;) {
    auto now = clock_type::now();
    if (!exited && has_exited(pid)) {
      exited = true;
      kill_group();  // whatever it left behind in its group
      in_w.reset();
      pidfd.reset();
      drain_until = now + drain_time;
    }
    if (exited && ((!out_r && !err_r) || now >= drain_until)) break;
    if (!exited) {
      if (limits.stop_requested && limits.stop_requested())
        return abort_with(make_error(errc::timeout, "script stopped"));
      if (now >= limits.deadline)
        return abort_with(make_error(
            errc::timeout, "script timed out after " + seconds_text(now - started) + " s"));
    }

    pollfd fds[4];
    nfds_t count = 0;
    int in_idx = -1, out_idx = -1, err_idx = -1;
    if (in_w) {
      in_idx = static_cast<int>(count);
      fds[count++] = pollfd{in_w.get(), POLLOUT, 0};
    }
    if (out_r) {
      out_idx = static_cast<int>(count);
      fds[count++] = pollfd{out_r.get(), POLLIN, 0};
    }
    if (err_r) {
      err_idx = static_cast<int>(count);
      fds[count++] = pollfd{err_r.get(), POLLIN, 0};
    }
    if (pidfd) fds[count++] = pollfd{pidfd.get(), POLLIN, 0};
    clock_type::time_point until;
    if (exited) {
      until = drain_until;
    } else {
      // Without a pidfd, the child's exit is only seen by polling: often, once the pipes closed.
      auto interval = (pidfd || out_r || err_r)
                          ? clock_type::duration{poll_interval}
                          : clock_type::duration{std::chrono::milliseconds{5}};
      until = std::min(now + interval, limits.deadline);
    }
    auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    int ready = ::poll(fds, count, static_cast<int>(std::max<decltype(wait_ms)>(wait_ms, 0)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return abort_with(make_error(errc::io_error, "poll failed: " + describe(errno)));
    }
    if (ready == 0) continue;

    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      auto n =
          ::write(in_w.get(), input.data() + written, std::min(io_chunk, input.size() - written));
      if (n >= 0) {
        written += static_cast<size_t>(n);
        if (written == input.size()) in_w.reset();  // EOF for the script
      } else if (errno == EPIPE) {
        pipe_guard.consume();
        in_w.reset();  // the script does not read (all of) its input: its business
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return abort_with(
            make_error(errc::io_error, "could not write the script's input: " + describe(errno)));
      }
    }
    if (out_idx >= 0 && fds[out_idx].revents != 0) {
      auto n = ::read(out_r.get(), buf.data(), buf.size());
      if (n > 0) {
        out.append(buf.data(), static_cast<size_t>(n));
        if (out.size() > limits.max_output)
          return abort_with(
              make_error(errc::job_failed,
                         "script output over " + std::to_string(limits.max_output) + " bytes"));
      } else if (n == 0) {
        out_r.reset();
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return abort_with(
            make_error(errc::io_error, "could not read the script's output: " + describe(errno)));
      }
    }
    if (err_idx >= 0 && fds[err_idx].revents != 0) {
      auto n = ::read(err_r.get(), buf.data(), buf.size());
      if (n > 0) {
        err_out.append(buf.data(), static_cast<size_t>(n));
        if (err_out.size() > err_keep) err_out.erase(0, err_out.size() - limits.max_error_text);
      } else if (n == 0) {
        err_r.reset();
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        err_r.reset();  // stderr is only for diagnostics
      }
    }
  }

  auto status = reap(pid);
  if (!status)
    return make_error(errc::io_error, "could not wait for the script: " + describe(errno));
  if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) return out;
  std::string context = WIFEXITED(*status)
                            ? "script exited with code " + std::to_string(WEXITSTATUS(*status))
                            : "script killed by signal " + std::to_string(WTERMSIG(*status));
  auto text = error_text(std::move(err_out), limits.max_error_text);
  if (!text.empty()) context += ": " + text;
  return make_error(errc::job_failed, std::move(context));
}

}  // namespace pqrt
