// transport/rq_store against a real redis-server: what RQ records, and what pqrt adds so that no
// job is lost (atomic reserve, recovery of dead workers, retries).
#include "transport/rq_store.hpp"

#include <thread>

#include <doctest/doctest.h>

#include "fixtures/redis_server.hpp"
#include "runtime/base/error.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_time.hpp"

using namespace pqrt::transport;
namespace keys = pqrt::transport::rq_keys;

namespace {

struct store_fixture {
  pqrt::test::redis_server server;
  rq_store store{*parse_redis_url(server.url()), rq_serializer::pickle};
  redis_client raw{*parse_redis_url(server.url())};
  worker_identity a{"worker-a", {"default"}, "host", 1};
  worker_identity b{"worker-b", {"default"}, "host", 2};

  redis_reply cmd(const redis_command& c) {
    auto r = raw.command(c);
    REQUIRE(r);
    return *r;
  }
  int64_t num(const redis_command& c) { return cmd(c).integer; }
  std::string str(const redis_command& c) { return cmd(c).str; }

  job_spec echo(const std::string& id, py_value arg = py_value{"x"}) {
    job_spec spec;
    spec.id = id;
    spec.call = {"pqrt.echo", py_value{}, py_value::tuple({std::move(arg)}), {}};
    return spec;
  }

  std::vector<rq_job> reserve(const worker_identity& w, size_t max) {
    bool suspended = false;
    auto jobs = store.reserve(w, max, suspended);
    REQUIRE(jobs);
    return *jobs;
  }

  job_outcome ok(const std::string& id) {
    job_outcome o;
    o.id = id;
    o.ok = true;
    o.result = py_value{5};
    return o;
  }
};

}  // namespace

TEST_CASE_FIXTURE(store_fixture, "enqueue writes RQ's job hash and never duplicates an id") {
  auto added = store.enqueue({echo("run1-0"), echo("run1-1")});
  REQUIRE(added);
  CHECK(*added == 2);
  auto again = store.enqueue({echo("run1-0"), echo("run1-1"), echo("run1-2")});
  REQUIRE(again);
  CHECK(*again == 1);
  CHECK(num({"LLEN", keys::queue("default")}) == 3);
  CHECK(num({"SISMEMBER", keys::queues, keys::queue("default")}) == 1);
  auto job = store.fetch("run1-0");
  REQUIRE(job);
  CHECK(job->field("status") == "queued");
  CHECK(job->origin() == "default");
  CHECK(job->field("timeout") == "180");
  CHECK(job->field("description") == "pqrt.echo('x')");
  CHECK(parse_rq_timestamp(job->field("created_at")).has_value());
  CHECK(parse_rq_timestamp(job->field("enqueued_at")).has_value());
  CHECK(job->field("data").substr(0, 2) == "\x78\x9c");  // zlib, as RQ stores it
}

TEST_CASE_FIXTURE(store_fixture, "bulk enqueue of many jobs in few round trips") {
  std::vector<job_spec> jobs;
  for (int i = 0; i < 5000; ++i)
    jobs.push_back(echo("bulk-" + std::to_string(i), py_value{i}));
  auto added = store.enqueue(std::move(jobs));
  REQUIRE(added);
  CHECK(*added == 5000);
  CHECK(num({"LLEN", keys::queue("default")}) == 5000);
  CHECK(str({"LINDEX", keys::queue("default"), "0"}) == "bulk-0");
}

TEST_CASE_FIXTURE(
    store_fixture,
    "a bulk enqueue over several windows keeps each queue's order, at the front too") {
  // 25,000 jobs: three windows of 10,000 (the next encoded while Redis runs the last), two
  // queues, every 1000th job at the front of its queue.
  std::vector<job_spec> jobs;
  for (int i = 0; i < 25000; ++i) {
    auto spec = echo("w-" + std::to_string(i), py_value{i});
    spec.queue = i % 2 == 0 ? "even" : "odd";
    spec.at_front = i % 1000 == 0;
    jobs.push_back(std::move(spec));
  }
  auto added = store.enqueue(jobs);
  REQUIRE(added);
  CHECK(*added == 25000);
  CHECK(num({"SISMEMBER", keys::queues, keys::queue("even")}) == 1);
  CHECK(num({"SISMEMBER", keys::queues, keys::queue("odd")}) == 1);
  // As one push per job: the front jobs last-first at the head, then the rest in order.
  std::vector<std::string> expected;
  for (int i = 24000; i >= 0; i -= 1000)
    expected.push_back("w-" + std::to_string(i));
  for (int i = 0; i < 25000; i += 2)
    if (i % 1000 != 0) expected.push_back("w-" + std::to_string(i));
  auto even = cmd({"LRANGE", keys::queue("even"), "0", "-1"});
  REQUIRE(even.elements.size() == expected.size());
  bool same = true;
  for (size_t k = 0; k < expected.size(); ++k)
    same = same && even.elements[k].str == expected[k];
  CHECK(same);
  CHECK(num({"LLEN", keys::queue("odd")}) == 12500);
  CHECK(str({"LINDEX", keys::queue("odd"), "0"}) == "w-1");
  CHECK(str({"LINDEX", keys::queue("odd"), "-1"}) == "w-24999");
  auto job = store.fetch("w-24001");
  REQUIRE(job);
  CHECK(job->field("status") == "queued");
  CHECK(job->origin() == "odd");
  // Made again, the call adds nothing; a spec with timeout 0 anywhere sends nothing at all.
  auto again = store.enqueue(jobs);
  REQUIRE(again);
  CHECK(*again == 0);
  std::vector<job_spec> bad;
  for (int i = 0; i < 15000; ++i)
    bad.push_back(echo("bad-" + std::to_string(i)));
  bad.back().timeout = 0;
  CHECK_FALSE(store.enqueue(bad));
  CHECK(num({"EXISTS", "rq:job:bad-0"}) == 0);
}

