// actors/heartbeat: liveness ticks, RQ's suspension, and deregistration (which hands back every
// job still reserved) at the end; on CAF's deterministic scheduler.
#include "actors/heartbeat.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "memory_store.hpp"

#include "caf_doctest.hpp"

namespace {

using pqrt::test::memory_redis;

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<memory_redis> redis = std::make_shared<memory_redis>();
  pqrt::worker_settings settings;
  caf::actor beat;

  fixture() {
    settings.identity = {"w1", {"default"}, "host", 1};
    settings.make_store = pqrt::test::memory_store_factory(redis);
    REQUIRE_FALSE(settings.make_store({})->register_worker(settings.identity));
    beat = pqrt::spawn_heartbeat(sys, settings, pqrt::spawn_mode::scheduled);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {beat})
      if (a) caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "beats at once and on every tick") {
  CHECK(redis->heartbeats == 1);
  sched.trigger_timeouts();
  sched.run();
  CHECK(redis->heartbeats == 2);
}

TEST_CASE_FIXTURE(fixture, "a suspension shows in the worker's state, and its end restores it") {
  self->send(beat, pqrt::state_atom::value, std::string{"busy"});
  sched.run();
  CHECK(redis->worker_state["w1"] == "busy");
  redis->suspended = true;
  sched.trigger_timeouts();
  sched.run();
  CHECK(redis->worker_state["w1"] == "suspended");
  self->send(beat, pqrt::state_atom::value, std::string{"idle"});  // kept for after
  sched.run();
  CHECK(redis->worker_state["w1"] == "suspended");
  redis->suspended = false;
  sched.trigger_timeouts();
  sched.run();
  CHECK(redis->worker_state["w1"] == "idle");
}

TEST_CASE_FIXTURE(fixture, "a failed beat is logged and the next tick beats again") {
  redis->fail_calls = 1;  // the beat itself
  sched.trigger_timeouts();
  sched.run();
  CHECK(redis->heartbeats == 1);  // that tick's beat failed
  CHECK(redis->calls == 5);       // and it went no further: 4 calls before, 1 failed
  sched.trigger_timeouts();
  sched.run();
  CHECK(redis->heartbeats == 2);
}

TEST_CASE_FIXTURE(fixture, "done and a stop both deregister, handing back what is reserved") {
  redis->add_job("default", "j");
  bool suspended = false;
  REQUIRE(settings.make_store({})->reserve(settings.identity, 1, suspended));
  caf::anon_send_exit(beat, caf::exit_reason::user_shutdown);
  sched.run();
  CHECK(redis->deregistrations == 1);
  CHECK(redis->workers.empty());
  CHECK(redis->queued("default") == std::vector<std::string>{"j"});
}
