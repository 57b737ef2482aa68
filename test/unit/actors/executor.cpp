// actors/executor: one job at a time to its outcome: built-in functions, data that does not
// decode or inflates past the cap (a bomb), and record jobs (opened with the run's key from the
// decryptor peer, processed, their results sent on to result_encryptor; a tampered record fails
// alone, never retried). On CAF's deterministic scheduler.
#include "actors/executor.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "crypto/record_cipher.hpp"
#include "fakes.hpp"
#include "runtime/jobs/record_job.hpp"
#include "transport/rq_job_data.hpp"

#include "caf_doctest.hpp"

namespace {

using pqrt::transport::py_value;

/// A decryptor that hands out the run's key (no script).
caf::behavior key_giver(caf::event_based_actor*, pqrt::crypto::shared_secret key) {
  auto cipher = std::make_shared<pqrt::crypto::cipher_set>(key);
  return {[=](pqrt::material_atom, bool) {
    pqrt::run_material m;
    m.key = key;
    m.key_check = pqrt::crypto::key_check_hex(*key);
    m.cipher = cipher;
    return m;
  }};
}

/// A result_encryptor that keeps what reaches it.
caf::behavior result_sink(caf::event_based_actor*,
                          std::shared_ptr<std::vector<pqrt::pending_result>> seen) {
  return {[=](pqrt::seal_atom, pqrt::pending_result& r) { seen->push_back(std::move(r)); }};
}

struct fixture : test_coordinator_fixture<> {
  pqrt::crypto::shared_secret key = pqrt::test::fresh_data_key();
  pqrt::worker_settings ws;
  caf::actor owner, exec, decryptor, encryptor;
  std::shared_ptr<std::vector<pqrt::pending_result>> forwarded =
      std::make_shared<std::vector<pqrt::pending_result>>();

  fixture() {
    ws.executors = pqrt::spawn_mode::scheduled;
    ws.job_data_max = 64 * 1024;
    ws.pipeline = std::make_shared<pqrt::pipeline_settings>();
  }

