#include "runtime/shutdown.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// After a hard stop the process must end even if an actor is stuck in a blocking call.
constexpr auto hard_stop_limit = std::chrono::seconds{5};

}  // namespace

void block_shutdown_signals() {
  auto set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int wait_shutdown_signal(std::chrono::milliseconds wait) {
  auto set = shutdown_signals();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(wait);
  timespec ts{static_cast<time_t>(secs.count()),
              static_cast<long>(std::chrono::nanoseconds{wait - secs}.count())};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

signal_watcher::signal_watcher(caf::actor root, caf::timespan grace)
    : root_(std::move(root)), grace_(grace), thread_([this] { run(); }) {
  // nop
}

signal_watcher::~signal_watcher() {
  done_ = true;
  thread_.join();
}

void signal_watcher::run() {
  auto set = shutdown_signals();
  timespec tick{0, 100L * 1000 * 1000};
  std::chrono::steady_clock::time_point hard_stop_at{};
  while (!done_) {
    if (seen_ >= 2 && std::chrono::steady_clock::now() >= hard_stop_at) {
      log::error("shutdown", "hard stop did not end the process in time, exiting");
      std::_Exit(128 + last_);
    }
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig <= 0) continue;
    last_ = sig;
    if (++seen_ == 1) {
      log::info("shutdown", "signal received, shutting down", {{"signal", std::to_string(sig)}});
      caf::anon_send(root_, shutdown_atom::value, grace_);
    } else {
      log::warn("shutdown", "second signal, hard stop", {{"signal", std::to_string(sig)}});
      hard_stop_at = std::chrono::steady_clock::now() + hard_stop_limit;
      caf::anon_send(root_, hard_stop_atom::value);
    }
  }
}

int run_tree(caf::actor_system& sys, const std::string& role, std::vector<child_spec> children,
             restart_budget budget, caf::timespan grace,
             const std::function<void(const caf::actor&)>& on_start) {
  // An actor that ends the role's work (a finished run) has it wired as its `supervisor` peer.
  auto root = spawn_supervisor(sys, role, std::move(children), budget);
  caf::error reason;
  int signals = 0;
  int last_signal = 0;
  {
    signal_watcher watcher{root, grace};
    caf::scoped_actor self{sys, true};
    self->monitor(root);
    if (on_start) on_start(root);
    self->receive([&](caf::down_msg& dm) { reason = std::move(dm.reason); });
    signals = watcher.signals_seen();
    last_signal = watcher.last_signal();
  }
  // No watcher from here on: let a signal end a teardown that hangs.
  auto set = shutdown_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  if (signals >= 2) return 128 + last_signal;
  if (!reason) {
    log::info(role, "stopped");
    return exit_ok;
  }
  log::error(role, "failed", {{"error", render(reason)}});
  return exit_failure;
}

}  // namespace pqrt
