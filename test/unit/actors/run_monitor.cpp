// actors/run_monitor: a run whose records all ended is checked against storage, its manifest
// written and the tree asked to end; a result blob that storage lost sends its records back for
// another enqueue pass instead. On CAF's deterministic scheduler with the in-memory job store
// and local storage.
#include "actors/run_monitor.hpp"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "fakes.hpp"
#include "memory_store.hpp"
#include "runtime/jobs/record_job.hpp"
#include "transport/local_storage.hpp"

#include "caf_doctest.hpp"

namespace {

struct seen_by_peers {
  std::vector<std::string> events;
  int syncs = 0;
  bool shutdown = false;
  int passes = 0;
};

/// status_writer and supervisor in one: notes events, answers syncs, notes the shutdown.
caf::behavior peers_sink(caf::event_based_actor*, std::shared_ptr<seen_by_peers> seen) {
  return {
      [=](pqrt::event_atom, const std::string& json) { seen->events.push_back(json); },
      [=](pqrt::sync_atom) {
        ++seen->syncs;
        return caf::ok_atom::value;
      },
      [=](pqrt::shutdown_atom, caf::timespan) { seen->shutdown = true; },
  };
}

struct fixture : test_coordinator_fixture<> {
  pqrt::test::temp_dir dir{"run-monitor"};
  std::shared_ptr<pqrt::test::memory_redis> redis = std::make_shared<pqrt::test::memory_redis>();
  std::shared_ptr<seen_by_peers> seen = std::make_shared<seen_by_peers>();
  std::shared_ptr<pqrt::pipeline_settings> ps = std::make_shared<pqrt::pipeline_settings>();
  pqrt::worker_settings ws;
  caf::actor monitor, sink;
  const std::string blob = "r1/results/w1-a-000000";

  fixture() {
    ps->run_id = "r1";
    ps->queue = "runq";
    ps->results_container = "results";
    ps->make_blobs =
        [root = dir.path]() -> caf::expected<std::unique_ptr<pqrt::transport::blob_store>> {
      return pqrt::transport::make_local_blob_store(root);
    };
    ps->outcome->enqueued = true;  // this process's pass is through: the total counts
    ws.make_store = pqrt::test::memory_store_factory(redis);
    redis->runs["r1"] = {{"total", "2"}, {"dataset", "ds"}, {"state", "running"}};
    redis->run_counts["r1"] = {2, 0};
    for (uint64_t i = 0; i < 2; ++i)
      redis->status_hashes[ps->status_prefix + pqrt::record_job_id("r1", i)] = {
          {"state", "finished"}, {"attempts", "1"}, {"result", blob}};
    redis->blob_sizes["r1"][blob] = 4;
  }

  ~fixture() {
    for (const auto& a : {monitor, sink})
      if (a) caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  void start() {
    auto count = seen;
    monitor = pqrt::spawn_run_monitor(
        sys, ws, ps,
        [count](caf::actor_system& sys) {
          ++count->passes;
          return sys.spawn([](caf::event_based_actor* a) { a->quit(); });
        },
        pqrt::spawn_mode::scheduled);
    sink = sys.spawn(peers_sink, seen);
    self->send(monitor, pqrt::wire_atom::value, std::string{"status_writer"}, sink);
    self->send(monitor, pqrt::wire_atom::value, std::string{"supervisor"}, sink);
    sched.run();
  }

  void put_result(const std::string& body) {
    auto store = pqrt::transport::make_local_blob_store(dir.path);
    REQUIRE_FALSE(store->create_container("results"));
    REQUIRE_FALSE(store->put("results", blob, body));
  }

  std::vector<std::string> manifest_lines() {
    auto text =
        pqrt::transport::make_local_blob_store(dir.path)->get("results", "r1/manifest.jsonl");
    if (!text) return {};
    std::vector<std::string> lines;
    std::istringstream in{*text};
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    return lines;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a run whose results check out gets its manifest and ends the tree") {
  put_result("a\nb\n");
  start();
  auto lines = manifest_lines();
  REQUIRE(lines.size() == 3);  // the header, then one line per record in index order
  CHECK(lines[0].find("\"run\":\"r1\"") != std::string::npos);
  CHECK(lines[1].find("\"index\":0") != std::string::npos);
  CHECK(lines[1].find("\"attempts\":1") != std::string::npos);
  CHECK(lines[2].find("\"result\":\"" + blob + "\"") != std::string::npos);
  CHECK(ps->outcome->complete);
  CHECK(ps->outcome->finished == 2);
  CHECK(ps->outcome->manifest == "results/r1/manifest.jsonl");
  CHECK(redis->runs["r1"]["state"] == "done");
  REQUIRE_FALSE(seen->events.empty());
  CHECK(seen->events.back().find("\"event\":\"run_done\"") != std::string::npos);
  CHECK(seen->syncs == 1);  // the last events are posted before the tree ends
  CHECK(seen->shutdown);
  CHECK(seen->passes == 0);
}

TEST_CASE_FIXTURE(fixture, "records whose result blob is lost run again; no manifest yet") {
  start();  // the blob was acknowledged but storage does not have it
  CHECK(manifest_lines().empty());
  CHECK_FALSE(ps->outcome->complete);
  CHECK_FALSE(seen->shutdown);
  REQUIRE(redis->reruns.size() == 2);
  CHECK(redis->reruns[0].reason == "result blob missing: " + blob);
  CHECK(seen->passes == 1);                     // an enqueue pass adds them again
  CHECK(redis->runs["r1"]["rerun"] == "done");  // that pass ended normally
}

TEST_CASE_FIXTURE(fixture, "a blob of another size than written counts as lost too") {
  put_result("a\n");  // 2 bytes, written with 4
  start();
  CHECK_FALSE(ps->outcome->complete);
  REQUIRE(redis->reruns.size() == 2);
  CHECK(redis->reruns[0].reason.find("result blob short") == 0);
}

TEST_CASE_FIXTURE(fixture, "an unfinished run is only watched") {
  redis->run_counts["r1"] = {1, 0};
  put_result("a\nb\n");
  start();
  CHECK(manifest_lines().empty());
  CHECK_FALSE(seen->shutdown);
  redis->run_counts["r1"] = {1, 1};  // the last record failed for good
  redis->status_hashes[ps->status_prefix + pqrt::record_job_id("r1", 1)] = {
      {"state", "failed"}, {"attempts", "3"}, {"error", "boom"}};
  sched.trigger_timeouts();
  sched.run();
  CHECK(ps->outcome->complete);
  CHECK(ps->outcome->failed == 1);
  CHECK(redis->runs["r1"]["state"] == "done_with_failures");
  CHECK(manifest_lines()[2].find("\"error\":\"boom\"") != std::string::npos);
}
