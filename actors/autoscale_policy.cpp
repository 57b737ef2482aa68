// The autoscaler's arithmetic (see autoscale_policy.hpp).
#include "actors/autoscale_policy.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>

namespace pqrt {

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string secs(std::chrono::milliseconds d) {
  return fmt(std::chrono::duration<double>(d).count()) + " s";
}

}  // namespace

const char* to_string(autoscale_decision::action a) {
  switch (a) {
    case autoscale_decision::action::scale_out: return "scale_out";
    case autoscale_decision::action::scale_in: return "scale_in";
    default: return "hold";
  }
}

autoscale_policy::autoscale_policy(autoscale_limits limits) : limits_(limits) {
  limits_.max_workers = std::max<int64_t>(limits_.max_workers, 0);
  limits_.min_workers = std::clamp<int64_t>(limits_.min_workers, 0, limits_.max_workers);
  if (!(limits_.scale_in_margin > 0 && limits_.scale_in_margin <= 1)) limits_.scale_in_margin = 1;
}

int64_t autoscale_policy::clamp(int64_t n, bool work_left) const {
  auto low = std::max<int64_t>(limits_.min_workers, work_left ? 1 : 0);
  return std::clamp<int64_t>(n, std::min(low, limits_.max_workers), limits_.max_workers);
}

int64_t autoscale_policy::workers_for(double work, double rate, double seconds) const {
  if (work <= 0) return 0;
  auto per_worker = rate * seconds;  // jobs one worker ends in time
  if (!(per_worker > 0)) return limits_.max_workers;
  auto n = std::ceil(work / per_worker - 1e-9);
  return n >= static_cast<double>(limits_.max_workers) ? limits_.max_workers
                                                       : static_cast<int64_t>(n);
}

autoscale_decision autoscale_policy::decide(const autoscale_inputs& in,
                                            clock::time_point now) const {
  autoscale_decision d;
  d.target = in.current;
  auto since = [&](std::chrono::milliseconds cooldown) {
    return !last_change_ || now - *last_change_ >= cooldown;
  };
  auto work = std::max<int64_t>(in.queued, 0) + std::max<int64_t>(in.in_flight, 0);
  auto work_left = work > 0;
  auto drain = std::chrono::duration<double>(limits_.target_drain).count();
  if (in.run_ended) {
    d.needed = limits_.min_workers;
    if (in.current != d.needed) {
      d.act = in.current > d.needed ? autoscale_decision::action::scale_in
                                    : autoscale_decision::action::scale_out;
      d.target = d.needed;
    }
    d.why = "the run ended: the minimum, " + std::to_string(limits_.min_workers);
    return d;
  }
  bool rated = in.worker_rate && *in.worker_rate > 0;
  if (!rated) {
    // Nothing measured yet: keep what runs (it is being measured), but at least one worker
    // while there is work, and never outside the limits.
    d.needed = work_left ? clamp(std::max<int64_t>(in.current, 1), true) : clamp(0, false);
    d.why = work_left ? std::to_string(work) + " jobs and no finish rate measured yet"
                      : "no work and no finish rate";
  } else {
    d.needed = clamp(workers_for(static_cast<double>(work), *in.worker_rate, drain), work_left);
    d.why = std::to_string(work) + " jobs at " + fmt(*in.worker_rate) + " jobs/s per worker need " +
            std::to_string(d.needed) + " workers to drain in " + secs(limits_.target_drain);
  }
  if (d.needed > in.current) {
    if (since(limits_.scale_out_cooldown)) {
      d.act = autoscale_decision::action::scale_out;
      d.target = d.needed;
    } else {
      d.why += "; scale-out cooldown (" + secs(limits_.scale_out_cooldown) + ") not over";
    }
    return d;
  }
  if (d.needed < in.current) {
    // Hysteresis: the count that still drains with a margin, which is at least `needed`.
    auto keep = rated ? clamp(workers_for(static_cast<double>(work), *in.worker_rate,
                                          drain * limits_.scale_in_margin),
                              work_left)
                      : d.needed;
    if (!rated && work_left) keep = in.current;  // unmeasured work: never shrink on a guess
    if (keep >= in.current) {
      d.why += "; " + std::to_string(in.current) + " kept: fewer would not drain within " +
               fmt(limits_.scale_in_margin * 100) + "% of the target";
      return d;
    }
    if (since(limits_.scale_in_cooldown) &&
        (!started_ || now - *started_ >= limits_.scale_in_cooldown)) {
      d.act = autoscale_decision::action::scale_in;
      d.target = keep;
      if (keep != d.needed)
        d.why += "; " + std::to_string(keep) + " still drain within " +
                 fmt(limits_.scale_in_margin * 100) + "% of the target";
    } else {
      d.why += "; scale-in cooldown (" + secs(limits_.scale_in_cooldown) + ") not over";
    }
  }
  return d;
}

std::optional<double> worker_rate(const std::deque<worker_counts>& readings) {
  if (readings.size() < 2) return std::nullopt;
  const auto& now = readings.back();
  double ended = 0, seconds = 0;
  for (const auto& [name, count] : now.ended) {
    for (size_t i = 0; i + 1 < readings.size(); ++i) {
      const auto& old = readings[i].ended;
      auto it = std::lower_bound(old.begin(), old.end(), std::make_pair(name, INT64_MIN));
      if (it == old.end() || it->first != name) continue;
      auto dt = std::chrono::duration<double>(now.at - readings[i].at).count();
      if (!(dt > 0)) break;
      ended += static_cast<double>(count >= it->second ? count - it->second : count);
      seconds += dt;
      break;
    }
  }
  if (!(seconds > 0)) return std::nullopt;
  return ended / seconds;
}

}  // namespace pqrt
