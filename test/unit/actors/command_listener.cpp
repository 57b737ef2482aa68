// actors/command_listener: RQ's commands for this worker, as rq.command.send_* publishes them:
// stop-job and kill-horse reach the running jobs (job_control), anything else is ignored, and a
// lost subscription is made again. On CAF's deterministic scheduler with the in-memory store's
// command feed. (shutdown raises SIGTERM in this process: the shutdown suites cover it.)
#include "actors/command_listener.hpp"

#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "memory_store.hpp"
#include "runtime/jobs/builtins.hpp"

#include "caf_doctest.hpp"

namespace {

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<pqrt::test::memory_redis> redis = std::make_shared<pqrt::test::memory_redis>();
  pqrt::worker_settings ws;
  caf::actor listener;

  fixture() {
    ws.identity = {"w1", {"default"}, "host", 1};
    ws.make_store = pqrt::test::memory_store_factory(redis);
  }

  ~fixture() {
    if (listener) caf::anon_send_exit(listener, caf::exit_reason::kill);
    sched.run();
    pqrt::job_control::end("running-1");
    pqrt::job_control::end("running-2");
  }

  /// Lets the listener poll a few times (it polls for ever: the scheduler is never idle).
  void poll(int times = 10) {
    for (int i = 0; i < times; ++i)
      if (!sched.try_run_once()) break;
  }

  void start() {
    listener = pqrt::spawn_command_listener(sys, ws, pqrt::spawn_mode::scheduled);
    poll();
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "stop-job stops that job only") {
  pqrt::job_control::begin("running-1");
  pqrt::job_control::begin("running-2");
  start();
  redis->commands["w1"].push_back(R"({"command": "stop-job", "job_id": "running-1"})");
  poll();
  CHECK(pqrt::job_control::stop_requested("running-1"));
  CHECK_FALSE(pqrt::job_control::stop_requested("running-2"));
  CHECK_FALSE(pqrt::job_control::killed("running-1"));
}

TEST_CASE_FIXTURE(fixture, "kill-horse ends every running job as killed") {
  pqrt::job_control::begin("running-1");
  pqrt::job_control::begin("running-2");
  start();
  redis->commands["w1"].push_back(R"({"command": "kill-horse"})");
  poll();
  CHECK(pqrt::job_control::killed("running-1"));
  CHECK(pqrt::job_control::killed("running-2"));
}

TEST_CASE_FIXTURE(fixture, "unknown commands and payloads that are not JSON are ignored") {
  pqrt::job_control::begin("running-1");
  start();
  redis->commands["w1"].push_back("not json");
  redis->commands["w1"].push_back(R"({"command": "reboot"})");
  redis->commands["w1"].push_back(R"(["stop-job", "running-1"])");
  poll();
  CHECK(redis->commands["w1"].empty());  // all read
  CHECK_FALSE(pqrt::job_control::stop_requested("running-1"));
}

TEST_CASE_FIXTURE(fixture, "a subscription that cannot be made is tried again after a pause") {
  redis->fail_calls = 1;
  start();
  CHECK(redis->subscriptions == 0);
  sched.trigger_timeouts();
  poll();
  CHECK(redis->subscriptions == 1);
}