TEST_CASE_FIXTURE(store_fixture,
                  "reserve moves a job into the worker's list and starts it, in one step") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("j1"), echo("j2"), echo("j3")}));
  auto jobs = reserve(a, 2);
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].id == "j1");
  CHECK(jobs[0].field("status") == "started");
  CHECK(jobs[0].field("worker_name") == "worker-a");
  CHECK(num({"LLEN", keys::processing("worker-a")}) == 2);
  CHECK(num({"ZCARD", keys::wip("default")}) == 2);
  CHECK(num({"LLEN", keys::queue("default")}) == 1);
}

TEST_CASE_FIXTURE(store_fixture, "queues are served in priority order") {
  worker_identity w{"worker-p", {"high", "default"}, "host", 3};
  REQUIRE(store.register_worker(w) == caf::none);
  auto low = echo("low");
  auto high = echo("high");
  high.queue = "high";
  REQUIRE(store.enqueue({low, high}));
  auto jobs = reserve(w, 1);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == "high");
}

TEST_CASE_FIXTURE(store_fixture, "a finished job is recorded as RQ records it") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("f1")}));
  REQUIRE(reserve(a, 1).size() == 1);
  REQUIRE(store.record(a, {ok("f1")}) == caf::none);
  CHECK(str({"HGET", keys::job("f1"), "status"}) == "finished");
  CHECK(num({"XLEN", keys::results("f1")}) == 1);
  CHECK(num({"ZCARD", keys::finished("default")}) == 1);
  CHECK(num({"ZCARD", keys::wip("default")}) == 0);
  CHECK(num({"LLEN", keys::processing("worker-a")}) == 0);
  CHECK(num({"TTL", keys::job("f1")}) > 400);
  auto latest = store.latest_result("f1");
  REQUIRE(latest);
  REQUIRE(latest->size() == 4);
  CHECK((*latest)[3] == "gAVLBS4=");  // base64(pickle(5)), byte for byte what RQ writes
  REQUIRE(store.record(a, {ok("f1")}) == caf::none);  // a repeated record changes nothing
  CHECK(num({"XLEN", keys::results("f1")}) == 1);
}

TEST_CASE_FIXTURE(store_fixture,
                  "many outcomes are recorded in batched calls, each exactly as one alone") {
  // 600 outcomes: finish batches of at most 256 jobs, broken up by failures in between, and one
  // job another worker holds now (gone for this one).
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.register_worker(b) == caf::none);
  constexpr int n = 600;
  std::vector<job_spec> specs;
  for (int i = 0; i < n; ++i)
    specs.push_back(echo("m" + std::to_string(i)));
  specs.push_back(echo("theirs"));
  REQUIRE(store.enqueue(specs));
  REQUIRE(reserve(a, n).size() == n);
  REQUIRE(reserve(b, 1).size() == 1);
  std::vector<job_outcome> outcomes;
  double working = 0;
  for (int i = 0; i < n; ++i) {
    auto o = ok("m" + std::to_string(i));
    if (i % 97 == 13) {
      o.ok = false;
      o.error_text = "boom " + std::to_string(i);
      o.retry_delay = -1;
    }
    o.working_secs = 0.001 * (i % 7);
    working += o.working_secs;  // RQ counts a failure's working time too
    outcomes.push_back(o);
    if (i == 300) outcomes.push_back(ok("theirs"));  // not this worker's: gone
  }
  std::vector<std::string> states;
  REQUIRE(store.record(a, outcomes, &states) == caf::none);
  REQUIRE(states.size() == outcomes.size());
  int finished = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const auto& o = outcomes[i];
    if (o.id == "theirs") {
      CHECK(states[i] == "gone");
      CHECK(str({"HGET", keys::job("theirs"), "status"}) == "started");
      continue;
    }
    auto want = o.ok ? "finished" : "failed";
    CHECK_MESSAGE(states[i] == want, o.id);
    CHECK_MESSAGE(str({"HGET", keys::job(o.id), "status"}) == want, o.id);
    if (o.ok) {
      ++finished;
      CHECK_MESSAGE(num({"XLEN", keys::results(o.id)}) == 1, o.id);
    }
  }
  CHECK(num({"ZCARD", keys::finished("default")}) == finished);
  CHECK(num({"ZCARD", keys::wip("default")}) == 1);  // theirs
  CHECK(num({"LLEN", keys::processing("worker-a")}) == 0);
  CHECK(str({"HGET", keys::worker("worker-a"), "successful_job_count"}) ==
        std::to_string(finished));
  CHECK(std::stod(str({"HGET", keys::worker("worker-a"), "total_working_time"})) ==
        doctest::Approx(working).epsilon(1e-6));
  CHECK(cmd({"HGET", keys::worker("worker-a"), "current_job"}).is_nil());
}

