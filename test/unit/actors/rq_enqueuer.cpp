// actors/rq_enqueuer: the run's hash, batches of jobs added once, and the end of the enqueue
// pass; on CAF's deterministic scheduler with the in-memory job store.
#include "actors/rq_enqueuer.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "fakes.hpp"
#include "memory_store.hpp"

#include "caf_doctest.hpp"

namespace {

using pqrt::test::memory_redis;

caf::behavior event_sink(caf::event_based_actor*, std::shared_ptr<std::vector<std::string>> got) {
  return {[=](pqrt::event_atom, const std::string& json) { got->push_back(json); }};
}

pqrt::transport::job_spec spec(const std::string& id) {
  pqrt::transport::job_spec s;
  s.id = id;
  s.queue = "runq";
  return s;
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<memory_redis> redis = std::make_shared<memory_redis>();
  std::shared_ptr<std::vector<std::string>> events = std::make_shared<std::vector<std::string>>();
  caf::actor enqueuer;
  caf::actor writer;
  std::shared_ptr<pqrt::pipeline_settings> ps = std::make_shared<pqrt::pipeline_settings>();

  fixture() {
    pqrt::worker_settings ws;
    ws.make_store = pqrt::test::memory_store_factory(redis);
    ps->run_id = "r1";
    ps->queue = "runq";
    ps->processor = "sha256";
    ps->records_per_job = 16;
    ps->data_blob = "data.enc";
    ps->results_container = "results";
    enqueuer = pqrt::spawn_rq_enqueuer(sys, ws, ps, pqrt::spawn_mode::scheduled);
    writer = sys.spawn(event_sink, events);
    self->send(enqueuer, pqrt::wire_atom::value, std::string{"status_writer"}, writer);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {enqueuer, writer})
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts... xs) {
    return pqrt::test::ask<T>(
        sys, [this] { sched.run(); }, enqueuer, xs...);
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "hello describes the run once; another data set for it is refused") {
  auto per_job = ask<uint64_t>(pqrt::hello_atom::value, std::string{"ds"}, std::string{"kc"});
  REQUIRE(per_job);
  CHECK(*per_job == 16);
  auto& run = redis->runs["r1"];
  CHECK(run["records_per_job"] == "16");
  CHECK(run["dataset"] == "ds");
  CHECK(run["queue"] == "runq");
  CHECK(run["processor"] == "sha256");
  CHECK(run["key_check"] == "kc");
  CHECK(run["state"] == "enqueuing");
  auto created = run["created_at"];
  CHECK_FALSE(created.empty());
  // A second scheduler for the same run and data set: the run is kept as it was created, and
  // so are its jobs' cut, whatever this scheduler's records_per_job says.
  ps->records_per_job = 1;
  auto again = ask<uint64_t>(pqrt::hello_atom::value, std::string{"ds"}, std::string{"kc"});
  REQUIRE(again);
  CHECK(*again == 16);
  CHECK(redis->runs["r1"]["created_at"] == created);
  // A run enqueued before records_per_job existed has one record per job.
  redis->runs["r1"].erase("records_per_job");
  auto old = ask<uint64_t>(pqrt::hello_atom::value, std::string{"ds"}, std::string{"kc"});
  REQUIRE(old);
  CHECK(*old == 1);
  auto other = ask<uint64_t>(pqrt::hello_atom::value, std::string{"other"}, std::string{"kc"});
  REQUIRE_FALSE(other);
  CHECK(caf::to_string(other.error()).find("choose another run id") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a batch sent twice adds its jobs once") {
  std::vector<pqrt::transport::job_spec> batch{spec("r1:0"), spec("r1:1")};
  auto first = ask<size_t>(pqrt::jobs_atom::value, batch);
  REQUIRE(first);
  CHECK(*first == 2);
  auto again = ask<size_t>(pqrt::jobs_atom::value, batch);
  REQUIRE(again);
  CHECK(*again == 0);
  CHECK(redis->queued("runq") == std::vector<std::string>{"r1:0", "r1:1"});
}

TEST_CASE_FIXTURE(fixture, "done records the total, starts the run and tells the status writer") {
  REQUIRE(ask<uint64_t>(pqrt::hello_atom::value, std::string{"ds"}, std::string{"kc"}));
  REQUIRE(ask<caf::ok_atom>(pqrt::done_atom::value, uint64_t{2}, uint64_t{2}));
  CHECK(redis->runs["r1"]["total"] == "2");
  CHECK(redis->runs["r1"]["state"] == "running");
  REQUIRE(events->size() == 1);
  CHECK(events->front().find("\"event\":\"jobs_queued\"") != std::string::npos);
  CHECK(events->front().find("\"total\":2") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a store that fails is an error to the caller, not a lost batch") {
  redis->fail_calls = 1;
  auto failed =
      ask<size_t>(pqrt::jobs_atom::value, std::vector<pqrt::transport::job_spec>{spec("a")});
  CHECK_FALSE(failed);
  CHECK(redis->queued("runq").empty());
  auto retried =
      ask<size_t>(pqrt::jobs_atom::value, std::vector<pqrt::transport::job_spec>{spec("a")});
  REQUIRE(retried);
  CHECK(*retried == 1);
}
