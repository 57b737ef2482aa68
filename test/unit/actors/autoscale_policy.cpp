// The autoscaler's arithmetic (actors/autoscale_policy.hpp) on a clock the test moves.
#include "actors/autoscale_policy.hpp"

#include <doctest/doctest.h>

using namespace pqrt;
using namespace std::chrono_literals;
using act = autoscale_decision::action;

namespace {

autoscale_limits limits() {
  autoscale_limits l;
  l.min_workers = 1;
  l.max_workers = 20;
  l.target_drain = 100s;
  l.scale_out_cooldown = 60s;
  l.scale_in_cooldown = 300s;
  l.scale_in_margin = 0.8;
  return l;
}

autoscale_inputs work(int64_t queued, int64_t in_flight, std::optional<double> rate,
                      int64_t current) {
  autoscale_inputs in;
  in.queued = queued;
  in.in_flight = in_flight;
  in.worker_rate = rate;
  in.current = current;
  in.workers_alive = current;
  return in;
}

const autoscale_policy::clock::time_point t0{};

}  // namespace

TEST_SUITE("autoscale_policy") {
  TEST_CASE("the count that drains the queue in time, clamped to the maximum") {
    autoscale_policy p{limits()};
    // 10,000 jobs at 10 jobs/s per worker in 100 s: 10 workers.
    auto d = p.decide(work(9'990, 10, 10.0, 2), t0);
    CHECK(d.act == act::scale_out);
    CHECK(d.needed == 10);
    CHECK(d.target == 10);
    CHECK(d.why.find("10000 jobs") != std::string::npos);
    // One more job needs an eleventh worker (ceil).
    CHECK(p.decide(work(10'001, 0, 10.0, 2), t0).target == 11);
    // 100,000 jobs would need 100: the maximum, 20.
    d = p.decide(work(100'000, 0, 10.0, 2), t0);
    CHECK(d.needed == 20);
    CHECK(d.target == 20);
    // Already there: hold.
    CHECK(p.decide(work(100'000, 0, 10.0, 20), t0).act == act::hold);
  }

  TEST_CASE("without a measured rate: at least one worker while work remains, never a guess") {
    autoscale_policy p{limits()};
    auto d = p.decide(work(10'000, 0, std::nullopt, 0), t0);
    CHECK(d.act == act::scale_out);
    CHECK(d.target == 1);
    // Workers that run but have not finished anything yet are kept, not shrunk.
    p.started(t0);
    d = p.decide(work(10'000, 0, std::nullopt, 5), t0 + 1h);
    CHECK(d.act == act::hold);
    CHECK(d.target == 5);
    // A zero rate is no rate.
    CHECK(p.decide(work(10'000, 0, 0.0, 5), t0 + 1h).act == act::hold);
  }

  TEST_CASE("the minimum holds while work remains; max 0 and min 0 are honoured") {
    auto l = limits();
    l.min_workers = 3;
    autoscale_policy p{l};
    auto d = p.decide(work(1, 0, 100.0, 0), t0);
    CHECK(d.target == 3);
    l.min_workers = 0;
    autoscale_policy zero{l};
    CHECK(zero.decide(work(0, 0, 5.0, 0), t0).act == act::hold);
    CHECK(zero.decide(work(1, 0, 5.0, 0), t0).target == 1);
    l.max_workers = 0;
    autoscale_policy none{l};
    CHECK(none.decide(work(1000, 0, 5.0, 0), t0).act == act::hold);
  }

  TEST_CASE("scale-out waits for its cooldown after a change") {
    autoscale_policy p{limits()};
    auto d = p.decide(work(2'000, 0, 10.0, 1), t0);
    REQUIRE(d.act == act::scale_out);
    p.changed(t0);
    d = p.decide(work(5'000, 0, 10.0, 2), t0 + 59s);
    CHECK(d.act == act::hold);
    CHECK(d.needed == 5);
    CHECK(d.why.find("scale-out cooldown") != std::string::npos);
    d = p.decide(work(5'000, 0, 10.0, 2), t0 + 60s);
    CHECK(d.act == act::scale_out);
    CHECK(d.target == 5);
  }

  TEST_CASE("scale-in only when fewer workers still drain within the margin, after its cooldown") {
    autoscale_policy p{limits()};
    p.started(t0);
    p.changed(t0);
    // 10 workers, 850 jobs at 10/s: 1 would need 85 s (< 100), but with the margin (80 s) 2.
    auto d = p.decide(work(850, 0, 10.0, 10), t0 + 299s);
    CHECK(d.act == act::hold);
    CHECK(d.why.find("scale-in cooldown") != std::string::npos);
    d = p.decide(work(850, 0, 10.0, 10), t0 + 300s);
    CHECK(d.act == act::scale_in);
    CHECK(d.needed == 1);
    CHECK(d.target == 2);
    // No flapping: 2 workers and a small rise of the queue (needs 2 to drain in 100 s) or of
    // a dip of the rate is not a change either way.
    p.changed(t0 + 300s);
    CHECK(p.decide(work(1'500, 0, 10.0, 2), t0 + 1000s).act == act::hold);
    CHECK(p.decide(work(850, 0, 9.0, 2), t0 + 1000s).act == act::hold);
    // 3 workers, 1,700 jobs: 2 drain in 85 s but not in 80 s: kept at 3.
    d = p.decide(work(1'700, 0, 10.0, 3), t0 + 1000s);
    CHECK(d.act == act::hold);
    CHECK(d.needed == 2);
    CHECK(d.why.find("kept") != std::string::npos);
    // Never below the minimum while work remains.
    d = p.decide(work(1, 0, 10.0, 3), t0 + 1000s);
    CHECK(d.act == act::scale_in);
    CHECK(d.target == 1);
  }

  TEST_CASE("no scale-in before the scale-in cooldown from the start") {
    autoscale_policy p{limits()};
    p.started(t0);
    CHECK(p.decide(work(0, 0, std::nullopt, 4), t0 + 10s).act == act::hold);
    auto d = p.decide(work(0, 0, std::nullopt, 4), t0 + 300s);
    CHECK(d.act == act::scale_in);
    CHECK(d.target == 1);
  }

  TEST_CASE("the end of the run: the minimum at once, cooldowns or not") {
    autoscale_policy p{limits()};
    p.started(t0);
    p.changed(t0);
    auto in = work(0, 0, 10.0, 7);
    in.run_ended = true;
    auto d = p.decide(in, t0 + 1s);
    CHECK(d.act == act::scale_in);
    CHECK(d.target == 1);
    CHECK(d.why.find("the run ended") != std::string::npos);
    in.current = 1;
    CHECK(p.decide(in, t0 + 2s).act == act::hold);
  }

  TEST_CASE("the finish rate per worker from the workers' RQ counters") {
    worker_counts a{t0, {{"w1", 100}, {"w2", 50}, {"w3", 7}}};
    worker_counts b{t0 + 10s, {{"w1", 200}, {"w2", 150}, {"w4", 1000}}};
    // w1 and w2 are in both: 200 jobs in 2 x 10 worker-seconds. w3 left, w4 is new.
    auto r = worker_rate({a, b});
    REQUIRE(r);
    CHECK(*r == doctest::Approx(10.0));
    // A worker counts from its first sighting in the window: w4 from b, the others from a.
    worker_counts c{t0 + 20s, {{"w1", 300}, {"w2", 250}, {"w4", 1100}}};
    r = worker_rate({a, b, c});
    REQUIRE(r);
    CHECK(*r == doctest::Approx((200.0 + 200.0 + 100.0) / (20.0 + 20.0 + 10.0)));
    // A worker whose counter went down restarted: its count is from zero.
    worker_counts d{t0 + 30s, {{"w1", 20}, {"w2", 350}}};
    r = worker_rate({c, d});
    REQUIRE(r);
    CHECK(*r == doctest::Approx((20.0 + 100.0) / 20.0));
    // Nobody seen twice, one reading, no time: no rate.
    CHECK_FALSE(worker_rate({a, worker_counts{t0 + 10s, {{"w9", 1}}}}));
    CHECK_FALSE(worker_rate({a}));
    CHECK_FALSE(worker_rate({a, a}));
  }
}