TEST_CASE_FIXTURE(store_fixture, "a failure goes to the failed registry with its text") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("x1")}));
  REQUIRE(reserve(a, 1).size() == 1);
  job_outcome failed;
  failed.id = "x1";
  failed.error_text = "Exception: boom";
  REQUIRE(store.record(a, {failed}) == caf::none);
  CHECK(str({"HGET", keys::job("x1"), "status"}) == "failed");
  CHECK(num({"ZCARD", keys::failed("default")}) == 1);
  auto latest = store.latest_result("x1");
  REQUIRE(latest);
  REQUIRE(latest->size() == 4);
  CHECK((*latest)[1] == "2");
  CHECK(*decode_exc_string((*latest)[3]) == "Exception: boom");
}

TEST_CASE_FIXTURE(store_fixture, "retries count down retries_left through the scheduled registry") {
  REQUIRE(store.register_worker(a) == caf::none);
  auto spec = echo("r1");
  spec.retries = 2;
  REQUIRE(store.enqueue({spec}));
  REQUIRE(reserve(a, 1).size() == 1);
  job_outcome failed;
  failed.id = "r1";
  failed.error_text = "Exception: flaky";
  failed.retry_delay = 1;
  REQUIRE(store.record(a, {failed}) == caf::none);
  CHECK(str({"HGET", keys::job("r1"), "status"}) == "scheduled");
  CHECK(str({"HGET", keys::job("r1"), "retries_left"}) == "1");
  CHECK(num({"ZCARD", keys::scheduled("default")}) == 1);
  CHECK(num({"ZCARD", keys::failed("default")}) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds{2100});  // the scheduled time passes
  auto promoted = store.promote_scheduled({"default"});
  REQUIRE(promoted);
  CHECK(*promoted == 1);
  CHECK(str({"HGET", keys::job("r1"), "status"}) == "queued");
  CHECK(num({"LLEN", keys::queue("default")}) == 1);
}

TEST_CASE_FIXTURE(store_fixture, "a dead worker's jobs go back to the front of their queue") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.register_worker(b) == caf::none);
  REQUIRE(store.enqueue({echo("d1"), echo("d2"), echo("d3"), echo("d4")}));
  REQUIRE(reserve(a, 3).size() == 3);
  cmd({"DEL", keys::alive("worker-a")});  // its liveness ran out
  auto recovered = store.recover_dead_workers();
  REQUIRE(recovered);
  CHECK(*recovered == 3);
  auto order = cmd({"LRANGE", keys::queue("default"), "0", "-1"});
  REQUIRE(order.elements.size() == 4);
  CHECK(order.elements[0].str == "d1");
  CHECK(order.elements[2].str == "d3");
  CHECK(str({"HGET", keys::job("d1"), "status"}) == "queued");
  CHECK(str({"HGET", keys::job("d1"), "pqrt_attempts"}) == "1");
  CHECK(num({"ZCARD", keys::wip("default")}) == 0);
  CHECK(num({"SISMEMBER", keys::workers, keys::worker("worker-a")}) == 0);
  CHECK(num({"SISMEMBER", keys::workers, keys::worker("worker-b")}) == 1);
}

TEST_CASE_FIXTURE(store_fixture,
                  "a job a dead worker moved by BLMOVE and never claimed goes back to its queue") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("m1"), echo("m2")}));
  REQUIRE(reserve(a, 1).size() == 1);  // m1: started
  // wait_and_reserve's first step alone: the worker died before its claim script ran.
  REQUIRE(str({"BLMOVE", keys::queue("default"), keys::processing("worker-a"), "LEFT", "RIGHT",
               "1"}) == "m2");
  REQUIRE(str({"HGET", keys::job("m2"), "status"}) == "queued");
  cmd({"DEL", keys::alive("worker-a")});
  auto recovered = store.recover_dead_workers();
  REQUIRE(recovered);
  CHECK(*recovered == 2);
  auto order = cmd({"LRANGE", keys::queue("default"), "0", "-1"});
  REQUIRE(order.elements.size() == 2);
  CHECK(order.elements[0].str == "m1");
  CHECK(order.elements[1].str == "m2");
  CHECK(str({"HGET", keys::job("m2"), "status"}) == "queued");
  CHECK(num({"HEXISTS", keys::job("m2"), "pqrt_attempts"}) == 0);  // it never started
  CHECK(num({"EXISTS", keys::processing("worker-a")}) == 0);
  // Each runs once from there.
  REQUIRE(store.register_worker(b) == caf::none);
  auto again = reserve(b, 4);
  REQUIRE(again.size() == 2);
  REQUIRE(store.record(b, {ok("m1"), ok("m2")}) == caf::none);
  CHECK(str({"HGET", keys::job("m2"), "status"}) == "finished");
  CHECK(num({"LLEN", keys::queue("default")}) == 0);
}

