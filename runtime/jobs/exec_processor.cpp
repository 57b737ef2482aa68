#include "runtime/jobs/exec_processor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/jobs/sandbox.hpp"

// Linux 6.3+: an executable memfd says so (kernels with vm.memfd_noexec=2 refuse exec otherwise).
// Older kernels reject the flag with EINVAL; create() retries without it.
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

namespace pqrt {

using namespace detail;

namespace {

/// How long output is still read once the script has exited (its leftovers are killed by then;
/// this bounds a process that left the group but holds the pipes open).
constexpr auto drain_time = std::chrono::milliseconds{200};

}  // namespace

// --- script_protocol -----------------------------------------------------------------------------

const char* to_string(script_protocol protocol) {
  switch (protocol) {
    case script_protocol::lines: return "lines";
    case script_protocol::framed: return "framed";
    case script_protocol::once: break;
  }
  return "once";
}

caf::expected<script_protocol> parse_script_protocol(std::string_view name) {
  for (auto p : {script_protocol::once, script_protocol::lines, script_protocol::framed})
    if (name == to_string(p)) return p;
  return make_error(errc::config_invalid,
                    "'" + std::string{name} + "' is not one of once, lines, framed");
}

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
  bool elf = contents.size() >= 4 && contents.compare(0, 4,
                                                      "\x7f"
                                                      "ELF") == 0;
  return memory_script{fd.release(), shebang, elf};
}

memory_script::memory_script(memory_script&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), has_shebang_(other.has_shebang_), is_elf_(other.is_elf_) {}

memory_script& memory_script::operator=(memory_script&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    has_shebang_ = other.has_shebang_;
    is_elf_ = other.is_elf_;
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
  if (started >= limits.deadline)
    return make_error(errc::timeout, "script timed out after 0 s (deadline already passed)");

  auto child = spawn_sandboxed(script, limits.interpreter, to_string(script_protocol::once));
  if (!child) return child.error();
  const pid_t pid = child->pid;
  unique_fd in_w = std::move(child->in), out_r = std::move(child->out),
            err_r = std::move(child->err), pidfd = std::move(child->pidfd);
  // The child is unreaped until the end, so `pid` stays both its pid and its process group id.

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
  std::string context = exit_text(*status);
  auto text = error_text(std::move(err_out), limits.max_error_text);
  if (!text.empty()) context += ": " + text;
  return make_error(errc::job_failed, std::move(context));
}

}  // namespace pqrt
