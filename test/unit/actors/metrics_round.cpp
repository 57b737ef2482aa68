// actors/resource_lister and actors/metrics_fetcher: one metrics round from the resource group's
// listing to the documents handed to the writer (a VM, a scale set and its instances matched by
// name whatever the case, a resource whose metrics fail, pqrt's own figures from the job store),
// and a listing that fails the round naming the resource group. On CAF's deterministic
// scheduler with a fake ARM/Monitor and the in-memory job store.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/metrics_actors.hpp"
#include "actors/metrics_protocol.hpp"
#include "actors/protocol.hpp"
#include "fakes.hpp"
#include "memory_store.hpp"
#include "runtime/base/error.hpp"

#include "caf_doctest.hpp"

namespace {

using pqrt::azure::arm_resource;

/// A resource group of one VM, one that cannot be read, and a scale set of two instances.
class fake_arm : public pqrt::azure::resource_api {
public:
  bool list_fails = false;

  caf::expected<std::vector<arm_resource>> list_resources(const std::string&,
                                                          const std::string&) override {
    if (list_fails) return pqrt::make_error(pqrt::errc::denied, "AuthorizationFailed");
    return std::vector<arm_resource>{
        {"/vm1", "vm1", "virtualMachine", "", "", "westeurope"},
        {"/vm2", "vm2", "virtualMachine", "", "", "westeurope"},
        {"/ss", "ss", "virtualMachineScaleSet", "", "", "westeurope"},
        {"/ss/0", "ss_0", "virtualMachineScaleSetInstance", "ss", "ss000000", "westeurope"},
        {"/ss/1", "ss_1", "virtualMachineScaleSetInstance", "ss", "", "westeurope"},
    };
  }

  caf::expected<pqrt::azure::metrics_answer> get_metrics(const std::string& id,
                                                         const std::vector<std::string>&,
                                                         std::chrono::system_clock::time_point,
                                                         std::chrono::system_clock::time_point,
                                                         const std::string&, bool split) override {
    std::lock_guard<std::mutex> guard{mtx_};  // the fetcher asks from several threads
    if (id == "/vm2") return pqrt::make_error(pqrt::errc::unavailable, "Monitor timed out");
    pqrt::azure::metrics_answer a;
    a.interval = "PT1M";
    auto series = [&](const std::string& tag) {
      pqrt::azure::metric_series s;
      s.name = "Percentage CPU";
      s.unit = "Percent";
      s.points.push_back({"2026-12-03T07:00:00Z", 12.5, 40.0, std::nullopt});
      s.points.back().time += "#" + tag;
      return s;
    };
    if (!split) {
      a.series.emplace_back("", series(id));
    } else {  // Monitor names instances by computer name, or by instance name in any case
      a.series.emplace_back("SS000000", series("inst0"));
      a.series.emplace_back("SS_1", series("inst1"));
    }
    return a;
  }

private:
  std::mutex mtx_;
};

caf::behavior writer_sink(caf::event_based_actor*, std::shared_ptr<std::vector<std::string>> got) {
  return {[=](pqrt::write_atom, const pqrt::metrics_window&, const std::vector<std::string>& docs) {
    got->insert(got->end(), docs.begin(), docs.end());
    return caf::ok_atom::value;
  }};
}

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<fake_arm> arm = std::make_shared<fake_arm>();
  std::shared_ptr<pqrt::test::memory_redis> redis = std::make_shared<pqrt::test::memory_redis>();
  std::shared_ptr<std::vector<std::string>> docs = std::make_shared<std::vector<std::string>>();
  caf::actor lister, fetcher, writer;

  fixture() {
    auto ms = std::make_shared<pqrt::metrics_settings>();
    ms->subscription = "sub";
    ms->resource_group = "rg1";
    ms->arm = arm;
    ms->concurrency = 2;
    ms->redis = pqrt::transport::redis_url{};
    ms->make_store = pqrt::test::memory_store_factory(redis);
    redis->add_job("default", "queued-1");
    redis->workers.insert("w1");
    lister = pqrt::spawn_resource_lister(sys, ms, pqrt::spawn_mode::scheduled);
    fetcher = pqrt::spawn_metrics_fetcher(sys, ms, pqrt::spawn_mode::scheduled);
    writer = sys.spawn(writer_sink, docs);
    self->send(lister, pqrt::wire_atom::value, std::string{"metrics_fetcher"}, fetcher);
    self->send(fetcher, pqrt::wire_atom::value, std::string{"metrics_writer"}, writer);
    sched.run();
  }

  ~fixture() {
    for (const auto& a : {lister, fetcher, writer})
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sched.run();
  }

  caf::expected<caf::ok_atom> round() {
    return pqrt::test::ask<caf::ok_atom>(
        sys, [this] { sched.run(); }, lister, pqrt::round_atom::value,
        pqrt::metrics_window{1, 1764745200000, 1764745260000});
  }

  /// The one document that contains `text`.
  std::string doc_with(const std::string& text) {
    std::string found;
    int n = 0;
    for (const auto& d : *docs)
      if (d.find(text) != std::string::npos) {
        found = d;
        ++n;
      }
    CHECK_MESSAGE(n == 1, text);
    return found;
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a round lists the group, fetches every resource and writes it all") {
  REQUIRE(round());
  CHECK(docs->size() == 6);  // vm1, vm2, the scale set, its two instances, pqrt's own
  CHECK(doc_with("\"name\":\"vm1\"").find("#/vm1") != std::string::npos);
  CHECK(doc_with("\"name\":\"ss_0\"").find("#inst0") != std::string::npos);
  CHECK(doc_with("\"name\":\"ss_1\"").find("#inst1") != std::string::npos);
  CHECK(doc_with("\"name\":\"ss\"").find("#/ss") != std::string::npos);
  CHECK(doc_with("\"name\":\"vm2\"").find("Monitor timed out") != std::string::npos);
  auto own = doc_with("\"type\":\"pqrt_metrics\"");
  CHECK(own.find("\"workers_alive\":1") != std::string::npos);
  CHECK(own.find("\"queued\":1") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "a listing that fails fails the round, naming the resource group") {
  arm->list_fails = true;
  auto r = round();
  REQUIRE_FALSE(r);
  CHECK(pqrt::render(r.error()).find("resource group rg1") != std::string::npos);
  CHECK(pqrt::render(r.error()).find("AuthorizationFailed") != std::string::npos);
  CHECK(docs->empty());
}

TEST_CASE_FIXTURE(fixture, "a writer that is restarting fails the round; the next one runs") {
  caf::anon_send_exit(writer, caf::exit_reason::kill);
  sched.run();
  auto r = round();
  REQUIRE_FALSE(r);
  CHECK(pqrt::render(r.error()).find("metrics_writer is restarting") != std::string::npos);
  writer = sys.spawn(writer_sink, docs);
  self->send(fetcher, pqrt::wire_atom::value, std::string{"metrics_writer"}, writer);
  sched.run();
  CHECK(round());
}