TEST_CASE_FIXTURE(store_fixture, "a job that keeps killing workers fails after max attempts") {
  store.liveness().max_attempts = 2;
  for (int round = 0; round < 2; ++round) {
    REQUIRE(store.register_worker(a) == caf::none);
    if (round == 0) REQUIRE(store.enqueue({echo("poison")}));
    REQUIRE(reserve(a, 1).size() == 1);
    cmd({"DEL", keys::alive("worker-a")});
    REQUIRE(store.recover_dead_workers());
  }
  CHECK(str({"HGET", keys::job("poison"), "status"}) == "failed");
  CHECK(num({"ZCARD", keys::failed("default")}) == 1);
}

TEST_CASE_FIXTURE(store_fixture, "a worker taken for dead that finishes its job takes it back") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("late")}));
  REQUIRE(reserve(a, 1).size() == 1);
  cmd({"DEL", keys::alive("worker-a")});
  REQUIRE(store.recover_dead_workers());
  REQUIRE(store.record(a, {ok("late")}) == caf::none);
  CHECK(str({"HGET", keys::job("late"), "status"}) == "finished");
  CHECK(num({"LLEN", keys::queue("default")}) == 0);  // not run a second time
}

TEST_CASE_FIXTURE(store_fixture, "a worker taken for dead registers again on its next heartbeat") {
  REQUIRE(store.register_worker(a) == caf::none);
  cmd({"DEL", keys::alive("worker-a")});  // a stall longer than the liveness TTL
  REQUIRE(store.recover_dead_workers());
  REQUIRE(num({"SISMEMBER", keys::workers, keys::worker("worker-a")}) == 0);
  auto beat = store.heartbeat(a);
  REQUIRE(beat);
  CHECK_FALSE(*beat);  // not suspended
  CHECK(num({"SISMEMBER", keys::workers, keys::worker("worker-a")}) == 1);
  CHECK(num({"SISMEMBER", keys::queue_workers("default"), keys::worker("worker-a")}) == 1);
  CHECK(num({"SISMEMBER", keys::pqrt_workers, "worker-a"}) == 1);
  CHECK(num({"HEXISTS", keys::worker("worker-a"), "death"}) == 0);
  CHECK(num({"TTL", keys::worker("worker-a")}) > 60);
}

TEST_CASE_FIXTURE(store_fixture,
                  "a run's jobs keep status records and bitmaps, and never run twice") {
  auto run_job = [&](const std::string& id, int index) {
    auto spec = echo(id);
    spec.retries = 1;
    spec.extra_fields = {{"pqrt_run", "r1"},
                         {"pqrt_index", std::to_string(index)},
                         {"pqrt_status", "task-status-" + id}};
    return spec;
  };
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({run_job("r1-0", 0), run_job("r1-1", 1)}));
  CHECK(str({"HGET", "task-status-r1-0", "state"}) == "queued");
  REQUIRE(reserve(a, 2).size() == 2);
  CHECK(str({"HGET", "task-status-r1-1", "state"}) == "started");
  CHECK(str({"HGET", "task-status-r1-1", "worker"}) == "worker-a");
  CHECK(str({"HGET", "task-status-r1-1", "attempts"}) == "1");
  auto done = ok("r1-0");
  done.result_ref = "r1/results/blob-1";
  job_outcome bad;
  bad.id = "r1-1";
  bad.error_text = "record 1 does not open";
  bad.retry_delay = -1;  // never retried
  std::vector<std::string> states;
  REQUIRE(store.record(a, {done, bad}, &states) == caf::none);
  CHECK(states == std::vector<std::string>{"finished", "failed"});
  CHECK(str({"HGET", "task-status-r1-0", "result"}) == "r1/results/blob-1");
  CHECK(str({"HGET", "task-status-r1-1", "state"}) == "failed");
  CHECK(str({"HGET", "task-status-r1-1", "error"}) == "record 1 does not open");
  auto counts = store.count_run("r1");
  REQUIRE(counts);
  CHECK(counts->finished == 1);
  CHECK(counts->failed == 1);
  auto failed = store.run_bitmap("r1", true, 2);
  REQUIRE(failed);
  CHECK(*failed == std::vector<bool>{false, true});
  // The job hashes expire long before a second scheduler may come: the bitmaps still say no.
  cmd({"DEL", keys::job("r1-0"), keys::job("r1-1")});
  auto added = store.enqueue({run_job("r1-0", 0), run_job("r1-1", 1)});
  REQUIRE(added);
  CHECK(*added == 0);
  CHECK(num({"LLEN", keys::queue("default")}) == 0);
}

