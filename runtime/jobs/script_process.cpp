#include "runtime/jobs/script_process.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <thread>
#include <utility>

#include "runtime/base/error.hpp"

namespace pqrt {

using namespace detail;

namespace {

constexpr auto first_backoff = std::chrono::milliseconds{100};
constexpr auto max_backoff = std::chrono::milliseconds{5000};
constexpr size_t frame_head = 5;  // status byte + 4-byte length

/// What the script answered for one record so far.
struct answer {
  bool complete = false;
  bool failed = false;  ///< framed: status 1
  std::string result;
  std::string problem;  ///< non-empty: a protocol error
};

answer parse_line(const std::string& out, size_t cap) {
  answer a;
  auto nl = out.find('\n');
  if ((nl == std::string::npos ? out.size() : nl) > cap)
    a.problem = "script result line over " + std::to_string(cap) + " bytes";
  else if (nl != std::string::npos && out.size() > nl + 1)
    a.problem =
        "script wrote more than one line for one record (the lines protocol wants "
        "exactly one result line per record)";
  else if (nl != std::string::npos)
    a.complete = true, a.result = out.substr(0, nl);
  return a;
}

uint32_t read_be32(const char* p) {
  auto b = [p](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

answer parse_frame(const std::string& out, size_t cap) {
  answer a;
  if (out.size() < frame_head) return a;
  auto status = static_cast<unsigned char>(out[0]);
  auto size = read_be32(out.data() + 1);
  if (status > 1)
    a.problem = "script wrote a frame with status byte " + std::to_string(status) +
                " (the framed protocol wants 0: ok or 1: failed)";
  else if (size > cap)
    a.problem = "script result frame of " + std::to_string(size) + " bytes over the " +
                std::to_string(cap) + "-byte cap";
  else if (out.size() > frame_head + size)
    a.problem =
        "script wrote more than one frame for one record (the framed protocol wants "
        "exactly one result frame per record)";
  else if (out.size() == frame_head + size)
    a.complete = true, a.failed = status == 1, a.result = out.substr(frame_head);
  return a;
}

/// Wipes a buffer that held a record or its result.
void wipe(std::string& s) {
  if (!s.empty()) ::explicit_bzero(s.data(), s.size());
  s.clear();
}

/// Reads what `fd` holds now into `into`, stopping once it holds more than `cap` bytes (the
/// caller's parse then fails the record); false at EOF or on an error.
bool read_ready(int fd, std::string& into, size_t cap) {
  char buf[io_chunk];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      if (into.size() > cap) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    ::explicit_bzero(buf, sizeof(buf));
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  ::explicit_bzero(buf, sizeof(buf));
  return true;
}

}  // namespace

script_process::script_process(std::shared_ptr<const memory_script> script,
                               script_protocol protocol)
    : script_(std::move(script)), protocol_(protocol) {}

script_process::~script_process() {
  kill_and_reap();
}

int script_process::kill_and_reap() {
  if (child_.pid < 0) return 0;
  ::kill(-child_.pid, SIGKILL);
  auto status = reap(child_.pid);
  child_ = sandboxed_child{};
  return status ? *status : 0;
}

caf::error script_process::restart_after(errc code, std::string text) {
  kill_and_reap();
  return make_error(code, std::move(text) + "; the script is started again for the next record");
}

caf::error script_process::died(std::string err, const exec_limits& limits) {
  // The group's leftovers go too, and the process is reaped.
  auto status = kill_and_reap();
  auto text = exit_text(status) + " while a record was in flight";
  auto tail = error_text(std::move(err), limits.max_error_text);
  if (!tail.empty()) text += ": " + tail;
  note_death(text);
  return make_error(errc::job_failed, std::move(text));
}

void script_process::note_death(std::string text) {
  last_death_ = std::move(text);
  auto delay =
      std::min<clock_type::duration>(max_backoff, first_backoff * (1 << std::min(deaths_, 6)));
  ++deaths_;
  restart_at_ = clock_type::now() + delay;
}

caf::error script_process::wait_for_restart(const exec_limits& limits) {
  for (;;) {
    auto now = clock_type::now();
    if (now >= restart_at_) return caf::none;
    if (limits.stop_requested && limits.stop_requested())
      return make_error(errc::timeout, "script stopped");
    if (restart_at_ > limits.deadline)
      return make_error(errc::job_failed,
                        "the script keeps dying and is not started again "
                        "before this record's deadline; last time: " +
                            last_death_);
    std::this_thread::sleep_for(std::min<clock_type::duration>(poll_interval, restart_at_ - now));
  }
}

caf::error script_process::ensure_started(const exec_limits& limits) {
  if (child_.pid >= 0 && has_exited(child_.pid)) {
    // It exited between records: a clean exit restarts at once, a failure with backoff.
    auto status = kill_and_reap();
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      note_death(exit_text(status) + " between records");
  }
  if (child_.pid >= 0) return caf::none;
  if (auto err = wait_for_restart(limits)) return err;
  auto child = spawn_sandboxed(*script_, limits.interpreter, to_string(protocol_));
  ++starts_;
  if (!child) {
    note_death(render(child.error()));
    return child.error();
  }
  child_ = std::move(*child);
  return caf::none;
}

caf::expected<std::string> script_process::run(std::string_view record, const exec_limits& limits) {
  if (clock_type::now() >= limits.deadline)
    return make_error(errc::timeout, "script timed out after 0 s (deadline already passed)");
  std::string request;
  if (protocol_ == script_protocol::lines) {
    if (record.find('\n') != std::string_view::npos)
      return make_error(errc::job_failed,
                        "the record holds a newline, which the lines protocol "
                        "cannot send (use script_protocol framed)");
    request.reserve(record.size() + 1);
    request.append(record).push_back('\n');
  } else {
    if (record.size() > UINT32_MAX)
      return make_error(errc::job_failed, "the record is over 4 GiB, more than a frame holds");
    auto n = static_cast<uint32_t>(record.size());
    char head[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
    request.reserve(record.size() + 4);
    request.append(head, 4).append(record);
  }
  if (auto err = ensure_started(limits)) {
    wipe(request);
    return err;
  }
  auto result = exchange(request, limits);
  wipe(request);
  return result;
}

caf::expected<std::string> script_process::exchange(const std::string& request,
                                                    const exec_limits& limits) {
  const auto started = clock_type::now();
  std::string out, err;
  // What the script wrote since the last record: stderr is dropped, stdout is an error.
  drain_into(child_.err.get(), err, 0);
  err.clear();
  bool out_open = read_ready(child_.out.get(), out, 0);
  if (!out.empty()) {
    wipe(out);
    return restart_after(errc::job_failed,
                         "script wrote output between records (more than one "
                         "result for the record before?)");
  }
  const size_t out_cap = limits.max_output + frame_head;
  sigpipe_guard pipe_guard;
  size_t written = 0;
  bool in_open = true, err_open = true;
  for (;;) {
    auto now = clock_type::now();
    if (limits.stop_requested && limits.stop_requested())
      return wipe(out), restart_after(errc::timeout, "script stopped");
    if (now >= limits.deadline)
      return wipe(out),
             restart_after(errc::timeout, "script timed out after " + seconds_text(now - started) +
                                              (out.empty() ? " s without a result for the record"
                                                           : " s in the middle of its result"));
    pollfd fds[4];
    nfds_t count = 0;
    bool want_in = in_open && written < request.size();
    if (want_in) fds[count++] = pollfd{child_.in.get(), POLLOUT, 0};
    if (out_open) fds[count++] = pollfd{child_.out.get(), POLLIN, 0};
    if (err_open) fds[count++] = pollfd{child_.err.get(), POLLIN, 0};
    if (child_.pidfd) fds[count++] = pollfd{child_.pidfd.get(), POLLIN, 0};
    auto until = std::min(now + clock_type::duration{poll_interval}, limits.deadline);
    auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    int ready = ::poll(fds, count, static_cast<int>(std::max<decltype(wait_ms)>(wait_ms, 0)));
    if (ready < 0 && errno != EINTR)
      return wipe(out), restart_after(errc::io_error, "poll failed: " + describe(errno));
    if (want_in) {
      auto n = ::write(child_.in.get(), request.data() + written,
                       std::min(io_chunk, request.size() - written));
      if (n >= 0) {
        written += static_cast<size_t>(n);
      } else if (errno == EPIPE) {
        pipe_guard.consume();
        in_open = false;  // it closed its stdin: it answers or exits
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return wipe(out), restart_after(errc::io_error,
                                        "could not write the script's input: " + describe(errno));
      }
    }
    if (err_open) err_open = drain_into(child_.err.get(), err, limits.max_error_text);
    if (out_open) out_open = read_ready(child_.out.get(), out, out_cap);
    auto all_written = written == request.size();
    if (auto settled = settle(out, err, all_written, limits)) return std::move(*settled);
    bool exited = !out_open || (!child_.pidfd && has_exited(child_.pid));
    if (!exited && child_.pidfd) {
      pollfd p{child_.pidfd.get(), POLLIN, 0};
      exited = ::poll(&p, 1, 0) == 1;
    }
    if (exited) {
      read_ready(child_.out.get(), out, out_cap);  // what it wrote just before it went
      if (auto settled = settle(out, err, all_written, limits)) return std::move(*settled);
      wipe(out);
      drain_into(child_.err.get(), err, limits.max_error_text);
      return died(std::move(err), limits);
    }
  }
}

std::optional<caf::expected<std::string>> script_process::settle(std::string& out, std::string& err,
                                                                 bool all_written,
                                                                 const exec_limits& limits) {
  auto a = protocol_ == script_protocol::lines ? parse_line(out, limits.max_output)
                                               : parse_frame(out, limits.max_output);
  if (!a.problem.empty()) {
    wipe(out);
    return caf::expected<std::string>{restart_after(errc::job_failed, a.problem)};
  }
  if (!a.complete) return std::nullopt;
  wipe(out);
  if (!all_written) {
    wipe(a.result);
    return caf::expected<std::string>{
        restart_after(errc::job_failed, "script answered before it read its whole record")};
  }
  deaths_ = 0;
  if (!a.failed) return caf::expected<std::string>{std::move(a.result)};
  drain_into(child_.err.get(), err, limits.max_error_text);
  auto text =
      error_text(a.result.empty() ? std::move(err) : std::move(a.result), limits.max_error_text);
  return caf::expected<std::string>{
      make_error(errc::job_failed, "script failed the record" + (text.empty() ? "" : ": " + text))};
}

}  // namespace pqrt
