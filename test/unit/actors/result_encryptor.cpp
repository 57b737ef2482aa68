// actors/result_encryptor: a result sealed under the run's key, bound to its run and index, its
// plaintext gone, handed to result_writer; on CAF's deterministic scheduler.
#include "actors/result_encryptor.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/record_cipher.hpp"
#include "fakes.hpp"
#include "runtime/jobs/record_job.hpp"

#include "caf_doctest.hpp"

namespace {

struct seen_by_peers {
  std::vector<pqrt::pending_result> written;
  std::vector<pqrt::transport::job_outcome> recorded;
};

caf::behavior writer_sink(caf::event_based_actor*, std::shared_ptr<seen_by_peers> seen) {
  return {[=](pqrt::result_atom, pqrt::pending_result& r) { seen->written.push_back(r); }};
}

caf::behavior status_sink(caf::event_based_actor*, std::shared_ptr<seen_by_peers> seen) {
  return {[=](pqrt::record_atom, pqrt::transport::job_outcome& o) { seen->recorded.push_back(o); }};
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<seen_by_peers> seen = std::make_shared<seen_by_peers>();
  pqrt::crypto::shared_secret key;
  std::shared_ptr<pqrt::crypto::cipher_set> cipher;
  caf::actor encryptor, writer, status;

  fixture() {
    key = pqrt::test::fresh_data_key();
    cipher = std::make_shared<pqrt::crypto::cipher_set>(key);
    encryptor = pqrt::spawn_result_encryptor(sys);
    writer = sys.spawn(writer_sink, seen);
    status = sys.spawn(status_sink, seen);
    self->send(encryptor, pqrt::wire_atom::value, std::string{"result_writer"}, writer);
    self->send(encryptor, pqrt::wire_atom::value, std::string{"status_writer"}, status);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {encryptor, writer, status})
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  pqrt::pending_result result(uint64_t index, std::string text) {
    pqrt::pending_result r;
    r.outcome.id = "job-" + std::to_string(index);
    r.outcome.ok = true;
    r.run_id = "run1";
    r.dataset_id = "ds1";
    r.records.push_back({index, std::move(text), {}});
    r.cipher = cipher;
    return r;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a result is sealed for its run and index and its plaintext dropped") {
  self->send(encryptor, pqrt::seal_atom::value, result(7, "secret result"));
  sched.run();
  REQUIRE(seen->written.size() == 1);
  const auto& w = seen->written.front().records.at(0);
  CHECK(w.plaintext.empty());
  CHECK_FALSE(seen->written.front().cipher);  // the key's ciphers do not travel further
  CHECK(w.sealed.find("secret") == std::string::npos);
  pqrt::crypto::record_cipher cipher{key};
  auto binding = pqrt::result_binding("ds1", "run1");
  auto opened = cipher.open(binding, 7, w.sealed);
  REQUIRE(opened);
  CHECK(*opened == "secret result");
  CHECK_FALSE(cipher.open(binding, 8, w.sealed));                              // another index
  CHECK_FALSE(cipher.open(pqrt::result_binding("ds1", "run2"), 7, w.sealed));  // another run
  CHECK(seen->recorded.empty());
}

TEST_CASE_FIXTURE(fixture, "a result without its run's cipher fails its job alone") {
  auto r = result(3, "lost key");
  r.cipher.reset();
  self->send(encryptor, pqrt::seal_atom::value, std::move(r));
  self->send(encryptor, pqrt::seal_atom::value, result(4, "fine"));
  sched.run();
  REQUIRE(seen->recorded.size() == 1);
  CHECK(seen->recorded[0].id == "job-3");
  CHECK_FALSE(seen->recorded[0].ok);
  CHECK(seen->recorded[0].error_text.find("sealing the result failed") != std::string::npos);
  REQUIRE(seen->written.size() == 1);
  CHECK(seen->written[0].records.at(0).index == 4);
}

TEST_CASE_FIXTURE(fixture, "results are held for a result_writer that is restarting") {
  caf::anon_send_exit(writer, caf::exit_reason::kill);
  sched.run();
  self->send(encryptor, pqrt::seal_atom::value, result(1, "a"));
  self->send(encryptor, pqrt::seal_atom::value, result(2, "b"));
  sched.run();
  CHECK(seen->written.empty());
  writer = sys.spawn(writer_sink, seen);
  self->send(encryptor, pqrt::wire_atom::value, std::string{"result_writer"}, writer);
  sched.run();
  REQUIRE(seen->written.size() == 2);
  CHECK(seen->written[0].records.at(0).index == 1);  // in order
  CHECK(seen->written[1].records.at(0).index == 2);
}
