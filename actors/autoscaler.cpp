// The autoscaler actor (see autoscaler.hpp).
#include "actors/autoscaler.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"

namespace pqrt {

namespace {

using clock = std::chrono::steady_clock;

struct gauges {
  prom::gauge& queued;
  prom::gauge& in_flight;
  prom::gauge& workers;
  prom::gauge& rate;
  prom::gauge& current;
  prom::gauge& needed;
  prom::gauge& target;
  prom::counter& changes;
  prom::counter& errors;

  static gauges& get() {
    auto& r = prom::registry::global();
    static gauges g{
        r.get_gauge("pqrt_autoscale_queued_jobs", "jobs waiting in the queue (last round)"),
        r.get_gauge("pqrt_autoscale_in_flight_jobs", "jobs being worked on (last round)"),
        r.get_gauge("pqrt_autoscale_workers_alive", "live workers of the queue (last round)"),
        r.get_gauge("pqrt_autoscale_worker_rate", "jobs ended per second per worker, recent"),
        r.get_gauge("pqrt_autoscale_current_workers", "the scale set's capacity (last round)"),
        r.get_gauge("pqrt_autoscale_needed_workers", "workers the work needs (last round)"),
        r.get_gauge("pqrt_autoscale_target_workers", "capacity the last round decided on"),
        r.get_counter("pqrt_autoscale_changes_total", "capacity changes sent to ARM"),
        r.get_counter("pqrt_autoscale_errors_total", "autoscaler rounds that failed"),
    };
    return g;
  }
};

struct autoscaler_state {
  std::shared_ptr<const autoscale_settings> settings;
  std::unique_ptr<transport::job_store> store;
  std::unique_ptr<autoscale_policy> policy;
  std::deque<worker_counts> history;  // readings within the rate window, oldest first
  std::string last_error;
  uint64_t failed_rounds = 0;
  bool stopping = false;
  static inline const char* name = "autoscaler";
};

using autoscaler_actor = caf::stateful_actor<autoscaler_state>;

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

bool serves(const transport::worker_info& w, const std::string& queue) {
  size_t start = 0;
  while (start <= w.queues.size()) {
    auto end = w.queues.find(',', start);
    if (end == std::string::npos) end = w.queues.size();
    if (w.queues.compare(start, end - start, queue) == 0) return true;
    start = end + 1;
  }
  return false;
}

void failed(autoscaler_actor* self, const std::string& what, const caf::error& err) {
  auto& st = self->state;
  gauges::get().errors.inc();
  ++st.failed_rounds;
  auto text = what + ": " + render(err);
  if (text == st.last_error) return;  // said once for as long as it repeats
  st.last_error = text;
  log::error("autoscaler", "round failed; the scale set is left as it is",
             {{"scale_set", st.settings->scale_set_id}, {"error", text}});
}

void round(autoscaler_actor* self, bool final_round) {
  auto& st = self->state;
  const auto& s = *st.settings;
  auto now = clock::now();
  auto load = st.store->load(s.queue);
  if (!load) return failed(self, "reading queue " + s.queue + " from Redis", load.error());
  auto workers = st.store->workers_info();
  if (!workers) return failed(self, "reading the workers from Redis", workers.error());
  worker_counts reading{now, {}};
  for (const auto& w : *workers)
    if (serves(w, s.queue)) reading.ended.emplace_back(w.name, w.successful + w.failed);
  std::sort(reading.ended.begin(), reading.ended.end());
  st.history.push_back(reading);
  auto window = std::max<clock::duration>(5 * s.interval, std::chrono::seconds{1});
  while (st.history.size() > 2 && now - st.history[1].at >= window)
    st.history.pop_front();
  auto rate = worker_rate(st.history);
  auto current = s.arm->get_capacity(s.scale_set_id);
  if (!current) return failed(self, "reading the scale set's capacity from ARM", current.error());
  autoscale_inputs in;
  in.queued = load->queued;
  in.in_flight = load->in_flight;
  in.workers_alive = static_cast<int64_t>(reading.ended.size());
  in.worker_rate = rate;
  in.current = *current;
  in.run_ended = final_round;
  auto d = st.policy->decide(in, now);
  auto& g = gauges::get();
  g.queued.set(static_cast<double>(in.queued));
  g.in_flight.set(static_cast<double>(in.in_flight));
  g.workers.set(static_cast<double>(in.workers_alive));
  g.rate.set(rate ? *rate : 0);
  g.current.set(static_cast<double>(in.current));
  g.needed.set(static_cast<double>(d.needed));
  g.target.set(static_cast<double>(d.target));
  if (st.failed_rounds > 0) {
    log::info("autoscaler", "recovered", {{"failed_rounds", std::to_string(st.failed_rounds)}});
    st.failed_rounds = 0;
    st.last_error.clear();
  }
  bool change = d.act != autoscale_decision::action::hold;
  log::info("autoscaler", "decision",
            {{"queued", std::to_string(in.queued)},
             {"in_flight", std::to_string(in.in_flight)},
             {"workers", std::to_string(in.workers_alive)},
             {"rate", rate ? fmt(*rate) : "none"},
             {"current", std::to_string(in.current)},
             {"needed", std::to_string(d.needed)},
             {"target", std::to_string(d.target)},
             {"action", std::string{to_string(d.act)} + (change && s.dry_run ? " (dry run)" : "")},
             {"why", d.why}});
  if (!s.run_id.empty()) {
    auto entry = json::object{}
                     .field("t", std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count())
                     .field("queued", in.queued)
                     .field("in_flight", in.in_flight)
                     .field("workers", in.workers_alive)
                     .field("current", in.current)
                     .field("target", d.target)
                     .field("action", to_string(d.act))
                     .field("dry_run", s.dry_run ? "true" : "false")
                     .str();
    if (auto err = st.store->append_run_series(s.run_id, "autoscale", entry, 50000))
      log::warn("autoscaler", "keeping the decision for the run's report failed",
                {{"error", render(err)}});
  }
  if (!change || s.dry_run) return;
  if (auto err = s.arm->set_capacity(s.scale_set_id, d.target))
    return failed(self, "setting the scale set's capacity to " + std::to_string(d.target), err);
  st.policy->changed(clock::now());
  g.changes.inc();
  g.current.set(static_cast<double>(d.target));
  log::info("autoscaler", "capacity set",
            {{"scale_set", s.scale_set_id},
             {"from", std::to_string(in.current)},
             {"to", std::to_string(d.target)}});
}

caf::behavior autoscaler(autoscaler_actor* self, worker_settings ws,
                         std::shared_ptr<const autoscale_settings> settings) {
  auto& st = self->state;
  st.settings = settings;
  st.store = open_store(ws, transport::redis_client_options{});
  st.policy = std::make_unique<autoscale_policy>(settings->limits);
  st.policy->started(clock::now());
  log::info("autoscaler", "starting",
            {{"scale_set", settings->scale_set_id},
             {"queue", settings->queue},
             {"min", std::to_string(st.policy->limits().min_workers)},
             {"max", std::to_string(st.policy->limits().max_workers)},
             {"dry_run", settings->dry_run ? "true" : "false"}});
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        if (self->state.stopping) return;
        round(self, false);
        self->delayed_send(self, self->state.settings->interval, tick_atom::value);
      },
      [=](quiet_atom) {
        auto& st = self->state;
        if (st.stopping) return;
        st.stopping = true;
        if (st.settings->run_ended && st.settings->run_ended()) round(self, true);
      },
  };
}

}  // namespace

caf::actor spawn_autoscaler(caf::actor_system& sys, const worker_settings& ws,
                            std::shared_ptr<const autoscale_settings> settings, spawn_mode mode) {
  return spawn_in(sys, mode, autoscaler, ws, std::move(settings));
}

}  // namespace pqrt
