// runtime/shutdown: real signals, delivered to this process, drive a real actor tree.
#include "runtime/shutdown.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <doctest/doctest.h>

#include "actors/protocol.hpp"

using namespace std::chrono_literals;

namespace {

struct shared_log {
  std::mutex mtx;
  std::vector<std::string> lines;
  void add(std::string line) {
    std::lock_guard<std::mutex> guard{mtx};
    lines.push_back(std::move(line));
  }
};

pqrt::child_spec recording_child(const std::string& name, std::shared_ptr<shared_log> log) {
  return {name, pqrt::restart_policy::permanent, [=](caf::actor_system& sys) {
            return sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
              // Recorded before the child terminates, so before its supervisor hears of it.
              self->set_exit_handler([=](caf::exit_msg& em) {
                log->add("stop:" + name);
                self->quit(em.reason);
              });
              return {[=](pqrt::quiet_atom) { log->add("quiet:" + name); }};
            });
          }};
}

pqrt::child_spec stubborn_child() {
  return {"stubborn", pqrt::restart_policy::permanent, [](caf::actor_system& sys) {
            return sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
              self->set_exit_handler([](caf::exit_msg&) {});
              return {[](pqrt::quiet_atom) {}};
            });
          }};
}

/// Sends `count` SIGTERMs to this process, the first after `delay`.
std::thread send_sigterm(int count, std::chrono::milliseconds delay) {
  return std::thread([=] {
    std::this_thread::sleep_for(delay);
    for (int i = 0; i < count; ++i) {
      ::kill(::getpid(), SIGTERM);
      std::this_thread::sleep_for(200ms);
    }
  });
}

}  // namespace

TEST_CASE("SIGTERM shuts the tree down in reverse start order and exits 0") {
  pqrt::block_shutdown_signals();
  auto log = std::make_shared<shared_log>();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto signaller = send_sigterm(1, 300ms);
  auto code = pqrt::run_tree(sys, "test", {recording_child("a", log), recording_child("b", log)},
                             {}, caf::timespan{5s});
  signaller.join();
  CHECK(code == pqrt::exit_ok);
  // Children run concurrently, so only these orders are promised: every child is quieted before
  // it is stopped, and the stops run in reverse start order.
  auto& lines = log->lines;
  auto at = [&](const std::string& event) {
    return std::find(lines.begin(), lines.end(), event) - lines.begin();
  };
  std::string got;
  for (auto& line : lines)
    got += line + " ";
  INFO("events: ", got);
  REQUIRE(lines.size() == 4);
  CHECK(at("quiet:a") < at("stop:a"));
  CHECK(at("quiet:b") < at("stop:b"));
  CHECK(at("stop:b") < at("stop:a"));
}

TEST_CASE("a second SIGTERM hard-stops a tree that does not stop") {
  pqrt::block_shutdown_signals();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto signaller = send_sigterm(2, 300ms);
  auto code = pqrt::run_tree(sys, "test", {stubborn_child()}, {}, caf::timespan{1h});
  signaller.join();
  CHECK(code == 128 + SIGTERM);
}

TEST_CASE("a grace period that runs out ends in a hard stop with a failure exit") {
  pqrt::block_shutdown_signals();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto signaller = send_sigterm(1, 300ms);
  auto code = pqrt::run_tree(sys, "test", {stubborn_child()}, {}, caf::timespan{300ms});
  signaller.join();
  CHECK(code == pqrt::exit_failure);
}
