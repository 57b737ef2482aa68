#pragma once

/// The autoscaler's arithmetic, apart from its actor (actors/autoscaler.hpp) so that it is tested
/// on its own, clock and all. No CAF, no Redis, no ARM here.
///
/// Inputs each round: jobs queued and in flight, workers alive, the recent finish rate per worker
/// (jobs a worker ends per second, measured from the workers' own RQ counters; none while no
/// worker has been seen twice), the scale set's current capacity, and whether the run ended.
///
/// - Needed: the workers that end `queued + in_flight` jobs within `target_drain` at the measured
///   rate, ceil(work / (rate * target_drain)), clamped to [min, max]; at least one while work
///   remains (unless max is 0).
/// - No rate yet and work remains: keep the current capacity, but at least one worker (and at
///   least min), so a run that starts on an empty scale set gets the worker it is measured on.
/// - Scale out when needed > current, once `scale_out_cooldown` has passed since the last change.
/// - Scale in only when fewer workers still drain in time with a margin: the count that ends the
///   work within `scale_in_margin * target_drain` (so a small dip of the rate or of the queue
///   does not flap), and only once `scale_in_cooldown` has passed since the last change. Never
///   below min while work remains.
/// - Run ended: to min at once (the run is over: nothing can flap, and idle VMs cost).
/// - Start: a scale-in also waits `scale_in_cooldown` from `started` (the scheduler's start), so
///   a scheduler that starts before its jobs are enqueued does not empty the scale set first.
/// So no two changes are closer than `scale_out_cooldown` (keep it the shorter one), and a
/// scale-in during a run waits `scale_in_cooldown` after any change.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pqrt {

struct autoscale_limits {
  int64_t min_workers = 0;
  int64_t max_workers = 10;
  std::chrono::milliseconds target_drain{std::chrono::seconds{900}};
  std::chrono::milliseconds scale_out_cooldown{std::chrono::seconds{60}};
  std::chrono::milliseconds scale_in_cooldown{std::chrono::seconds{300}};
  /// The fraction of `target_drain` the workers left after a scale-in must still drain in.
  double scale_in_margin = 0.8;
};

struct autoscale_inputs {
  int64_t queued = 0;
  int64_t in_flight = 0;
  int64_t workers_alive = 0;
  std::optional<double> worker_rate;  ///< jobs per second per worker, recent
  int64_t current = 0;                ///< the scale set's capacity now
  bool run_ended = false;
};

struct autoscale_decision {
  enum class action { hold, scale_out, scale_in };
  action act = action::hold;
  int64_t needed = 0;  ///< what the work needs now, clamped to the limits
  int64_t target = 0;  ///< the capacity to set (== current when holding)
  std::string why;     ///< one sentence, for the decision's log line
};

const char* to_string(autoscale_decision::action a);

class autoscale_policy {
public:
  using clock = std::chrono::steady_clock;

  explicit autoscale_policy(autoscale_limits limits);

  const autoscale_limits& limits() const { return limits_; }

  /// What to do now.
  autoscale_decision decide(const autoscale_inputs& in, clock::time_point now) const;

  /// A change went through at `now` (the cooldowns count from here).
  void changed(clock::time_point now) { last_change_ = now; }
  /// The autoscaler started at `now`: no scale-in before `scale_in_cooldown` from here.
  void started(clock::time_point now) { started_ = now; }

private:
  int64_t workers_for(double work, double rate, double seconds) const;
  int64_t clamp(int64_t n, bool work_left) const;

  autoscale_limits limits_;
  std::optional<clock::time_point> last_change_;
  std::optional<clock::time_point> started_;
};

/// One reading of the workers' RQ counters (successful + failed jobs, by worker name).
struct worker_counts {
  std::chrono::steady_clock::time_point at;
  std::vector<std::pair<std::string, int64_t>> ended;  ///< sorted by name
};

/// The finish rate per worker over `readings` (oldest first, the last one now): for each worker
/// of the last reading, the jobs it ended since the oldest reading that shows it, over the time
/// between; summed over workers, jobs per worker-second. A worker that just joined counts from
/// its first sighting; one that left is not in it; a counter that went down (a worker of the same
/// name restarted) counts from zero. nullopt when no worker was seen twice.
std::optional<double> worker_rate(const std::deque<worker_counts>& readings);

}  // namespace pqrt