namespace {

/// A job of `n` records of run r1 from `first` on, as the scheduler writes it (retries: 1).
job_spec chunk_job(uint64_t first, uint64_t n) {
  job_spec spec;
  spec.id = "r1-" + std::to_string(first);
  spec.call = {
      "pqrt.records", py_value{}, py_value::tuple({"r1", "ds", first, py_value::list({})}), {}};
  spec.retries = 1;
  spec.extra_fields = {{"pqrt_run", "r1"},
                       {"pqrt_index", std::to_string(first)},
                       {"pqrt_count", std::to_string(n)},
                       {"pqrt_status", "task-status-r1-"}};
  return spec;
}

job_outcome chunk_outcome(const std::string& id, std::vector<record_outcome> records) {
  job_outcome o;
  o.id = id;
  o.chunk = true;
  o.records = std::move(records);
  o.ok = true;
  for (const auto& r : o.records)
    o.ok = o.ok && r.ok;
  o.result_ref = "r1/results/blob-" + id;
  o.result_bytes = 100;
  return o;
}

}  // namespace

TEST_CASE_FIXTURE(store_fixture,
                  "a job of many records: each record accounted alone, only failed ones retried") {
  REQUIRE(store.register_worker(a) == caf::none);
  auto added = store.enqueue({chunk_job(8, 4)});
  REQUIRE(added);
  CHECK(*added == 4);  // records
  for (int i = 8; i < 12; ++i) {
    CHECK(str({"HGET", "task-status-r1-" + std::to_string(i), "state"}) == "queued");
    CHECK(str({"HGET", "task-status-r1-" + std::to_string(i), "job_id"}) == "r1-8");
  }
  CHECK(*store.enqueue({chunk_job(8, 4)}) == 0);  // queued: left alone
  auto jobs = reserve(a, 4);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].field("pqrt_ended") == "0000");
  CHECK(*store.enqueue({chunk_job(8, 4)}) == 0);  // running: left alone
  // Records 8 and 11 succeed, 9 fails (worth a retry), 10 does not open (never retried).
  auto first = chunk_outcome("r1-8", {{8, true, "", false},
                                      {9, false, "script exited 1", true},
                                      {10, false, "record 10 does not open", false},
                                      {11, true, "", false}});
  first.retry_delay = 0;
  std::vector<std::string> states;
  REQUIRE(store.record(a, {first}, &states) == caf::none);
  CHECK(states == std::vector<std::string>{"retried"});
  CHECK(str({"HGET", keys::job("r1-8"), "status"}) == "queued");
  CHECK(str({"HGET", keys::job("r1-8"), "retries_left"}) == "0");
  CHECK(str({"HGET", "task-status-r1-8", "state"}) == "finished");
  CHECK(str({"HGET", "task-status-r1-8", "result"}) == "r1/results/blob-r1-8");
  CHECK(str({"HGET", "task-status-r1-8", "attempts"}) == "1");
  CHECK(str({"HGET", "task-status-r1-9", "state"}) == "queued");
  CHECK(str({"HGET", "task-status-r1-9", "error"}) == "script exited 1");
  CHECK(str({"HGET", "task-status-r1-10", "state"}) == "failed");
  CHECK(str({"HGET", "task-status-r1-10", "error"}) == "record 10 does not open");
  CHECK(str({"HGET", "pqrt:run:r1:blobs", "r1/results/blob-r1-8"}) == "100");
  auto counts = store.count_run("r1");
  REQUIRE(counts);
  CHECK(counts->finished == 2);
  CHECK(counts->failed == 1);
  // The retry skips the records that ended: only 9 runs, and fails again with no retry left.
  jobs = reserve(a, 4);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].field("pqrt_ended") == "1011");
  auto second = chunk_outcome("r1-8", {{9, false, "script exited 1 again", true}});
  REQUIRE(store.record(a, {second}, &states) == caf::none);
  CHECK(states == std::vector<std::string>{"failed"});
  CHECK(str({"HGET", keys::job("r1-8"), "status"}) == "failed");
  CHECK_FALSE(cmd({"ZSCORE", keys::failed("default"), "r1-8"}).is_nil());
  CHECK(str({"HGET", "task-status-r1-9", "state"}) == "failed");
  CHECK(str({"HGET", "task-status-r1-9", "attempts"}) == "2");
  CHECK(str({"HGET", "task-status-r1-8", "result"}) == "r1/results/blob-r1-8");  // kept
  auto finished = store.run_bitmap("r1", false, 12);
  auto failed = store.run_bitmap("r1", true, 12);
  REQUIRE(finished);
  REQUIRE(failed);
  CHECK(std::vector<bool>(finished->begin() + 8, finished->end()) ==
        std::vector<bool>{true, false, false, true});
  CHECK(std::vector<bool>(failed->begin() + 8, failed->end()) ==
        std::vector<bool>{false, true, true, false});
  auto latest = store.latest_result("r1-8");
  REQUIRE(latest);
  // Every record ended: a second scheduler adds nothing.
  CHECK(*store.enqueue({chunk_job(8, 4)}) == 0);
  CHECK(num({"LLEN", keys::queue("default")}) == 0);
}

