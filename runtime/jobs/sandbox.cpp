#include "runtime/jobs/sandbox.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <vector>

#include "runtime/base/error.hpp"

namespace pqrt::detail {

namespace {

/// The fd the script has in its process: after stdin, stdout and stderr.
constexpr int child_script_fd = 3;
constexpr const char* child_script_path = "/proc/self/fd/3";

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

int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

caf::error set_up_actions(spawn_actions& actions, const unique_fd& in_r, const unique_fd& out_w,
                          const unique_fd& err_w, const unique_fd& script_fd) {
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
  return caf::none;
}

caf::error set_up_attrs(spawn_attrs& attrs) {
  if (!attrs.ok()) return make_error(errc::io_error, "posix_spawnattr_init failed");
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t default_signals;
  sigemptyset(&default_signals);
  for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD,
                  SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ})
    sigaddset(&default_signals, sig);
  bool set_up =
      posix_spawnattr_setflags(attrs.get(), POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF) == 0 &&
      posix_spawnattr_setpgroup(attrs.get(), 0) == 0 &&
      posix_spawnattr_setsigmask(attrs.get(), &no_signals) == 0 &&
      posix_spawnattr_setsigdefault(attrs.get(), &default_signals) == 0;
  if (!set_up) return make_error(errc::io_error, "could not set up the script's spawn attributes");
  return caf::none;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string describe(int err) {
  return std::error_code{err, std::generic_category()}.message();
}

void unique_fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

caf::expected<sandboxed_child> spawn_sandboxed(const memory_script& script,
                                               const std::string& interpreter,
                                               std::string_view protocol) {
  if (script.fd() < 0) return make_error(errc::io_error, "no script to run (moved from)");
  // Every fd here is close-on-exec (no other thread's children inherit them) and above 3.
  sandboxed_child child;
  unique_fd in_r, out_w, err_w;
  if (auto err = make_pipe(in_r, child.in)) return err;
  if (auto err = make_pipe(child.out, out_w)) return err;
  if (auto err = make_pipe(child.err, err_w)) return err;
  unique_fd script_fd{::fcntl(script.fd(), F_DUPFD_CLOEXEC, child_script_fd + 1)};
  if (!script_fd)
    return make_error(errc::io_error, "could not dup the script fd: " + describe(errno));
  if (!set_nonblocking(child.in.get()) || !set_nonblocking(child.out.get()) ||
      !set_nonblocking(child.err.get()))
    return make_error(errc::io_error, "could not set up the script's pipes: " + describe(errno));
  spawn_actions actions;
  if (auto err = set_up_actions(actions, in_r, out_w, err_w, script_fd)) return err;
  spawn_attrs attrs;
  if (auto err = set_up_attrs(attrs)) return err;

  // No shell: the kernel reads a shebang or an ELF header itself; other scripts go to the
  // interpreter.
  bool direct = script.runs_directly();
  std::string program = direct ? child_script_path : interpreter;
  std::vector<std::string> args;
  if (!direct) args.push_back(interpreter);
  args.emplace_back(child_script_path);
  std::vector<std::string> env{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                               "PQRT_SCRIPT_PROTOCOL=" + std::string{protocol}};
  if (const char* home = ::getenv("HOME")) env.push_back(std::string{"HOME="} + home);
  auto argv = pointers(args);
  auto envp = pointers(env);
  if (int rc = ::posix_spawn(&child.pid, program.c_str(), actions.get(), attrs.get(), argv.data(),
                             envp.data());
      rc != 0)
    return make_error(errc::io_error, "could not start script (" + program + "): " + describe(rc));
  child.pidfd.reset(pidfd_for(child.pid));
  return child;
}

sigpipe_guard::sigpipe_guard() {
  sigemptyset(&pipe_set_);
  sigaddset(&pipe_set_, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_mask_);
  sigset_t pending;
  sigemptyset(&pending);
  was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

sigpipe_guard::~sigpipe_guard() {
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void sigpipe_guard::consume() {
  if (was_pending_) return;  // not ours to take
  timespec zero{0, 0};
  while (sigtimedwait(&pipe_set_, nullptr, &zero) < 0 && errno == EINTR) {
  }
}

std::optional<int> reap(pid_t pid) {
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, 0) == pid) return status;
    if (errno != EINTR) return std::nullopt;
  }
}

bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

std::string seconds_text(clock_type::duration elapsed) {
  auto secs = std::chrono::duration<double>{elapsed}.count();
  char buf[32];
  std::snprintf(buf, sizeof(buf), secs < 10 ? "%.1f" : "%.0f", secs);
  return buf;
}

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

std::string exit_text(int status) {
  return WIFEXITED(status) ? "script exited with code " + std::to_string(WEXITSTATUS(status))
                           : "script killed by signal " + std::to_string(WTERMSIG(status));
}

bool drain_into(int fd, std::string& into, size_t keep) {
  char buf[io_chunk];
  // Bounded, so that a script writing stderr as fast as it can does not keep us here.
  for (int reads = 0; reads < 64; ++reads) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      if (into.size() > keep + io_chunk) into.erase(0, into.size() - keep);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

}  // namespace pqrt::detail
