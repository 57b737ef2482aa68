// actors/metrics_writer: a round's documents packed into queue messages under the size limit and
// appended to the --out file as JSON lines, a queue failure named; on CAF's deterministic
// scheduler with a local queue store in a temporary directory.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/metrics_actors.hpp"
#include "actors/metrics_protocol.hpp"
#include "actors/protocol.hpp"
#include "fakes.hpp"
#include "runtime/base/error.hpp"
#include "transport/local_storage.hpp"

#include "caf_doctest.hpp"

namespace {

struct fixture : test_coordinator_fixture<> {
  pqrt::test::temp_dir dir{"metrics-writer"};
  std::string root = dir.path;
  std::shared_ptr<pqrt::metrics_settings> ms = std::make_shared<pqrt::metrics_settings>();
  caf::actor writer;

  fixture() {
    ms->queue = "metrics";
    ms->out_file = root + "/out.jsonl";
    ms->make_queues = [root =
                           root]() -> caf::expected<std::unique_ptr<pqrt::transport::queue_store>> {
      return pqrt::transport::make_local_queue_store(root + "/queues");
    };
  }

  ~fixture() {
    if (writer) caf::anon_send_exit(writer, caf::exit_reason::kill);
    sched.run();
  }

  caf::error write(const std::vector<std::string>& docs) {
    if (!writer) writer = pqrt::spawn_metrics_writer(sys, ms, pqrt::spawn_mode::scheduled);
    caf::error out = pqrt::make_error(pqrt::errc::timeout, "no answer");
    sys.spawn([&](caf::event_based_actor* a) {
      a->request(writer, caf::infinite, pqrt::write_atom::value, pqrt::metrics_window{1, 0, 60000},
                 docs)
          .then([&](caf::ok_atom) { out = caf::none; }, [&](caf::error& e) { out = e; });
    });
    sched.run();
    return out;
  }

  std::vector<std::string> messages() {
    auto store = pqrt::transport::make_local_queue_store(root + "/queues");
    auto got = store->peek("metrics", 32);
    REQUIRE(got);
    std::vector<std::string> out;
    for (const auto& m : *got)
      out.push_back(m.text);
    return out;
  }
};

std::string doc(char c, size_t size) {
  return "{\"x\":\"" + std::string(size, c) + "\"}";
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "documents go out packed as JSON arrays under the message limit") {
  REQUIRE_FALSE(write({doc('a', 20000), doc('b', 20000), doc('c', 20000)}));
  auto got = messages();
  REQUIRE(got.size() == 2);
  CHECK(got[0] == "[" + doc('a', 20000) + "," + doc('b', 20000) + "]");
  CHECK(got[1] == "[" + doc('c', 20000) + "]");
  for (const auto& m : got)
    CHECK(m.size() <= 46 * 1024);
}

TEST_CASE_FIXTURE(fixture, "the out file gets one JSON line per document, appended each round") {
  REQUIRE_FALSE(write({doc('a', 3), doc('b', 3)}));
  REQUIRE_FALSE(write({doc('c', 3)}));
  std::ifstream in{ms->out_file};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  CHECK(lines == std::vector<std::string>{doc('a', 3), doc('b', 3), doc('c', 3)});
}

TEST_CASE_FIXTURE(fixture, "a queue that cannot be reached fails the round, naming the queue") {
  ms->make_queues = []() -> caf::expected<std::unique_ptr<pqrt::transport::queue_store>> {
    return pqrt::make_error(pqrt::errc::unavailable, "no route");
  };
  auto err = write({doc('a', 3)});
  REQUIRE(err);
  CHECK(pqrt::render(err).find("metrics queue metrics") != std::string::npos);
  CHECK(pqrt::render(err).find("no route") != std::string::npos);
}