TEST_CASE_FIXTURE(store_fixture,
                  "a record of a finished job of many records run again: only it, in that job") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({chunk_job(0, 3)}));
  REQUIRE(reserve(a, 1).size() == 1);
  std::vector<std::string> states;
  REQUIRE(
      store.record(a,
                   {chunk_outcome(
                       "r1-0", {{0, true, "", false}, {1, true, "", false}, {2, true, "", false}})},
                   &states) == caf::none);
  CHECK(states == std::vector<std::string>{"finished"});
  CHECK(str({"HGET", keys::job("r1-0"), "status"}) == "finished");
  CHECK(num({"ZCARD", keys::finished("default")}) == 1);
  CHECK(str({"HGET", keys::worker("worker-a"), "successful_job_count"}) == "1");
  // Its result blob was lost: the scheduler takes record 1 back and enqueues the run again.
  auto taken = store.rerun_records(
      "r1", "default", {{"r1-1", 1, "task-status-r1-1", "r1/results/blob-r1-0", "blob missing"}});
  REQUIRE(taken);
  CHECK(*taken == 1);
  auto added = store.enqueue({chunk_job(0, 3)});
  REQUIRE(added);
  CHECK(*added == 1);
  CHECK(str({"HGET", "task-status-r1-1", "state"}) == "queued");
  CHECK(str({"HGET", "task-status-r1-1", "rerun"}) == "blob missing");
  CHECK(str({"HGET", "task-status-r1-0", "state"}) == "finished");  // untouched
  auto jobs = reserve(a, 1);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].field("pqrt_ended") == "101");
  REQUIRE(store.record(a, {chunk_outcome("r1-0", {{1, true, "", false}})}, &states) == caf::none);
  CHECK(states == std::vector<std::string>{"finished"});
  auto counts = store.count_run("r1");
  REQUIRE(counts);
  CHECK(counts->finished == 3);
}

TEST_CASE_FIXTURE(store_fixture,
                  "a job of many records that keeps killing workers fails its open records") {
  store.liveness().max_attempts = 1;
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({chunk_job(0, 3)}));
  REQUIRE(reserve(a, 1).size() == 1);
  cmd({"SETBIT", "pqrt:run:r1:finished", "0", "1"});  // record 0 ended in an earlier attempt
  cmd({"DEL", keys::alive("worker-a")});
  REQUIRE(store.recover_dead_workers());
  CHECK(str({"HGET", keys::job("r1-0"), "status"}) == "failed");
  CHECK(str({"HGET", "task-status-r1-1", "state"}) == "failed");
  CHECK(str({"HGET", "task-status-r1-2", "error"}).find("died") != std::string::npos);
  CHECK(str({"HGET", "task-status-r1-0", "state"}) == "queued");  // not touched
  auto counts = store.count_run("r1");
  REQUIRE(counts);
  CHECK(counts->finished == 1);
  CHECK(counts->failed == 2);
}

TEST_CASE_FIXTURE(store_fixture, "rq suspend stops reserving") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("s1")}));
  cmd({"SET", keys::suspended, "1"});
  bool suspended = false;
  auto jobs = store.reserve(a, 1, suspended);
  REQUIRE(jobs);
  CHECK(suspended);
  CHECK(jobs->empty());
  CHECK(num({"LLEN", keys::queue("default")}) == 1);
}

TEST_CASE_FIXTURE(store_fixture,
                  "deregistering returns reserved jobs without counting an attempt") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("g1")}));
  REQUIRE(reserve(a, 1).size() == 1);
  REQUIRE(store.deregister_worker(a) == caf::none);
  CHECK(str({"HGET", keys::job("g1"), "status"}) == "queued");
  CHECK(cmd({"HGET", keys::job("g1"), "pqrt_attempts"}).is_nil());
  CHECK(num({"LLEN", keys::queue("default")}) == 1);
  CHECK(!str({"HGET", keys::worker("worker-a"), "death"}).empty());
}

