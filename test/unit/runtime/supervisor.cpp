// runtime/supervisor: restarts, escalation and ordered shutdown, on CAF's deterministic scheduler.
#include "runtime/supervisor.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"

#include "caf_doctest.hpp"

using namespace std::chrono_literals;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using events = std::shared_ptr<std::vector<std::string>>;

namespace {

/// A child that records quiet and termination, and throws on `crash_atom`.
caf::behavior test_child(caf::event_based_actor* self, std::string name, events log) {
  self->attach_functor([=](const caf::error&) { log->push_back("stop:" + name); });
  return {
      [=](pqrt::quiet_atom) { log->push_back("quiet:" + name); },
      [=](crash_atom) { throw std::runtime_error("boom in " + name); },
      [=](caf::ok_atom) { self->quit(); },  // finished its work: a normal exit
  };
}

/// A child that ignores requests to stop (traps exits and keeps running).
caf::behavior stubborn_child(caf::event_based_actor* self) {
  self->set_exit_handler([](caf::exit_msg&) {});
  return {[](pqrt::quiet_atom) {}};
}

pqrt::child_spec spec(const std::string& name, events log,
                      pqrt::restart_policy policy = pqrt::restart_policy::permanent) {
  return {name, policy, [=](caf::actor_system& sys) { return sys.spawn(test_child, name, log); }};
}

struct fixture : test_coordinator_fixture<> {
  events log = std::make_shared<std::vector<std::string>>();
  caf::actor sup;

  void start(std::vector<pqrt::child_spec> children, pqrt::restart_budget budget = {}) {
    sup = pqrt::spawn_supervisor(sys, "test", std::move(children), budget);
    self->monitor(sup);
    sched.run();
  }

  caf::actor which(const std::string& name) {
    caf::actor result;
    self->send(sup, pqrt::which_atom::value, name);
    sched.run();
    self->receive([&](caf::actor& a) { result = a; }, [&](caf::error&) {});
    return result;
  }

  void crash(const std::string& name) {
    self->send(which(name), crash_atom::value);
    sched.run();
  }

  caf::error supervisor_down_reason() {
    caf::error reason;
    self->receive([&](caf::down_msg& dm) { reason = dm.reason; });
    return reason;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a child that throws is restarted one-for-one") {
  start({spec("a", log), spec("b", log)});
  auto a1 = which("a");
  auto b1 = which("b");
  REQUIRE(a1);
  crash("a");
  auto a2 = which("a");
  REQUIRE(a2);
  CHECK(a2 != a1);
  CHECK(which("b") == b1);  // the sibling is untouched
}

TEST_CASE_FIXTURE(fixture, "a child that keeps failing escalates") {
  start({spec("a", log), spec("b", log)}, pqrt::restart_budget{2, 60s});
  crash("a");
  crash("a");
  CHECK(which("a"));
  crash("a");  // third failure within the window: over budget
  auto reason = supervisor_down_reason();
  CHECK(pqrt::is(reason, pqrt::errc::restart_limit));
  CHECK(pqrt::render(reason).find("'a'") != std::string::npos);
  CHECK(std::count(log->begin(), log->end(), "stop:b") == 1);  // siblings go down with it
}

TEST_CASE_FIXTURE(fixture, "restarts older than the window do not count") {
  start({spec("a", log)}, pqrt::restart_budget{2, 60s});
  crash("a");
  crash("a");
  sched.advance_time(61s);
  crash("a");
  crash("a");
  CHECK(which("a"));
}

TEST_CASE_FIXTURE(fixture, "shutdown quiets every child, then stops them in reverse start order") {
  start({spec("a", log), spec("b", log), spec("c", log)});
  self->send(sup, pqrt::shutdown_atom::value, caf::timespan{5s});
  sched.run();
  std::vector<std::string> expected{"quiet:a", "quiet:b", "quiet:c", "stop:c", "stop:b", "stop:a"};
  CHECK(*log == expected);
  CHECK(!supervisor_down_reason());  // a clean shutdown is a normal exit
}

TEST_CASE_FIXTURE(fixture, "a child that outlives the grace period is killed at the deadline") {
  start({spec("a", log), {"stubborn", pqrt::restart_policy::permanent, [](caf::actor_system& sys) {
                            return sys.spawn(stubborn_child);
                          }}});
  self->send(sup, pqrt::shutdown_atom::value, caf::timespan{2s});
  sched.run();
  CHECK(log->empty() == false);                                // a was quieted
  CHECK(std::count(log->begin(), log->end(), "stop:a") == 0);  // still waiting on stubborn
  sched.advance_time(2s);
  sched.run();
  CHECK(pqrt::is(supervisor_down_reason(), pqrt::errc::timeout));
  CHECK(std::count(log->begin(), log->end(), "stop:a") == 1);
}

TEST_CASE_FIXTURE(fixture, "a transient child that ends normally is not restarted") {
  start({spec("a", log, pqrt::restart_policy::transient), spec("b", log)});
  self->send(which("a"), caf::ok_atom::value);
  sched.run();
  CHECK(!which("a"));
  CHECK(which("b"));
}

TEST_CASE_FIXTURE(fixture, "when the work is done, temporary helpers are stopped and it ends") {
  start({spec("work", log, pqrt::restart_policy::transient),
         spec("helper", log, pqrt::restart_policy::temporary)});
  self->send(which("work"), caf::ok_atom::value);
  sched.run();
  CHECK(std::count(log->begin(), log->end(), "stop:helper") == 1);
  CHECK(!supervisor_down_reason());
}

TEST_CASE_FIXTURE(fixture,
                  "a helper is restarted when it fails, and stopped once the work is done") {
  auto helper = spec("helper", log);
  helper.helper = true;
  start({spec("work", log, pqrt::restart_policy::transient), helper});
  crash("helper");  // permanent: restarted, though it keeps nothing going on its own
  REQUIRE(which("helper"));
  CHECK(std::count(log->begin(), log->end(), "stop:helper") == 1);
  self->send(which("work"), caf::ok_atom::value);
  sched.run();
  CHECK(std::count(log->begin(), log->end(), "quiet:helper") == 1);
  CHECK(std::count(log->begin(), log->end(), "stop:helper") == 2);
  CHECK(!supervisor_down_reason());
}
