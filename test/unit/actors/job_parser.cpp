// actors/job_parser with the scheduler's real peers (blob_fetcher on local storage, decryptor,
// rq_enqueuer on the in-memory job store): a sealed data file becomes one job per record, once,
// however often the pass runs; a file sealed with another key ends the run before anything is
// enqueued. On CAF's deterministic scheduler.
#include "actors/job_parser.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/blob_fetcher.hpp"
#include "actors/decryptor.hpp"
#include "actors/protocol.hpp"
#include "actors/rq_enqueuer.hpp"
#include "crypto/record_cipher.hpp"
#include "fakes.hpp"
#include "memory_store.hpp"
#include "runtime/jobs/record_job.hpp"
#include "transport/local_storage.hpp"

#include "caf_doctest.hpp"

namespace {

/// A supervisor that only notes that it was asked to shut the tree down.
caf::behavior fake_supervisor(caf::event_based_actor*, std::shared_ptr<bool> asked) {
  return {[=](pqrt::shutdown_atom, caf::timespan) { *asked = true; }};
}

struct fixture : test_coordinator_fixture<> {
  pqrt::test::temp_dir dir{"job-parser"};
  std::shared_ptr<pqrt::test::memory_redis> redis = std::make_shared<pqrt::test::memory_redis>();
  std::shared_ptr<bool> shutdown_asked = std::make_shared<bool>(false);
  pqrt::crypto::shared_secret key = pqrt::test::fresh_data_key();
  std::shared_ptr<pqrt::pipeline_settings> ps = std::make_shared<pqrt::pipeline_settings>();
  std::vector<caf::actor> peers;

  fixture() {
    ps->run_id = "r1";
    ps->queue = "runq";
    ps->processor = "sha256";
    ps->inputs_container = "inputs";
    ps->data_blob = "data.enc";
    ps->key_blob = "key.json";
    ps->make_blobs =
        [root = dir.path]() -> caf::expected<std::unique_ptr<pqrt::transport::blob_store>> {
      return pqrt::transport::make_local_blob_store(root);
    };
    ps->make_key_source = [k = key]() -> caf::expected<std::unique_ptr<pqrt::crypto::key_source>> {
      return std::make_unique<pqrt::test::fixed_key_source>(k, std::make_shared<int>(0));
    };
    auto store = pqrt::transport::make_local_blob_store(dir.path);
    REQUIRE_FALSE(store->create_container("inputs"));
    REQUIRE_FALSE(store->put("inputs", "key.json", pqrt::test::wrapped_key_file(key)));
    pqrt::worker_settings ws;
    ws.make_store = pqrt::test::memory_store_factory(redis);
    peers = {pqrt::spawn_blob_fetcher(sys, ps, pqrt::spawn_mode::scheduled),
             pqrt::spawn_decryptor(sys, ps, pqrt::spawn_mode::scheduled),
             pqrt::spawn_rq_enqueuer(sys, ws, ps, pqrt::spawn_mode::scheduled),
             sys.spawn(fake_supervisor, shutdown_asked)};
    self->send(peers[1], pqrt::wire_atom::value, std::string{"blob_fetcher"}, peers[0]);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : peers)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  /// A data file of `n` records sealed with `with` for data set "ds".
  void put_data(size_t n, const pqrt::crypto::shared_secret& with, size_t pad = 0) {
    pqrt::crypto::record_cipher cipher{with};
    std::string file = pqrt::crypto::records_header("ds", cipher.key_check()) + "\n";
    for (size_t i = 0; i < n; ++i) {
      auto line = cipher.seal("ds", i, "record " + std::to_string(i) + std::string(pad, 'p'));
      REQUIRE(line);
      file += *line + "\n";
    }
    REQUIRE_FALSE(
        pqrt::transport::make_local_blob_store(dir.path)->put("inputs", "data.enc", file));
  }

  /// The call of a queued job, decoded.
  pqrt::record_call call_of(const std::string& id) {
    auto call = pqrt::transport::decode_job_data(redis->jobs[id].fields["data"],
                                                 pqrt::transport::rq_serializer::pickle, 64 << 20);
    REQUIRE(call);
    auto rc = pqrt::parse_record_call(*call);
    REQUIRE(rc);
    return *rc;
  }

