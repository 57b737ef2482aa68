// actors/executor_pool in the worker's tree (status_writer, heartbeat, executor_pool, rq_fetcher,
// under the supervisor, wired as runtime/roles/worker.cpp wires them) on CAF's deterministic
// scheduler with the in-memory job store: jobs run to their outcomes, and a pool that crashes
// while it holds reserved jobs of the live worker leaves none of them unaccounted for. With the
// result path (result_encryptor, result_writer on local storage): record jobs' results go
// forward from the executors to storage, and a result_encryptor killed mid-run, with results in
// its mailbox, loses none: every record's result is stored and its job recorded once.
#include "actors/executor_pool.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/heartbeat.hpp"
#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "actors/result_encryptor.hpp"
#include "actors/result_writer.hpp"
#include "actors/rq_fetcher.hpp"
#include "actors/status_writer.hpp"
#include "crypto/record_cipher.hpp"
#include "fakes.hpp"
#include "memory_store.hpp"
#include "runtime/base/error.hpp"
#include "runtime/jobs/builtins.hpp"
#include "runtime/jobs/record_job.hpp"
#include "runtime/supervisor.hpp"
#include "transport/local_storage.hpp"

#include "caf_doctest.hpp"

namespace {

namespace p = pqrt::peer_names;

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<pqrt::test::memory_redis> redis = std::make_shared<pqrt::test::memory_redis>();
  pqrt::worker_settings ws;
  caf::actor root;
  static constexpr int jobs = 12;

  fixture() {
    ws.identity = {"w1", {"default"}, "host", 1};
    ws.concurrency = 2;
    ws.burst = true;  // the tree ends once the queue is empty and every outcome is recorded
    ws.make_store = pqrt::test::memory_store_factory(redis);
    ws.executors = pqrt::spawn_mode::scheduled;
    std::vector<pqrt::transport::job_spec> specs;
    for (int i = 0; i < jobs; ++i) {
      pqrt::transport::job_spec spec;
      spec.id = "job-" + std::to_string(i);
      spec.call = {"pqrt.echo",
                   pqrt::transport::py_value{},
                   pqrt::transport::py_value::tuple({pqrt::transport::py_value{spec.id}}),
                   {}};
      specs.push_back(spec);
    }
    auto store = ws.make_store({});
    REQUIRE(store->enqueue(specs));
    REQUIRE_FALSE(store->register_worker(ws.identity));
  }

  ~fixture() {
    if (root) caf::anon_send_exit(root, caf::exit_reason::kill);
    sched.run();
  }

  /// The worker's tree; with `pipeline`, the result path too (and a decryptor that hands out
  /// `material`).
  void start(std::shared_ptr<const pqrt::pipeline_settings> pipeline = nullptr,
             pqrt::run_material material = {}) {
    auto s = ws;
    s.pipeline = pipeline;
    auto mode = pqrt::spawn_mode::scheduled;
    using policy = pqrt::restart_policy;
    std::vector<std::string> pool_peers{p::rq_fetcher, p::status_writer, p::heartbeat};
    std::vector<pqrt::child_spec> tree{
        {p::status_writer,
         policy::transient,
         [=](caf::actor_system& sys) { return pqrt::spawn_status_writer(sys, s, mode); },
         {p::executor_pool}},
        {p::heartbeat, policy::transient,
         [=](caf::actor_system& sys) { return pqrt::spawn_heartbeat(sys, s, mode); }},
    };
    if (pipeline) {
      tree.push_back({p::decryptor,
                      policy::permanent,
                      [=](caf::actor_system& sys) {
                        return sys.spawn([=](caf::event_based_actor*) -> caf::behavior {
                          return {[=](pqrt::material_atom, bool) { return material; },
                                  [](pqrt::quiet_atom) {}};
                        });
                      },
                      {},
                      true});
      tree.push_back({p::result_writer,
                      policy::permanent,
                      [=](caf::actor_system& sys) {
                        return pqrt::spawn_result_writer(sys, s, pipeline, mode);
                      },
                      {p::status_writer},
                      true});
      tree.push_back({p::result_encryptor,
                      policy::permanent,
                      [=](caf::actor_system& sys) { return pqrt::spawn_result_encryptor(sys); },
                      {p::result_writer, p::status_writer},
                      true});
      pool_peers.insert(pool_peers.end(), {p::decryptor, p::result_encryptor, p::result_writer});
    }
    tree.push_back({p::executor_pool, policy::transient,
                    [=](caf::actor_system& sys) { return pqrt::spawn_executor_pool(sys, s); },
                    pool_peers});
    tree.push_back({p::rq_fetcher,
                    policy::transient,
                    [=](caf::actor_system& sys) { return pqrt::spawn_rq_fetcher(sys, s, mode); },
                    {p::executor_pool}});
    root = pqrt::spawn_supervisor(sys, "worker", std::move(tree), pqrt::restart_budget{});
    self->monitor(root);
  }