TEST_CASE_FIXTURE(store_fixture,
                  "a drain releases reserved jobs that never started, in order, uncounted") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("h1"), echo("h2"), echo("h3"), echo("h4")}));
  REQUIRE(reserve(a, 3).size() == 3);
  auto back = store.release(a, {"h2", "h3", "h9"});  // h9: never reserved here
  REQUIRE(back);
  CHECK(*back == 2);
  auto order = cmd({"LRANGE", keys::queue("default"), "0", "-1"});
  REQUIRE(order.elements.size() == 3);
  CHECK(order.elements[0].str == "h2");
  CHECK(order.elements[1].str == "h3");
  CHECK(order.elements[2].str == "h4");
  CHECK(str({"HGET", keys::job("h2"), "status"}) == "queued");
  CHECK(str({"HGET", keys::job("h2"), "worker_name"}).empty());
  CHECK(cmd({"HGET", keys::job("h2"), "pqrt_attempts"}).is_nil());
  CHECK(num({"ZCARD", keys::wip("default")}) == 1);  // h1 still runs
  auto held = cmd({"LRANGE", keys::processing("worker-a"), "0", "-1"});
  REQUIRE(held.elements.size() == 1);
  CHECK(held.elements[0].str == "h1");
  auto again = store.release(a, {"h2"});  // already back: nothing happens twice
  REQUIRE(again);
  CHECK(*again == 0);
  CHECK(num({"LLEN", keys::queue("default")}) == 3);
  REQUIRE(store.deregister_worker(a) == caf::none);  // returns the rest
  CHECK(num({"LLEN", keys::queue("default")}) == 4);
}

TEST_CASE_FIXTURE(store_fixture, "finishing a parent enqueues its deferred child") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("parent")}));
  cmd({"HSET", keys::job("child"), "status", "deferred", "origin", "default", "data", "x"});
  cmd({"SADD", keys::dependents("parent"), "child"});
  cmd({"SADD", keys::dependencies("child"), "parent"});
  cmd({"ZADD", keys::deferred("default"), "1", "child"});
  REQUIRE(reserve(a, 1).size() == 1);
  REQUIRE(store.record(a, {ok("parent")}) == caf::none);
  CHECK(str({"HGET", keys::job("child"), "status"}) == "queued");
  CHECK(str({"LINDEX", keys::queue("default"), "0"}) == "child");
  CHECK(num({"ZCARD", keys::deferred("default")}) == 0);
}

TEST_CASE_FIXTURE(store_fixture, "a finished job's dependency sets follow its result TTL") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("p1"), echo("p2"), echo("j"), echo("legacy")}));
  // c waits for p1 and p2; j was enqueued with a parent that finished long ago.
  cmd({"HSET", keys::job("c"), "status", "deferred", "origin", "default", "data", "x",
       "dependency_ids", "[\"p1\", \"p2\"]"});
  cmd({"SADD", keys::dependents("p1"), "c"});
  cmd({"SADD", keys::dependents("p2"), "c"});
  cmd({"SADD", keys::dependencies("c"), "p1", "p2"});
  cmd({"ZADD", keys::deferred("default"), "1", "c"});
  cmd({"HSET", keys::job("j"), "dependency_ids", "[\"old\"]"});
  cmd({"SADD", keys::dependencies("j"), "old"});
  // Written by an RQ older than 1.13: only the legacy single-parent field.
  cmd({"HSET", keys::job("legacy"), "dependency_id", "old"});
  cmd({"SADD", keys::dependencies("legacy"), "old"});
  REQUIRE(reserve(a, 4).size() == 4);
  REQUIRE(store.record(a, {ok("p1"), ok("j"), ok("legacy")}) == caf::none);
  // p1 finished, c still waits for p2: p1's dependents set stays, with p1's TTL; j's parents
  // set takes j's TTL; both keys live as long as their job's hash.
  CHECK(str({"HGET", keys::job("c"), "status"}) == "deferred");
  auto job_ttl = num({"TTL", keys::job("p1")});
  auto dependents_ttl = num({"TTL", keys::dependents("p1")});  // read second: never longer
  CHECK(job_ttl > 0);
  CHECK(dependents_ttl > 0);
  CHECK(dependents_ttl <= job_ttl);
  CHECK(num({"TTL", keys::dependencies("j")}) > 0);
  CHECK(num({"TTL", keys::dependencies("j")}) <= num({"TTL", keys::job("j")}));
  CHECK(num({"TTL", keys::dependencies("legacy")}) > 0);
  // p2 finishes: c is enqueued and p2's dependents set is gone.
  REQUIRE(store.record(a, {ok("p2")}) == caf::none);
  CHECK(str({"HGET", keys::job("c"), "status"}) == "queued");
  CHECK(num({"EXISTS", keys::dependents("p2")}) == 0);
  CHECK(num({"EXISTS", keys::dependencies("p2")}) == 0);  // never had parents: never created
}

TEST_CASE_FIXTURE(store_fixture,
                  "jobs a lost reserve reply started are reclaimed by their worker") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("l1"), echo("l2"), echo("l3")}));
  REQUIRE(reserve(a, 2).size() == 2);  // pretend this reply never arrived
  cmd({"LMOVE", keys::queue("default"), keys::processing("worker-a"), "LEFT",
       "RIGHT"});  // a BLMOVE
  auto again = store.reclaim(a);
  REQUIRE(again);
  REQUIRE(again->size() == 3);
  CHECK((*again)[0].id == "l1");
  CHECK((*again)[2].id == "l3");
  CHECK(str({"HGET", keys::job("l3"), "status"}) == "started");
  CHECK(num({"ZCARD", keys::wip("default")}) == 3);
}

