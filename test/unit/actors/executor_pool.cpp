// actors/executor_pool in the worker's tree (status_writer, heartbeat, executor_pool, rq_fetcher,
// under the supervisor, wired as runtime/roles/worker.cpp wires them) on CAF's deterministic
// scheduler with the in-memory job store: jobs run to their outcomes, and a pool that crashes
// while it holds reserved jobs of the live worker leaves none of them unaccounted for.
#include "actors/executor_pool.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/heartbeat.hpp"
#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "actors/rq_fetcher.hpp"
#include "actors/status_writer.hpp"
#include "memory_store.hpp"
#include "runtime/base/error.hpp"
#include "runtime/supervisor.hpp"

#include "caf_doctest.hpp"

namespace {

namespace p = pqrt::peer_names;

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<pqrt::test::memory_redis> redis = std::make_shared<pqrt::test::memory_redis>();
  pqrt::worker_settings ws;
  caf::actor root;
  static constexpr int jobs = 12;

  fixture() {
    ws.identity = {"w1", {"default"}, "host", 1};
    ws.concurrency = 2;
    ws.burst = true;  // the tree ends once the queue is empty and every outcome is recorded
    ws.make_store = pqrt::test::memory_store_factory(redis);
    ws.executors = pqrt::spawn_mode::scheduled;
    std::vector<pqrt::transport::job_spec> specs;
    for (int i = 0; i < jobs; ++i) {
      pqrt::transport::job_spec spec;
      spec.id = "job-" + std::to_string(i);
      spec.call = {"pqrt.echo",
                   pqrt::transport::py_value{},
                   pqrt::transport::py_value::tuple({pqrt::transport::py_value{spec.id}}),
                   {}};
      specs.push_back(spec);
    }
    auto store = ws.make_store({});
    REQUIRE(store->enqueue(specs));
    REQUIRE_FALSE(store->register_worker(ws.identity));
  }

  ~fixture() {
    if (root) caf::anon_send_exit(root, caf::exit_reason::kill);
    sched.run();
  }

  void start() {
    auto s = ws;
    auto mode = pqrt::spawn_mode::scheduled;
    using policy = pqrt::restart_policy;
    std::vector<pqrt::child_spec> tree{
        {p::status_writer,
         policy::transient,
         [=](caf::actor_system& sys) { return pqrt::spawn_status_writer(sys, s, mode); },
         {p::executor_pool}},
        {p::heartbeat, policy::transient,
         [=](caf::actor_system& sys) { return pqrt::spawn_heartbeat(sys, s, mode); }},
        {p::executor_pool,
         policy::transient,
         [=](caf::actor_system& sys) { return pqrt::spawn_executor_pool(sys, s); },
         {p::rq_fetcher, p::status_writer, p::heartbeat}},
        {p::rq_fetcher,
         policy::transient,
         [=](caf::actor_system& sys) { return pqrt::spawn_rq_fetcher(sys, s, mode); },
         {p::executor_pool}},
    };
    root = pqrt::spawn_supervisor(sys, "worker", std::move(tree), pqrt::restart_budget{});
    self->monitor(root);
  }

  /// Runs the scheduler until the tree has ended; its exit reason.
  caf::error run_to_end() {
    sched.run();
    caf::error reason = pqrt::make_error(pqrt::errc::timeout, "the tree did not end");
    self->receive([&](caf::down_msg& dm) { reason = dm.reason; },
                  caf::after(std::chrono::seconds{0}) >> [] {});
    return reason;
  }

  void check_all_finished_once() {
    CHECK(redis->held_by("w1").empty());
    CHECK(redis->queued("default").empty());
    CHECK(redis->recorded.size() == jobs);
    for (int i = 0; i < jobs; ++i)
      CHECK_MESSAGE(redis->status("job-" + std::to_string(i)) == "finished", "job-" << i);
    CHECK(redis->deregistrations == 1);
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "every job runs to one recorded outcome and the burst tree ends") {
  start();
  auto reason = run_to_end();
  CHECK_MESSAGE(!reason, caf::to_string(reason));
  check_all_finished_once();
}

TEST_CASE_FIXTURE(fixture, "a pool that crashes holding reserved jobs loses none of them") {
  start();
  // Step the tree until the pool holds two reserved jobs of this live worker.
  caf::actor pool;
  self->send(root, pqrt::which_atom::value, std::string{p::executor_pool});
  for (int step = 0; step < 100000 && (redis->held_by("w1").size() < 2 || !pool); ++step) {
    sched.run_once();
    self->receive([&](caf::actor& a) { pool = a; }, caf::after(std::chrono::seconds{0}) >> [] {});
  }
  REQUIRE(pool);
  REQUIRE(redis->held_by("w1").size() >= 2);
  REQUIRE(redis->recorded.size() + 2 <= jobs);  // mid-run: more to do after the crash
  // A kill cannot be trapped: the pool ends at once, as on a crash, with its jobs in hand.
  caf::anon_send_exit(pool, caf::exit_reason::kill);
  auto reason = run_to_end();
  CHECK_MESSAGE(!reason, caf::to_string(reason));
  check_all_finished_once();
}