  /// Runs the scheduler until the tree has ended; its exit reason.
  caf::error run_to_end() {
    // The result_writer's batch delay and the heartbeat's ticks are timeouts: fire them until
    // the tree is done.
    caf::error reason = pqrt::make_error(pqrt::errc::timeout, "the tree did not end");
    bool ended = false;
    for (int round = 0; round < 1000 && !ended; ++round) {
      if (round > 0) sched.trigger_timeouts();
      sched.run();
      self->receive(
          [&](caf::down_msg& dm) {
            reason = dm.reason;
            ended = true;
          },
          caf::after(std::chrono::seconds{0}) >> [] {});
    }
    return reason;
  }

  void check_all_finished_once() {
    CHECK(redis->held_by("w1").empty());
    CHECK(redis->queued("default").empty());
    CHECK(redis->recorded.size() == jobs);
    for (int i = 0; i < jobs; ++i)
      CHECK_MESSAGE(redis->status("job-" + std::to_string(i)) == "finished", "job-" << i);
    CHECK(redis->deregistrations == 1);
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "every job runs to one recorded outcome and the burst tree ends") {
  start();
  auto reason = run_to_end();
  CHECK_MESSAGE(!reason, caf::to_string(reason));
  check_all_finished_once();
}

TEST_CASE_FIXTURE(fixture,
                  "without a prefetch window, a job is reserved only for a free executor") {
  ws.prefetch = 0;
  start();
  auto reason = run_to_end();
  CHECK_MESSAGE(!reason, caf::to_string(reason));
  check_all_finished_once();
  CHECK(redis->most_reserved <= ws.concurrency);
}

TEST_CASE_FIXTURE(fixture, "short jobs are reserved ahead of the executors; every one runs once") {
  ws.prefetch = 6;
  start();
  auto reason = run_to_end();
  CHECK_MESSAGE(!reason, caf::to_string(reason));
  check_all_finished_once();
  // The first reserve is for the free executors only (no job time known yet); once the echo
  // jobs proved short, one call took more than the executors could start.
  CHECK(redis->most_reserved > ws.concurrency);
  CHECK(redis->most_reserved <= ws.concurrency + ws.prefetch);
}

TEST_CASE_FIXTURE(fixture,
                  "jobs reserved ahead go back to their queue when the pool goes quiet; none is "
                  "lost") {
  ws.prefetch = 6;
  start();
  caf::actor pool;
  self->send(root, pqrt::which_atom::value, std::string{p::executor_pool});
  for (int step = 0; step < 100000 && (redis->most_reserved <= ws.concurrency || !pool); ++step) {
    if (!sched.try_run_once()) sched.trigger_timeouts();
    self->receive([&](caf::actor& a) { pool = a; }, caf::after(std::chrono::seconds{0}) >> [] {});
  }
  REQUIRE(pool);
  REQUIRE(redis->most_reserved > ws.concurrency);
  // Let the fetcher hand the jobs over, then quiet the pool: those waiting for an executor go
  // back to the front of the queue at once.
  for (int step = 0; step < 3; ++step)
    sched.try_run_once();
  auto released_before = redis->released;
  self->send(pool, pqrt::quiet_atom::value);
  sched.run();
  CHECK(redis->released > released_before);
  // A quiet pool takes no new work: once what ran is recorded, every job is either finished
  // (once) or back in the queue, and the worker holds none.
  for (int round = 0; round < 20; ++round) {
    sched.trigger_timeouts();
    sched.run();
  }
  CHECK(redis->held_by("w1").empty());
  std::set<std::string> finished;
  for (const auto& o : redis->recorded)
    CHECK_MESSAGE(finished.insert(o.id).second, o.id << " recorded twice");
  auto queued = redis->queued("default");
  CHECK(finished.size() + queued.size() == jobs);
  for (const auto& id : queued)
    CHECK_MESSAGE(finished.count(id) == 0, id);
}

TEST_CASE_FIXTURE(fixture, "a pool that crashes holding reserved jobs loses none of them") {
  start();
  // Step the tree until the pool holds two reserved jobs of this live worker.
  caf::actor pool;
  self->send(root, pqrt::which_atom::value, std::string{p::executor_pool});
  for (int step = 0; step < 100000 && (redis->held_by("w1").size() < 2 || !pool); ++step) {
    sched.run_once();
    self->receive([&](caf::actor& a) { pool = a; }, caf::after(std::chrono::seconds{0}) >> [] {});
  }
  REQUIRE(pool);
  REQUIRE(redis->held_by("w1").size() >= 2);
  REQUIRE(redis->recorded.size() + 2 <= jobs);  // mid-run: more to do after the crash
  // A kill cannot be trapped: the pool ends at once, as on a crash, with its jobs in hand.
  caf::anon_send_exit(pool, caf::exit_reason::kill);
  auto reason = run_to_end();
  CHECK_MESSAGE(!reason, caf::to_string(reason));
  check_all_finished_once();
}

TEST_CASE_FIXTURE(fixture,
                  "record results go forward to storage; a result_encryptor killed mid-run loses "
                  "none") {
  // Record jobs instead of echo jobs: the queue is refilled with one per record.
  pqrt::test::temp_dir dir{"pool-results"};
  auto key = pqrt::test::fresh_data_key();
  pqrt::run_material material;
  material.key = key;
  material.key_check = pqrt::crypto::key_check_hex(*key);
  material.cipher = std::make_shared<pqrt::crypto::cipher_set>(key);
  auto ps = std::make_shared<pqrt::pipeline_settings>();
  ps->results_container = "results";
  ps->make_blobs = [root =
                        dir.path]() -> caf::expected<std::unique_ptr<pqrt::transport::blob_store>> {
    return pqrt::transport::make_local_blob_store(root);
  };
  redis->queues.clear();
  redis->jobs.clear();
  std::vector<pqrt::transport::job_spec> specs;
  pqrt::crypto::record_cipher sealer{key};
  for (int i = 0; i < jobs; ++i) {
    auto sealed = sealer.seal("ds", static_cast<uint64_t>(i), "record " + std::to_string(i));
    REQUIRE(sealed);
    pqrt::transport::job_spec spec;
    spec.id = "job-" + std::to_string(i);
    spec.call =
        pqrt::make_record_call({"run1", "ds", static_cast<uint64_t>(i), {*sealed}, "sha256"});
    specs.push_back(spec);
  }
  REQUIRE(ws.make_store({})->enqueue(specs));
  start(ps, material);
  // Step the tree until results wait in the result_encryptor's mailbox, then kill it: they are
  // gone with it, and their jobs are still reserved by this live worker.
  caf::actor encryptor;
  self->send(root, pqrt::which_atom::value, std::string{p::result_encryptor});
  auto has_mail = [&] {  // scheduled to run: mail waits in its mailbox
    auto* job = dynamic_cast<caf::resumable*>(caf::actor_cast<caf::abstract_actor*>(encryptor));
    return job && std::find(sched.jobs.begin(), sched.jobs.end(), job) != sched.jobs.end();
  };
  for (int step = 0; step < 100000 && (redis->held_by("w1").size() < 2 || !has_mail()); ++step) {
    if (!sched.try_run_once()) sched.trigger_timeouts();
    self->receive([&](caf::actor& a) { encryptor = a; },
                  caf::after(std::chrono::seconds{0}) >> [] {});
  }
  REQUIRE(has_mail());
  REQUIRE(redis->recorded.empty());
  caf::anon_send_exit(encryptor, caf::exit_reason::kill);
  auto reason = run_to_end();
  CHECK_MESSAGE(!reason, caf::to_string(reason));
  CHECK(redis->held_by("w1").empty());
  // The jobs whose results were lost went back to the queue; a burst worker may have found it
  // empty just before: the next one finishes them.
  if (!redis->queued("default").empty()) {
    REQUIRE_FALSE(ws.make_store({})->register_worker(ws.identity));
    start(ps, material);
    reason = run_to_end();
    CHECK_MESSAGE(!reason, caf::to_string(reason));
  }
  CHECK(redis->queued("default").empty());
  CHECK(redis->held_by("w1").empty());
  // Every record's job finished, its outcome naming a stored blob that holds its result.
  auto store = pqrt::transport::make_local_blob_store(dir.path);
  auto binding = pqrt::result_binding("ds", "run1");
  std::map<std::string, pqrt::transport::job_outcome> last;
  for (const auto& o : redis->recorded)
    last[o.id] = o;
  REQUIRE(last.size() == jobs);
  for (int i = 0; i < jobs; ++i) {
    auto id = "job-" + std::to_string(i);
    CHECK_MESSAGE(redis->status(id) == "finished", id);
    const auto& o = last[id];
    REQUIRE_MESSAGE(!o.result_ref.empty(), id);
    auto body = store->get("results", o.result_ref);
    REQUIRE_MESSAGE(body, id);
    CHECK(body->size() == o.result_bytes);
    auto expected =
        pqrt::run_record_processor("sha256", "record " + std::to_string(i),
                                   std::chrono::steady_clock::now() + std::chrono::seconds{10});
    REQUIRE(expected);
    bool found = false;
    size_t start_at = 0;
    while (start_at < body->size() && !found) {
      auto end = body->find('\n', start_at);
      auto line = body->substr(start_at, end - start_at);
      start_at = end + 1;
      auto opened = material.cipher->open(binding, static_cast<uint64_t>(i), line);
      found = opened && *opened == *expected;
    }
    CHECK_MESSAGE(found, id << " has its result in " << o.result_ref);
  }
}