  /// Runs one enqueue pass to its end; whether the parser ended normally.
  bool run_pass() {
    auto parser = pqrt::spawn_job_parser(sys, ps);
    self->monitor(parser);
    const char* names[] = {"blob_fetcher", "decryptor", "rq_enqueuer", "supervisor"};
    for (size_t i = 0; i < 4; ++i)
      self->send(parser, pqrt::wire_atom::value, std::string{names[i]}, peers[i]);
    sched.run();
    bool normal = false;
    self->receive([&](caf::down_msg& dm) { normal = !dm.reason; });
    return normal;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "every record becomes one job, in order, and a second pass adds none") {
  put_data(2500, key);  // three batches
  REQUIRE(run_pass());
  auto queued = redis->queued("runq");
  REQUIRE(queued.size() == 2500);
  CHECK(queued.front() == pqrt::record_job_id("r1", 0));
  CHECK(queued.back() == pqrt::record_job_id("r1", 2499));
  CHECK(redis->jobs[queued[7]].fields["pqrt_index"] == "7");
  CHECK(redis->runs["r1"]["total"] == "2500");
  CHECK(redis->runs["r1"]["dataset"] == "ds");
  CHECK(redis->runs["r1"]["state"] == "running");
  CHECK_FALSE(*shutdown_asked);
  REQUIRE(run_pass());  // a restarted or second scheduler
  CHECK(redis->queued("runq").size() == 2500);
}

TEST_CASE_FIXTURE(fixture, "a data file sealed with another key ends the run, enqueuing nothing") {
  put_data(10, pqrt::test::fresh_data_key());
  run_pass();
  CHECK(redis->queued("runq").empty());
  CHECK(*shutdown_asked);
  CHECK(ps->outcome->fatal.find("was sealed with data key") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture,
                  "with records_per_job, a job carries that many records; a run keeps its cut") {
  ps->records_per_job = 64;
  put_data(2500, key);
  REQUIRE(run_pass());
  auto queued = redis->queued("runq");
  REQUIRE(queued.size() == 40);  // 39 of 64 records, then the last 4
  CHECK(queued[1] == pqrt::record_job_id("r1", 64));
  CHECK(queued.back() == pqrt::record_job_id("r1", 2496));
  auto& last = redis->jobs[queued.back()].fields;
  CHECK(last["pqrt_index"] == "2496");
  CHECK(last["pqrt_count"] == "4");
  CHECK(last["pqrt_status"] == "task-status-r1-");
  CHECK(last["pqrt_record_timeout"] == "300");
  CHECK(last["timeout"] == "1200");
  auto rc = call_of(queued[1]);
  CHECK(rc.many);
  CHECK(rc.first == 64);
  REQUIRE(rc.records.size() == 64);
  pqrt::crypto::record_cipher cipher{key};
  auto opened = cipher.open("ds", 64 + 63, rc.records[63]);
  REQUIRE(opened);
  CHECK(*opened == "record 127");
  CHECK(redis->runs["r1"]["total"] == "2500");
  CHECK(redis->runs["r1"]["records_per_job"] == "64");
  // A second scheduler configured otherwise cuts the run's jobs as the first did: none added.
  ps->records_per_job = 1;
  REQUIRE(run_pass());
  CHECK(redis->queued("runq").size() == 40);
}

TEST_CASE_FIXTURE(fixture, "a job of many records stays under 4 MiB of sealed records") {
  ps->records_per_job = 64;
  put_data(100, key, 100 * 1024);  // ~137 KiB sealed each: 30 fit in 4 MiB
  REQUIRE(run_pass());
  auto queued = redis->queued("runq");
  REQUIRE(queued.size() == 4);
  uint64_t next = 0;
  for (const auto& id : queued) {
    auto rc = call_of(id);
    CHECK(rc.first == next);
    size_t bytes = 0;
    for (const auto& r : rc.records)
      bytes += r.size();
    CHECK(bytes <= (4u << 20));
    next += rc.records.size();
  }
  CHECK(next == 100);
}