  ~fixture() {
    for (const auto& a : {exec, decryptor, encryptor, owner})
      if (a) caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  void start() {
    auto settings = ws;
    auto made = std::make_shared<caf::actor>();
    owner = sys.spawn([settings, made](caf::event_based_actor* a) -> caf::behavior {
      *made = pqrt::spawn_executor(a, settings);
      return {[](pqrt::quiet_atom) {}};
    });
    sched.run();
    exec = *made;
    decryptor = sys.spawn(key_giver, key);
    self->send(exec, pqrt::wire_atom::value, std::string{"decryptor"}, decryptor);
    wire_encryptor();
  }

  void wire_encryptor() {
    encryptor = sys.spawn(result_sink, forwarded);
    self->send(exec, pqrt::wire_atom::value, std::string{"result_encryptor"}, encryptor);
    sched.run();
  }

  pqrt::transport::rq_job job(const pqrt::transport::job_call& call) {
    auto data = pqrt::transport::encode_job_data(call, pqrt::transport::rq_serializer::pickle);
    REQUIRE(data);
    pqrt::transport::rq_job j;
    j.id = "j1";
    j.fields = {{"data", *data}, {"origin", "default"}};
    return j;
  }

  pqrt::transport::rq_job record_job(const std::string& sealed) {
    return job(pqrt::make_record_call({"run1", "ds", 4, {sealed}, "sha256"}));
  }

  std::string seal(const std::string& text, uint64_t index = 4) {
    pqrt::crypto::record_cipher cipher{key};
    auto line = cipher.seal("ds", index, text);
    REQUIRE(line);
    return *line;
  }

  pqrt::executor_reply run(const pqrt::transport::rq_job& j) {
    auto got = pqrt::test::ask<pqrt::executor_reply>(
        sys, [this] { sched.run(); }, exec, pqrt::run_atom::value, j);
    REQUIRE(got);
    return std::move(*got);
  }
};

pqrt::transport::job_call call(const std::string& func, std::vector<py_value> args) {
  return {func, py_value{}, py_value::tuple(std::move(args)), {}};
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "a built-in function runs to its result") {
  start();
  auto r = run(job(call("pqrt.upper", {py_value{std::string{"abc"}}})));
  CHECK(r.outcome.ok);
  CHECK(r.outcome.id == "j1");
  CHECK(r.outcome.result == py_value{std::string{"ABC"}});
  auto f = run(job(call("pqrt.fail", {})));
  CHECK_FALSE(f.outcome.ok);
  CHECK(f.outcome.error_text.find("pqrt.fail was called") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "data that does not decode, or inflates past the cap, fails for good") {
  start();
  auto bad = job(call("pqrt.echo", {}));
  bad.fields["data"] = "not zlib";
  auto r = run(bad);
  CHECK_FALSE(r.outcome.ok);
  CHECK(r.outcome.error_text.rfind("DeserializationError", 0) == 0);
  CHECK(r.outcome.retry_delay == -1);
  // 1 MiB of one letter compresses to a few KiB and inflates past the 64 KiB cap.
  auto bomb = run(job(call("pqrt.echo", {py_value{std::string(1 << 20, 'a')}})));
  CHECK_FALSE(bomb.outcome.ok);
  CHECK(bomb.outcome.error_text.rfind("DeserializationError", 0) == 0);
  CHECK(bomb.outcome.error_text.find("output exceeds 65536 bytes") != std::string::npos);
  CHECK(bomb.outcome.retry_delay == -1);
}

TEST_CASE_FIXTURE(fixture, "a record job is opened with the run's key and its result sent on") {
  start();
  auto r = run(record_job(seal("hello")));
  REQUIRE(r.outcome.ok);
  // The pool learns only that the result went forward: no result, no plaintext.
  CHECK(r.to == pqrt::executor_reply::path::forwarded);
  CHECK(r.outcome.id == "j1");
  CHECK(r.outcome.result == py_value{});
  REQUIRE(forwarded->size() == 1);
  const auto& p = forwarded->front();
  auto expected = pqrt::run_record_processor(
      "sha256", "hello", std::chrono::steady_clock::now() + std::chrono::seconds{10});
  REQUIRE(expected);
  REQUIRE(p.records.size() == 1);
  CHECK(p.records[0].plaintext == *expected);
  CHECK(p.outcome.id == "j1");
  CHECK(p.outcome.ok);
  CHECK(p.run_id == "run1");
  CHECK(p.dataset_id == "ds");
  CHECK(p.records[0].index == 4);
  REQUIRE(p.cipher);
  CHECK(p.cipher->key_check() == pqrt::crypto::key_check_hex(*key));
}

TEST_CASE_FIXTURE(fixture, "results are held for a result_encryptor that is restarting") {
  start();
  caf::anon_send_exit(encryptor, caf::exit_reason::kill);
  sched.run();
  auto a = run(record_job(seal("a")));
  auto b = run(record_job(seal("b")));
  CHECK(a.to == pqrt::executor_reply::path::forwarded);
  CHECK(b.to == pqrt::executor_reply::path::forwarded);
  CHECK(forwarded->empty());
  wire_encryptor();
  REQUIRE(forwarded->size() == 2);  // in order, once the new one is wired
  auto first = pqrt::run_record_processor(
      "sha256", "a", std::chrono::steady_clock::now() + std::chrono::seconds{10});
  REQUIRE(first);
  CHECK((*forwarded)[0].records.at(0).plaintext == *first);
}

TEST_CASE_FIXTURE(fixture, "a tampered record, or one sealed for another index, fails alone") {
  start();
  auto sealed = seal("hello");
  sealed[sealed.size() / 2] = sealed[sealed.size() / 2] == 'A' ? 'B' : 'A';
  auto r = run(record_job(sealed));
  CHECK_FALSE(r.outcome.ok);
  CHECK(r.outcome.error_text.find("does not open") != std::string::npos);
  CHECK(r.outcome.retry_delay == -1);
  CHECK(r.to == pqrt::executor_reply::path::record);
  CHECK(forwarded->empty());
  auto moved = run(record_job(seal("hello", 5)));  // swapped into index 4
  CHECK_FALSE(moved.outcome.ok);
  auto fine = run(record_job(seal("next")));  // the executor goes on
  CHECK(fine.outcome.ok);
}

TEST_CASE_FIXTURE(fixture, "a record job on a worker without storage fails, to be retried") {
  ws.pipeline = nullptr;
  start();
  auto r = run(record_job(seal("hello")));
  CHECK_FALSE(r.outcome.ok);
  CHECK(r.outcome.error_text.find("no storage configured") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture,
                  "a job of many records runs each record alone, skipping those that ended") {
  start();
  auto tampered = seal("two", 12);
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  auto j =
      job(pqrt::make_record_call({"run1",
                                  "ds",
                                  10,
                                  {seal("zero", 10), seal("one", 11), tampered, seal("three", 13)},
                                  "sha256",
                                  true}));
  j.fields["pqrt_ended"] = "0100";  // record 11 finished in an earlier attempt
  auto r = run(j);
  CHECK(r.to == pqrt::executor_reply::path::forwarded);
  CHECK(r.records == 2);
  CHECK_FALSE(r.outcome.ok);
  REQUIRE(forwarded->size() == 1);
  const auto& p = forwarded->front();
  CHECK(p.outcome.chunk);
  REQUIRE(p.records.size() == 2);
  CHECK(p.records[0].index == 10);
  CHECK(p.records[1].index == 13);
  auto three = pqrt::run_record_processor(
      "sha256", "three", std::chrono::steady_clock::now() + std::chrono::seconds{10});
  REQUIRE(three);
  CHECK(p.records[1].plaintext == *three);
  // The outcome names each record run: the tampered one failed for good, alone.
  REQUIRE(p.outcome.records.size() == 3);
  CHECK(p.outcome.records[0].index == 10);
  CHECK(p.outcome.records[0].ok);
  CHECK(p.outcome.records[1].index == 12);
  CHECK_FALSE(p.outcome.records[1].ok);
  CHECK_FALSE(p.outcome.records[1].retry);
  CHECK(p.outcome.records[1].error_text.find("record 12 of data set ds does not open") !=
        std::string::npos);
  CHECK(p.outcome.records[2].ok);
}

TEST_CASE_FIXTURE(fixture, "a job of many records that all fail is recorded, nothing stored") {
  start();
  auto j = job(pqrt::make_record_call(
      {"run1", "ds", 0, {seal("a", 5), seal("b", 6)}, "sha256", true}));  // wrong indices
  auto r = run(j);
  CHECK(r.to == pqrt::executor_reply::path::record);
  CHECK(r.outcome.chunk);
  CHECK_FALSE(r.outcome.ok);
  REQUIRE(r.outcome.records.size() == 2);
  CHECK_FALSE(r.outcome.records[0].ok);
  CHECK_FALSE(r.outcome.records[1].ok);
  CHECK(forwarded->empty());
  // Every record ended before: the job finishes with nothing run.
  j.fields["pqrt_ended"] = "11";
  auto none = run(j);
  CHECK(none.to == pqrt::executor_reply::path::record);
  CHECK(none.outcome.chunk);
  CHECK(none.outcome.ok);
  CHECK(none.outcome.records.empty());
}
