// actors/result_writer: sealed results batched into one blob per run, in index order, their
// outcomes (naming the blob and its size) to status_writer only once written, and a failing
// storage retried; on CAF's deterministic scheduler with local storage in a temporary directory.
#include "actors/result_writer.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "fakes.hpp"
#include "runtime/base/error.hpp"
#include "transport/local_storage.hpp"

#include "caf_doctest.hpp"

namespace {

caf::behavior status_sink(caf::event_based_actor*,
                          std::shared_ptr<std::vector<pqrt::transport::job_outcome>> got) {
  return {[=](pqrt::record_atom, std::vector<pqrt::transport::job_outcome>& outcomes) {
    got->insert(got->end(), outcomes.begin(), outcomes.end());
  }};
}

struct fixture : test_coordinator_fixture<> {
  pqrt::test::temp_dir dir{"result-writer"};
  std::string root = dir.path;
  std::shared_ptr<int> store_failures = std::make_shared<int>(0);
  std::shared_ptr<std::vector<pqrt::transport::job_outcome>> recorded =
      std::make_shared<std::vector<pqrt::transport::job_outcome>>();
  caf::actor writer, status;

  fixture() {
    pqrt::worker_settings ws;
    ws.identity.name = "w1";
    auto ps = std::make_shared<pqrt::pipeline_settings>();
    ps->results_container = "results";
    ps->make_blobs = [root = root, failures = store_failures]()
        -> caf::expected<std::unique_ptr<pqrt::transport::blob_store>> {
      if (*failures > 0) {
        --*failures;
        return pqrt::make_error(pqrt::errc::unavailable, "storage away");
      }
      return pqrt::transport::make_local_blob_store(root);
    };
    writer = pqrt::spawn_result_writer(sys, ws, ps, pqrt::spawn_mode::scheduled);
    status = sys.spawn(status_sink, recorded);
    self->send(writer, pqrt::wire_atom::value, std::string{"status_writer"}, status);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {writer, status})
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  void give(const std::string& run, uint64_t index, const std::string& sealed) {
    pqrt::pending_result r;
    r.outcome.id = run + ":" + std::to_string(index);
    r.outcome.ok = true;
    r.run_id = run;
    r.records.push_back({index, {}, sealed});
    self->send(writer, pqrt::result_atom::value, std::move(r));
  }

  std::vector<pqrt::transport::blob_item> blobs(const std::string& prefix) {
    auto store = pqrt::transport::make_local_blob_store(root);
    auto items = store->list("results", prefix);
    REQUIRE(items);
    return *items;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a batch becomes one blob per run, in index order, then is recorded") {
  give("runA", 2, "sealed-a2");
  give("runB", 0, "sealed-b0");
  give("runA", 1, "sealed-a1");
  sched.run();
  CHECK(recorded->empty());  // held for the batch delay
  sched.trigger_timeouts();
  sched.run();
  auto a = blobs("runA/results/");
  auto b = blobs("runB/results/");
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  auto body = pqrt::transport::make_local_blob_store(root)->get("results", a[0].name);
  REQUIRE(body);
  CHECK(*body == "sealed-a1\nsealed-a2\n");
  REQUIRE(recorded->size() == 3);
  for (const auto& o : *recorded) {
    auto expected = o.id.rfind("runA", 0) == 0 ? a[0] : b[0];
    CHECK(o.result_ref == expected.name);
    CHECK(o.result_bytes == expected.size);
  }
}

TEST_CASE_FIXTURE(fixture, "while storage fails nothing is recorded; the retry writes once") {
  *store_failures = 2;
  give("runA", 0, "x");
  sched.run();
  sched.trigger_timeouts();  // the batch delay: the first try fails
  sched.run();
  CHECK(recorded->empty());
  sched.trigger_timeouts();  // the retry fails too
  sched.run();
  CHECK(recorded->empty());
  sched.trigger_timeouts();
  sched.run();
  CHECK(recorded->size() == 1);
  CHECK(blobs("runA/").size() == 1);
}

TEST_CASE_FIXTURE(fixture, "a sync writes at once") {
  give("runA", 0, "y");
  bool answered = false;
  sys.spawn([&](caf::event_based_actor* a) {
    a->request(writer, caf::infinite, pqrt::sync_atom::value).then([&](caf::ok_atom) {
      answered = true;
    });
  });
  sched.run();
  CHECK(answered);
  CHECK(recorded->size() == 1);
}
