// The worker tree against a real redis-server, with its wiring: the executor_pool crashes while it
// holds reserved jobs of a live worker, and none of them is left unaccounted for. The supervisor
// restarts the pool and re-wires it; the fetcher hands back what the ended pool held; every job
// finishes and the worker's processing list ends empty.
#include <chrono>
#include <thread>

#include <doctest/doctest.h>
#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "fixtures/redis_server.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/supervisor.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_store.hpp"

using namespace pqrt;
namespace keys = pqrt::transport::rq_keys;

namespace {

struct tree_fixture {
  test::redis_server server;
  transport::redis_url url = *transport::parse_redis_url(server.url());
  transport::rq_store store{url, transport::rq_serializer::pickle};
  transport::redis_client raw{url};

  int64_t num(const transport::redis_command& c) {
    auto r = raw.command(c);
    REQUIRE(r);
    return r->integer;
  }

  worker_settings settings(const std::string& name) {
    worker_settings s;
    s.redis = url;
    s.identity = {name, {"default"}, "host", 1};
    s.concurrency = 2;
    s.burst = true;  // the tree ends once the queue is empty and every outcome is recorded
    s.redis_give_up = std::chrono::seconds{5};
    return s;
  }

  transport::job_spec sleeper(const std::string& id, int64_t ms) {
    transport::job_spec spec;
    spec.id = id;
    spec.call = {"pqrt.sleep_ms",
                 transport::py_value{},
                 transport::py_value::tuple({transport::py_value{ms}}),
                 {}};
    return spec;
  }

  /// Waits (bounded, not timed: a guard against a hang) until `ready` holds.
  template <class F>
  bool eventually(F ready) {
    for (int i = 0; i < 600; ++i) {
      if (ready()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return false;
  }
};

}  // namespace

TEST_CASE_FIXTURE(tree_fixture, "a pool that crashes holding reserved jobs loses none of them") {
  constexpr int jobs = 12;
  std::vector<transport::job_spec> specs;
  for (int i = 0; i < jobs; ++i)
    specs.push_back(sleeper("job-" + std::to_string(i), 300));
  REQUIRE(store.enqueue(std::move(specs)));
  auto ws = settings("pqrt.test.pool-crash");
  REQUIRE(register_worker_now(ws));

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto root = spawn_supervisor(sys, "worker", worker_children(ws), restart_budget{});
  caf::scoped_actor self{sys};
  self->monitor(root);

  // Both executors busy: the pool holds two running jobs (and the fetcher may have more on the
  // way), all in this live worker's processing list.
  auto processing = keys::processing(ws.identity.name);
  REQUIRE(eventually([&] { return num({"LLEN", processing}) >= 2; }));
  caf::actor pool;
  self->request(root, caf::infinite, which_atom::value, std::string{peer_names::executor_pool})
      .receive([&](caf::actor& a) { pool = a; }, [&](caf::error& err) { FAIL(to_string(err)); });
  REQUIRE(pool);
  // A kill cannot be trapped: the pool ends at once, as on a crash, with its jobs in hand.
  self->send_exit(pool, caf::exit_reason::kill);

  // The tree goes on with a new pool and ends when every job is done (burst).
  caf::error reason;
  bool ended = false;
  self->receive_while([&] { return !ended; })(
      [&](caf::down_msg& dm) {
        reason = dm.reason;
        ended = true;
      },
      caf::after(std::chrono::seconds{120}) >> [&] { ended = true; });
  CHECK_MESSAGE(!reason, to_string(reason));
  CHECK(num({"LLEN", processing}) == 0);
  CHECK(num({"LLEN", keys::queue("default")}) == 0);
  CHECK(num({"ZCARD", keys::finished("default")}) == jobs);
  CHECK(num({"ZCARD", keys::failed("default")}) == 0);
  for (int i = 0; i < jobs; ++i) {
    auto job = store.fetch("job-" + std::to_string(i));
    REQUIRE(job);
    CHECK_MESSAGE(job->field("status") == "finished", "job-" << i);
  }
}