TEST_CASE_FIXTURE(store_fixture,
                  "a run's record whose result blob is lost is taken back and enqueued again") {
  auto spec = [&](int i) {
    auto s = echo("r-" + std::to_string(i));
    s.extra_fields = {{"pqrt_run", "r"},
                      {"pqrt_index", std::to_string(i)},
                      {"pqrt_status", "task-status-r-" + std::to_string(i)}};
    return s;
  };
  auto done = [&](int i, const std::string& blob, uint64_t bytes) {
    auto o = ok("r-" + std::to_string(i));
    o.result_ref = blob;
    o.result_bytes = bytes;
    return o;
  };
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({spec(0), spec(1)}));
  REQUIRE(reserve(a, 2).size() == 2);
  REQUIRE(store.record(a, {done(0, "r/results/w-1-000000", 120),
                           done(1, "r/results/w-1-000001", 80)}) == caf::none);
  // The finish that records the jobs finished also records each blob's size.
  auto sizes = store.run_blob_sizes("r");
  REQUIRE(sizes);
  CHECK(sizes->size() == 2);
  CHECK(sizes->at("r/results/w-1-000000") == 120);
  CHECK(sizes->at("r/results/w-1-000001") == 80);
  CHECK(str({"HGET", keys::job("r-0"), "status"}) == "finished");
  CHECK(num({"BITCOUNT", keys::run_finished("r")}) == 2);

  // Taken back only while finished and naming that blob (r-1 names another one).
  const std::string why = "result blob missing: r/results/w-1-000000";
  std::vector<record_to_rerun> lost{{"r-0", 0, "task-status-r-0", "r/results/w-1-000000", why},
                                    {"r-1", 1, "task-status-r-1", "r/results/gone", "stale"}};
  auto taken = store.rerun_records("r", "default", lost);
  REQUIRE(taken);
  CHECK(*taken == 1);
  CHECK(num({"GETBIT", keys::run_finished("r"), "0"}) == 0);
  CHECK(num({"GETBIT", keys::run_finished("r"), "1"}) == 1);
  CHECK(num({"EXISTS", keys::job("r-0"), keys::results("r-0")}) == 0);
  CHECK(num({"ZCARD", keys::finished("default")}) == 1);
  CHECK(str({"HGET", "task-status-r-0", "state"}) == "queued");
  CHECK(str({"HGET", "task-status-r-0", "error"}) == why);
  CHECK(str({"HGET", "task-status-r-1", "state"}) == "finished");

  // The next enqueue pass adds exactly that record, keeping why it runs again.
  auto added = store.enqueue({spec(0), spec(1)});
  REQUIRE(added);
  CHECK(*added == 1);
  CHECK(str({"HGET", "task-status-r-0", "state"}) == "queued");
  CHECK(str({"HGET", "task-status-r-0", "rerun"}) == why);
  CHECK(str({"HGET", "task-status-r-0", "error"}) == why);
  REQUIRE(reserve(a, 1).size() == 1);
  REQUIRE(store.record(a, {done(0, "r/results/w-2-000000", 120)}) == caf::none);
  CHECK(str({"HGET", "task-status-r-0", "state"}) == "finished");
  CHECK(str({"HGET", "task-status-r-0", "result"}) == "r/results/w-2-000000");
  CHECK(str({"HGET", "task-status-r-0", "error"}).empty());
  CHECK(num({"BITCOUNT", keys::run_finished("r")}) == 2);
  auto later = store.rerun_records("r", "default", lost);  // it names its new blob now
  REQUIRE(later);
  CHECK(*later == 0);
}

TEST_CASE_FIXTURE(store_fixture, "a plain RQ job records no result blob") {
  REQUIRE(store.register_worker(a) == caf::none);
  REQUIRE(store.enqueue({echo("plain")}));
  REQUIRE(reserve(a, 1).size() == 1);
  auto o = ok("plain");
  o.result_ref = "somewhere";
  o.result_bytes = 9;
  REQUIRE(store.record(a, {o}) == caf::none);
  CHECK(cmd({"KEYS", "pqrt:run:*"}).elements.empty());
}

TEST_CASE_FIXTURE(store_fixture, "a command published for a worker reaches its subscription") {
  auto feed = store.subscribe_commands(a);
  REQUIRE(feed);
  auto none = (*feed)->next(std::chrono::milliseconds{50});
  REQUIRE(none);
  CHECK_FALSE(*none);  // nothing published: an empty wait
  // What rq.command.send_kill_horse_command publishes (json.dumps of its payload).
  CHECK(num({"PUBLISH", keys::pubsub("worker-b"), R"({"command": "kill-horse"})"}) == 0);
  CHECK(num({"PUBLISH", keys::pubsub("worker-a"), R"({"command": "kill-horse"})"}) == 1);
  auto got = (*feed)->next(std::chrono::seconds{5});
  REQUIRE(got);
  REQUIRE(*got);
  CHECK(**got == R"({"command": "kill-horse"})");
}
