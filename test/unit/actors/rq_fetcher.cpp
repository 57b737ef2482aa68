// actors/rq_fetcher: credit-driven reserving, hand-over to the pool, and the jobs of an ended pool
// going back to their queues; on CAF's deterministic scheduler with the in-memory store.
#include "actors/rq_fetcher.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "memory_store.hpp"

#include "caf_doctest.hpp"

namespace {

using pqrt::test::memory_redis;

/// What the stand-in pool saw.
struct pool_log {
  std::vector<std::string> jobs;
  bool drained = false;
};

/// A pool that grants `credits` when greeted and keeps every job it is given.
caf::behavior fake_pool(caf::event_based_actor*, size_t credits, std::shared_ptr<pool_log> log) {
  return {
      [=](pqrt::hello_atom) { return caf::make_message(credits, std::vector<std::string>{}); },
      [=](pqrt::job_atom, const pqrt::transport::rq_job& job) { log->jobs.push_back(job.id); },
      [=](pqrt::drained_atom) { log->drained = true; },
  };
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<memory_redis> redis = std::make_shared<memory_redis>();
  std::shared_ptr<pool_log> seen = std::make_shared<pool_log>();
  pqrt::worker_settings settings;
  caf::actor fetcher;
  caf::actor pool;

  fixture() {
    settings.identity = {"w1", {"high", "low"}, "host", 1};
    settings.burst = true;  // an empty queue ends the fetcher instead of waiting
    settings.make_store = pqrt::test::memory_store_factory(redis);
  }

  void start(size_t credits) {
    fetcher = pqrt::spawn_rq_fetcher(sys, settings, pqrt::spawn_mode::scheduled);
    pool = sys.spawn(fake_pool, credits, seen);
    self->send(fetcher, pqrt::wire_atom::value, std::string{"executor_pool"}, pool);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {fetcher, pool})
      if (a) caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "reserves no more jobs than the pool has credit for, in queue order") {
  for (auto id : {"l1", "l2"})
    redis->add_job("low", id);
  for (auto id : {"h1", "h2"})
    redis->add_job("high", id);
  start(3);
  CHECK(seen->jobs == std::vector<std::string>{"h1", "h2", "l1"});
  CHECK(redis->held_by("w1") == std::vector<std::string>{"h1", "h2", "l1"});
  CHECK(redis->queued("low") == std::vector<std::string>{"l2"});
  CHECK_FALSE(seen->drained);  // no credit left: it waits for more instead of looking further
  self->send(fetcher, pqrt::credit_atom::value, size_t{5});
  sched.run();
  CHECK(seen->jobs.back() == "l2");
  CHECK(seen->drained);  // burst: the queues are empty, the pool is told
}

TEST_CASE_FIXTURE(fixture, "the jobs an ended pool held go back to the front of their queues") {
  for (auto id : {"a", "b", "c", "d"})
    redis->add_job("high", id);
  start(2);
  REQUIRE(redis->held_by("w1") == std::vector<std::string>{"a", "b"});
  // The status writer records "a" and the pool settles it; then the pool crashes holding "b".
  pqrt::transport::job_outcome done;
  done.id = "a";
  done.ok = true;
  REQUIRE_FALSE(settings.make_store({})->record(settings.identity, {done}, nullptr));
  self->send(fetcher, pqrt::settled_atom::value, std::vector<std::string>{"a"});
  sched.run();
  caf::anon_send_exit(pool, caf::exit_reason::kill);
  sched.run();
  CHECK(redis->held_by("w1").empty());
  CHECK(redis->queued("high") == std::vector<std::string>{"b", "c", "d"});
  CHECK(redis->status("a") == "finished");
  CHECK(redis->status("b") == "queued");
}

TEST_CASE_FIXTURE(fixture, "a Redis that fails a reserve is tried again, losing nothing") {
  redis->add_job("high", "x");
  redis->fail_calls = 1;
  start(1);
  CHECK(seen->jobs.empty());
  sched.trigger_timeouts();  // the pause after the failure
  sched.run();
  CHECK(seen->jobs == std::vector<std::string>{"x"});
  CHECK(redis->held_by("w1") == std::vector<std::string>{"x"});
}

TEST_CASE_FIXTURE(fixture, "handing back is retried while the store is away") {
  redis->add_job("high", "j");
  start(1);
  REQUIRE(redis->held_by("w1") == std::vector<std::string>{"j"});
  redis->fail_calls = 1;  // the release right after the pool's end fails
  caf::anon_send_exit(pool, caf::exit_reason::kill);
  sched.run();
  CHECK(redis->held_by("w1") == std::vector<std::string>{"j"});
  // A new pool is wired: the next poll gives the job back first, then reserves it anew.
  auto next = sys.spawn(fake_pool, size_t{1}, seen);
  self->send(fetcher, pqrt::wire_atom::value, std::string{"executor_pool"}, next);
  sched.run();
  sched.trigger_timeouts();
  sched.run();
  CHECK(seen->jobs == std::vector<std::string>{"j", "j"});
  CHECK(redis->held_by("w1") == std::vector<std::string>{"j"});
  CHECK(redis->queued("high").empty());
}
