// actors/status_writer: outcomes recorded in the store in batches, settled back to the pool,
// kept and retried while the store is away; on CAF's deterministic scheduler.
#include "actors/status_writer.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "fakes.hpp"
#include "memory_store.hpp"
#include "transport/local_storage.hpp"

#include "caf_doctest.hpp"

namespace {

using pqrt::test::memory_redis;

/// A pool that keeps the ids it is told are settled.
caf::behavior settled_sink(caf::event_based_actor*,
                           std::shared_ptr<std::vector<std::string>> settled) {
  return {[=](pqrt::settled_atom, const std::vector<std::string>& ids) {
    settled->insert(settled->end(), ids.begin(), ids.end());
  }};
}

pqrt::transport::job_outcome outcome(const std::string& id, bool ok) {
  pqrt::transport::job_outcome o;
  o.id = id;
  o.ok = ok;
  if (!ok) o.error_text = "boom";
  return o;
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<memory_redis> redis = std::make_shared<memory_redis>();
  std::shared_ptr<std::vector<std::string>> settled = std::make_shared<std::vector<std::string>>();
  pqrt::worker_settings settings;
  caf::actor writer;
  caf::actor pool;

  fixture() {
    settings.identity = {"w1", {"default"}, "host", 1};
    settings.make_store = pqrt::test::memory_store_factory(redis);
    for (auto id : {"j1", "j2", "j3"})
      redis->add_job("default", id);
    bool suspended = false;
    REQUIRE(settings.make_store({})->reserve(settings.identity, 3, suspended));
    writer = pqrt::spawn_status_writer(sys, settings, pqrt::spawn_mode::scheduled);
    pool = sys.spawn(settled_sink, settled);
    self->send(writer, pqrt::wire_atom::value, std::string{"executor_pool"}, pool);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {writer, pool})
      if (a) caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "outcomes are recorded and settled back to the pool") {
  self->send(writer, pqrt::record_atom::value, outcome("j1", true));
  self->send(writer, pqrt::record_atom::value,
             std::vector<pqrt::transport::job_outcome>{outcome("j2", false), outcome("j3", true)});
  sched.run();
  CHECK(redis->status("j1") == "finished");
  CHECK(redis->status("j2") == "failed");
  CHECK(redis->status("j3") == "finished");
  CHECK(redis->held_by("w1").empty());
  CHECK(*settled == std::vector<std::string>{"j1", "j2", "j3"});
}

TEST_CASE_FIXTURE(fixture, "while the store is away outcomes are kept, not settled, and retried") {
  redis->fail_calls = 2;
  self->send(writer, pqrt::record_atom::value, outcome("j1", true));
  sched.run();
  CHECK(redis->status("j1") == "started");
  CHECK(settled->empty());  // the pool keeps the job: it is not recorded yet
  sched.trigger_timeouts();
  sched.run();
  sched.trigger_timeouts();
  sched.run();
  CHECK(redis->status("j1") == "finished");
  CHECK(*settled == std::vector<std::string>{"j1"});
  CHECK(redis->recorded.size() == 1);  // once, however many tries it took
}

TEST_CASE_FIXTURE(fixture, "a sync is answered once everything before it is recorded") {
  self->send(writer, pqrt::record_atom::value, outcome("j1", true));
  bool answered = false;
  auto client = sys.spawn([&](caf::event_based_actor* a) {
    a->request(writer, caf::infinite, pqrt::sync_atom::value).then([&](caf::ok_atom) {
      answered = redis->status("j1") == "finished";
    });
  });
  sched.run();
  CHECK(answered);
}

TEST_CASE_FIXTURE(fixture, "an outcome for a job this worker no longer holds is not recorded") {
  REQUIRE(settings.make_store({})->release(settings.identity, {"j2"}));
  self->send(writer, pqrt::record_atom::value, outcome("j2", true));
  sched.run();
  CHECK(redis->status("j2") == "queued");
  CHECK(redis->recorded.empty());
  CHECK(*settled == std::vector<std::string>{"j2"});  // settled all the same: the pool lets go
}

TEST_CASE_FIXTURE(fixture, "status records go to the status queue as JSON, texts escaped") {
  pqrt::test::temp_dir dir{"status-writer"};
  auto ps = std::make_shared<pqrt::pipeline_settings>();
  ps->status_queue = "status";
  ps->make_queues =
      [root = dir.path]() -> caf::expected<std::unique_ptr<pqrt::transport::queue_store>> {
    return pqrt::transport::make_local_queue_store(root);
  };
  auto with_queue = settings;
  with_queue.pipeline = ps;
  auto second = pqrt::spawn_status_writer(sys, with_queue, pqrt::spawn_mode::scheduled);
  auto o = outcome("j1", false);
  o.error_text = "say \"hi\"\nbye";
  self->send(second, pqrt::record_atom::value, o);
  sched.run();
  auto got = pqrt::transport::make_local_queue_store(dir.path)->peek("status", 8);
  REQUIRE(got);
  REQUIRE(got->size() == 1);
  const auto& text = got->front().text;
  CHECK(text.rfind("{\"type\":\"job_status\",\"records\":[{\"job_id\":\"j1\",\"state\":\"failed\"",
                   0) == 0);
  CHECK(text.find("\"error\":\"say \\\"hi\\\"\\nbye\"") != std::string::npos);
  caf::anon_send_exit(second, caf::exit_reason::kill);
  sched.run();
}
