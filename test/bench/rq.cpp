// pqrt's side of the RQ figures: enqueue rates through rq_store, and the enqueue-to-finish
// latency of jobs run by a pqrt worker. test/bench/rq.sh prints them next to Python RQ's
// (test/bench/rq_python.py) on the same Redis. No assertions on time.
//
// Usage: bench_rq FIGURE REDIS_URL N [QUEUE, default bench]
//   single   N calls of rq_store::enqueue with one job each (pqrt.echo(i))
//   bulk     one rq_store::enqueue call with all N jobs; the time includes building the specs
//   fill     as bulk, for a worker to drain (the line is informative only)
//   latency  N times: enqueue one job, then wait for its results stream entry (XREAD BLOCK);
//            needs a worker serving QUEUE. 20 unmeasured jobs warm up first.
// Prints one line: figure n seconds jobs/s, then for bulk the seconds spent building specs,
// for latency p50 and p99 in milliseconds.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "transport/redis_reply.hpp"
#include "transport/redis_url.hpp"
#include "transport/rq_store.hpp"

using namespace pqrt::transport;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr size_t warmup_jobs = 20;
constexpr auto result_wait = std::chrono::milliseconds{10000};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

[[noreturn]] void fail(const char* what, const caf::error& err) {
  std::fprintf(stderr, "bench_rq: %s: %s\n", what, pqrt::render(err).c_str());
  std::exit(1);
}

job_spec echo_job(const std::string& queue, size_t i) {
  job_spec spec;
  spec.queue = queue;
  spec.call.func_name = "pqrt.echo";
  spec.call.args = py_value::tuple({py_value{static_cast<int64_t>(i)}});
  return spec;
}

void enqueue_or_fail(rq_store& store, std::vector<job_spec> jobs) {
  auto added = store.enqueue(std::move(jobs));
  if (!added) fail("enqueue", added.error());
}

void single(rq_store& store, const std::string& queue, size_t n) {
  auto start = clock_type::now();
  for (size_t i = 0; i < n; ++i)
    enqueue_or_fail(store, {echo_job(queue, i)});
  auto secs = seconds_since(start);
  std::printf("single %zu %.4f %.0f\n", n, secs, static_cast<double>(n) / secs);
}

void bulk(rq_store& store, const std::string& queue, size_t n, const char* figure) {
  auto start = clock_type::now();
  std::vector<job_spec> jobs;
  jobs.reserve(n);
  for (size_t i = 0; i < n; ++i)
    jobs.push_back(echo_job(queue, i));
  auto build_secs = seconds_since(start);
  enqueue_or_fail(store, std::move(jobs));
  auto secs = seconds_since(start);
  std::printf("%s %zu %.4f %.0f %.4f\n", figure, n, secs, static_cast<double>(n) / secs,
              build_secs);
}

/// Enqueues one job and blocks until the worker wrote its result; returns the seconds taken.
double round_trip(rq_store& store, const std::string& queue, size_t i) {
  auto spec = echo_job(queue, i);
  spec.id = make_job_id();
  auto stream = "rq:results:" + spec.id;
  auto start = clock_type::now();
  enqueue_or_fail(store, {std::move(spec)});
  auto reply = store.client().command(
      {"XREAD", "BLOCK", std::to_string(result_wait.count()), "STREAMS", stream, "0"});
  if (!reply) fail("XREAD", reply.error());
  auto secs = seconds_since(start);
  if (reply->type != redis_reply::kind::array) {
    std::fprintf(stderr, "bench_rq: no result for %s within %lld ms (is a worker running?)\n",
                 stream.c_str(), static_cast<long long>(result_wait.count()));
    std::exit(1);
  }
  return secs;
}

double percentile(std::vector<double> sorted, double p) {
  auto rank = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

void latency(rq_store& store, const std::string& queue, size_t n) {
  store.client().set_timeout(result_wait + std::chrono::milliseconds{5000});
  for (size_t i = 0; i < warmup_jobs; ++i)
    round_trip(store, queue, i);
  std::vector<double> samples;
  auto start = clock_type::now();
  for (size_t i = 0; i < n; ++i)
    samples.push_back(round_trip(store, queue, i));
  auto secs = seconds_since(start);
  std::sort(samples.begin(), samples.end());
  std::printf("latency %zu %.4f %.0f %.3f %.3f\n", n, secs, static_cast<double>(n) / secs,
              percentile(samples, 0.50) * 1e3, percentile(samples, 0.99) * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_rq single|bulk|fill|latency REDIS_URL N [QUEUE]\n");
    return 2;
  }
  std::string figure = argv[1];
  auto url = parse_redis_url(argv[2]);
  if (!url) fail("redis url", url.error());
  auto n = static_cast<size_t>(std::strtoull(argv[3], nullptr, 10));
  std::string queue = argc > 4 ? argv[4] : "bench";
  rq_store store{*url, rq_serializer::pickle};
  if (auto err = store.connect()) fail("connect", err);
  if (figure == "single") {
    single(store, queue, n);
  } else if (figure == "bulk" || figure == "fill") {
    bulk(store, queue, n, figure.c_str());
  } else if (figure == "latency") {
    latency(store, queue, n);
  } else {
    std::fprintf(stderr, "bench_rq: unknown figure %s\n", figure.c_str());
    return 2;
  }
  std::fflush(stdout);
  return 0;
}
