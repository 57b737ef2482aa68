#include "actors/run_monitor.hpp"

#include <unistd.h>

#include <cstdio>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "actors/run_results.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"
#include "transport/rq_time.hpp"

namespace pqrt {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto tick_every = std::chrono::milliseconds{500};
constexpr auto log_every = std::chrono::seconds{5};
constexpr auto event_every = std::chrono::seconds{30};
/// The run's samples for `pqrt report` (list pqrt:run:<id>:samples): one every 5 s, the newest
/// 50,000 kept (about 69 hours).
constexpr auto sample_every = std::chrono::seconds{5};
constexpr size_t samples_kept = 50000;
constexpr auto first_retry = std::chrono::seconds{1};
constexpr auto last_retry = std::chrono::seconds{30};

struct run_monitor_state {
  worker_settings ws;
  std::shared_ptr<const pipeline_settings> settings;
  std::unique_ptr<transport::job_store> store;
  std::unique_ptr<transport::blob_store> blobs;
  run_monitor_pass start_pass;  // another enqueue pass over the data file
  caf::actor pass;              // the one running, if any
  bool pass_wanted = false;     // records were taken back: a pass must complete
  bool enqueued_at_start = false;
  caf::timespan retry_delay = first_retry;
  clock::time_point started = clock::now();
  clock::time_point last_log{}, last_event = clock::now(), last_sample{};
  clock::time_point rate_at = clock::now();
  int64_t rate_done = 0;
  double rate = 0;  // jobs per second, smoothed
  bool finishing = false;
  peer writer{peer_names::status_writer};
  peer supervisor{peer_names::supervisor};
  // The peers of an enqueue pass, passed on to it (and again when one is re-wired).
  peer blob_fetcher{peer_names::blob_fetcher};
  peer decryptor{peer_names::decryptor};
  peer enqueuer{peer_names::rq_enqueuer};
  static inline const char* name = "run_monitor";
};

using run_monitor_actor = caf::stateful_actor<run_monitor_state>;

std::string eta_text(double secs) {
  if (secs < 0 || secs > 1e7) return "?";
  auto s = static_cast<int64_t>(secs);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void event(run_monitor_actor* self, const std::string& json) {
  self->state.writer.send(self, event_atom::value, json);
}

struct progress {
  int64_t total = -1;  // -1 while enqueuing
  int64_t finished = 0, failed = 0, in_flight = 0, queued = 0;
  bool rerun_pending = false;  // records were taken back for a pass that has not completed
};

void show(run_monitor_actor* self, const progress& p, bool force) {
  auto& st = self->state;
  auto now = clock::now();
  auto done = p.finished + p.failed;
  auto dt = std::chrono::duration<double>(now - st.rate_at).count();
  if (dt >= 1.0) {
    auto inst = static_cast<double>(done - st.rate_done) / dt;
    st.rate = st.rate == 0 ? inst : 0.7 * st.rate + 0.3 * inst;
    st.rate_at = now;
    st.rate_done = done;
  }
  auto eta = p.total >= 0 && st.rate > 0 ? static_cast<double>(p.total - done) / st.rate : -1.0;
  const auto& ps = *st.settings;
  if (ps.progress_bar) {
    double frac = p.total > 0 ? static_cast<double>(done) / static_cast<double>(p.total) : 0.0;
    int width = 30;
    int fill = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(static_cast<size_t>(width), '.');
    std::fprintf(stderr, "\r[%s] %5.1f%%  %lld/%s done  %lld failed  %lld running  %.0f/s  ETA %s ",
                 bar.c_str(), frac * 100, static_cast<long long>(done),
                 p.total >= 0 ? std::to_string(p.total).c_str() : "?",
                 static_cast<long long>(p.failed), static_cast<long long>(p.in_flight), st.rate,
                 eta_text(eta).c_str());
    std::fflush(stderr);
  } else if (force || now - st.last_log >= log_every) {
    st.last_log = now;
    log::info("run_monitor", "progress",
              {{"run", ps.run_id},
               {"done", std::to_string(done)},
               {"total", p.total >= 0 ? std::to_string(p.total) : std::string{"?"}},
               {"failed", std::to_string(p.failed)},
               {"in_flight", std::to_string(p.in_flight)},
               {"queued", std::to_string(p.queued)},
               {"rate_per_s", std::to_string(static_cast<int64_t>(st.rate))},
               {"eta", eta_text(eta)}});
  }
  if (force || now - st.last_sample >= sample_every) {
    st.last_sample = now;
    auto sample = json::object{}
                      .field("t", epoch_ms())
                      .field("done", done)
                      .field("failed", p.failed)
                      .field("total", p.total)
                      .field("queued", p.queued)
                      .field("in_flight", p.in_flight)
                      .field("rate", static_cast<int64_t>(st.rate))
                      .str();
    if (auto err = st.store->append_run_series(ps.run_id, "samples", sample, samples_kept))
      log::warn("run_monitor", "recording a progress sample failed", {{"error", render(err)}});
  }
  if (now - st.last_event >= event_every) {
    st.last_event = now;
    event(self, json::object{}
                    .field("event", "progress")
                    .field("run", ps.run_id)
                    .field("done", done)
                    .field("failed", p.failed)
                    .field("total", p.total)
                    .field("at", transport::rq_now())
                    .str());
  }
}

caf::expected<progress> read_progress(run_monitor_actor* self) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  progress p;
  auto info = st.store->run_info(ps.run_id);
  if (!info) return info.error();
  bool enqueued = false;
  {
    std::lock_guard<std::mutex> guard{ps.outcome->mutex};
    enqueued = ps.outcome->enqueued;
  }
  // The total counts once this scheduler's own pass over the data file is through (a second
  // scheduler for a run re-checks every record, adding none that exist or ended).
  if (enqueued && info->count("total")) p.total = std::stoll(info->at("total"));
  p.rerun_pending = info->count("rerun") && info->at("rerun") == "pending";
  auto counts = st.store->count_run(ps.run_id);
  if (!counts) return counts.error();
  p.finished = counts->finished;
  p.failed = counts->failed;
  auto load = st.store->load(ps.queue);
  if (!load) return load.error();
  p.in_flight = load->in_flight;
  p.queued = load->queued;
  return p;
}

/// A step of the run's end failed: tick again later, waiting longer each time (up to 30 s).
void retry_later(run_monitor_actor* self, const char* what, const caf::error& err) {
  auto& st = self->state;
  log::warn("run_monitor", what,
            {{"run", st.settings->run_id},
             {"error", render(err)},
             {"retry_in_ms",
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(st.retry_delay).count())}});
  st.finishing = false;
  self->delayed_send(self, st.retry_delay, tick_atom::value);
  st.retry_delay = std::min<caf::timespan>(st.retry_delay * 2, last_retry);
}

/// Starts another enqueue pass over the data file (a job_parser): it adds the records taken back,
/// skipping every one that exists or ended. It does not outlive the monitor.
void run_pass(run_monitor_actor* self) {
  auto& st = self->state;
  st.pass_wanted = true;
  st.pass = st.start_pass(self->system());
  self->monitor(st.pass);
  for (auto* p : {&st.blob_fetcher, &st.decryptor, &st.enqueuer, &st.supervisor})
    if (p->wired()) self->send(st.pass, wire_atom::value, std::string{p->name()}, p->handle());
  self->attach_functor([pass = st.pass.address()](const caf::error&) {
    caf::anon_send_exit(pass, caf::exit_reason::user_shutdown);
  });
}

void pass_ended(run_monitor_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (!st.pass || dm.source != st.pass.address()) return;
  st.pass = nullptr;
  if (dm.reason) {
    log::warn("run_monitor", "the enqueue pass for the records run again failed, will retry",
              {{"run", st.settings->run_id}, {"error", render(dm.reason)}});
    self->delayed_send(self, st.retry_delay, run_atom::value);
    st.retry_delay = std::min<caf::timespan>(st.retry_delay * 2, last_retry);
    return;
  }
  st.pass_wanted = false;
  st.retry_delay = first_retry;
  // Left pending (Redis failed), the mark is cleared or acted on by a later tick.
  static_cast<void>(st.store->set_run_info(st.settings->run_id, {{"rerun", "done"}}));
}

/// Some finished records' results are not in storage as written: take those records back and
/// run them again (a new enqueue pass adds exactly them). The run's `rerun` mark says so to a
/// monitor that starts before the pass completes.
void rerun(run_monitor_actor* self, const transport::result_audit& audit) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  if (auto err = st.store->set_run_info(ps.run_id, {{"state", "running"}, {"rerun", "pending"}}))
    return retry_later(self, "marking records to run again failed, will retry", err);
  report_rerun(ps, audit);
  if (auto taken = take_back(*st.store, ps, audit); !taken)
    log::warn("run_monitor", "taking records back failed; the next check finds those left",
              {{"run", ps.run_id}, {"error", render(taken.error())}});
  run_pass(self);
  st.finishing = false;
  self->delayed_send(self, tick_every, tick_atom::value);
}

/// Every record ended: check the results in storage, then write the manifest and end the run.
void finish_run(run_monitor_actor* self, const progress& p) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  st.finishing = true;
  if (ps.progress_bar) {
    show(self, p, true);
    std::fputc('\n', stderr);
  }
  if (!st.blobs) {
    auto blobs = ps.make_blobs();
    if (!blobs)
      return retry_later(self, "opening the results storage failed, will retry", blobs.error());
    st.blobs = std::move(*blobs);
  }
  auto audit = audit_results(*st.store, *st.blobs, ps);
  if (!audit)
    return retry_later(self, "listing the run's results failed, will retry", audit.error());
  auto& out = *ps.outcome;
  run_outcome result;
  if (auto err =
          write_manifest(*st.store, *st.blobs, ps, static_cast<uint64_t>(p.total), *audit, result))
    return retry_later(self, "writing the results manifest failed, will retry", err);
  if (!audit->clean()) return rerun(self, *audit);
  st.retry_delay = first_retry;
  auto elapsed = std::chrono::duration<double>(clock::now() - st.started).count();
  {
    std::lock_guard<std::mutex> guard{out.mutex};
    out.complete = true;
    out.total = static_cast<uint64_t>(p.total);
    out.finished = result.finished;
    out.failed = result.failed;
    out.failed_jobs = result.failed_jobs;
    out.manifest = result.manifest;
  }
  static_cast<void>(st.store->set_run_info(
      ps.run_id, {{"state", result.failed == 0 ? "done" : "done_with_failures"},
                  {"finished_at", transport::rq_now()},
                  {"manifest", result.manifest}}));
  event(self, json::object{}
                  .field("event", "run_done")
                  .field("run", ps.run_id)
                  .field("total", p.total)
                  .field("finished", result.finished)
                  .field("failed", result.failed)
                  .field("manifest", result.manifest)
                  .field("at", transport::rq_now())
                  .str());
  log::info("run_monitor", "run complete",
            {{"run", ps.run_id},
             {"total", std::to_string(p.total)},
             {"finished", std::to_string(result.finished)},
             {"failed", std::to_string(result.failed)},
             {"seconds", std::to_string(static_cast<int64_t>(elapsed))},
             {"manifest", result.manifest}});
  // Let status_writer post the last events, then end the tree.
  auto done = [=] {
    self->state.supervisor.send(self, shutdown_atom::value,
                                caf::timespan{std::chrono::seconds{30}});
  };
  self->state.writer.with(self, [=](const caf::actor& writer) {
    self->request(writer, std::chrono::seconds{30}, sync_atom::value)
        .then([=](caf::ok_atom) { done(); }, [=](caf::error&) { done(); });
  });
}

/// The run's progress as gauges (labelled with the run id).
void export_progress(run_monitor_actor* self, const progress& p) {
  auto& reg = prom::registry::global();
  prom::labels run{{"run", self->state.settings->run_id}};
  if (p.total >= 0)
    reg.get_gauge("pqrt_run_jobs_total", "Records of the run (known once it is enqueued)", run)
        .set(static_cast<double>(p.total));
  reg.get_gauge("pqrt_run_jobs_done", "Records of the run that ended: finished or failed", run)
      .set(static_cast<double>(p.finished + p.failed));
  reg.get_gauge("pqrt_run_jobs_failed", "Records of the run that failed for good", run)
      .set(static_cast<double>(p.failed));
  reg.get_gauge("pqrt_run_jobs_in_flight", "Jobs of the run's queue reserved by workers", run)
      .set(static_cast<double>(p.in_flight));
  reg.get_gauge("pqrt_run_jobs_queued", "Jobs waiting in the run's queue", run)
      .set(static_cast<double>(p.queued));
}

/// Records taken back by an earlier monitor whose pass may not have completed. This process's
/// first pass, if it was still running when this monitor started, began after they were taken
/// back (by an earlier process) and enqueued them; else a pass runs now.
void resume_rerun(run_monitor_actor* self) {
  auto& st = self->state;
  if (st.enqueued_at_start) return run_pass(self);
  static_cast<void>(st.store->set_run_info(st.settings->run_id, {{"rerun", "done"}}));
}

void tick(run_monitor_actor* self) {
  auto& st = self->state;
  if (st.finishing) return;
  auto p = read_progress(self);
  if (!p) {
    log::warn("run_monitor", "reading progress failed", {{"error", render(p.error())}});
  } else {
    export_progress(self, *p);
    if (p->total >= 0 && p->rerun_pending && !st.pass_wanted) resume_rerun(self);
    if (p->total >= 0 && p->finished + p->failed >= p->total && !st.pass_wanted)
      return finish_run(self, *p);
    show(self, *p, false);
  }
  if (auto recovered = st.store->recover_dead_workers(); !recovered)
    log::warn("run_monitor", "recovery sweep failed", {{"error", render(recovered.error())}});
  if (auto promoted = st.store->promote_scheduled({st.settings->queue}); !promoted)
    log::warn("run_monitor", "promoting retries failed", {{"error", render(promoted.error())}});
  // In the run's last second (at the recent rate) the end is looked for sooner: a run is done
  // when its last record is, not up to a tick later.
  auto next = std::chrono::duration_cast<caf::timespan>(tick_every);
  if (p && p->total >= 0 && st.rate > 0) {
    auto eta = static_cast<double>(p->total - p->finished - p->failed) / st.rate;
    if (eta < 1.0)
      next = std::chrono::duration_cast<caf::timespan>(
          std::chrono::duration<double>{std::max(0.05, eta / 2)});
  }
  self->delayed_send(self, next, tick_atom::value);
}

caf::behavior run_monitor(run_monitor_actor* self, worker_settings ws,
                          std::shared_ptr<const pipeline_settings> ps, run_monitor_pass pass) {
  auto& st = self->state;
  st.ws = ws;
  st.settings = std::move(ps);
  st.start_pass = std::move(pass);
  {
    std::lock_guard<std::mutex> guard{st.settings->outcome->mutex};
    st.enqueued_at_start = st.settings->outcome->enqueued;
  }
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (!down_peer({&st.writer, &st.supervisor, &st.blob_fetcher, &st.decryptor, &st.enqueuer}, dm))
      pass_ended(self, dm);
  });
  st.store = open_store(ws);
  event(self, json::object{}
                  .field("event", "scheduler_start")
                  .field("run", st.settings->run_id)
                  .field("at", transport::rq_now())
                  .str());
  self->send(self, tick_atom::value);
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        auto& st = self->state;
        if (!wire_peers(self,
                        {&st.writer, &st.supervisor, &st.blob_fetcher, &st.decryptor, &st.enqueuer},
                        name, handle))
          return;
        if (st.pass && name != peer_names::status_writer)
          self->send(st.pass, wire_atom::value, name, handle);
      },
      [=](tick_atom) { tick(self); },
      [=](run_atom) { run_pass(self); },  // again, after a pass failed
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_run_monitor(caf::actor_system& sys, const worker_settings& ws,
                             std::shared_ptr<const pipeline_settings> ps, run_monitor_pass pass,
                             spawn_mode mode) {
  return spawn_in(sys, mode, run_monitor, ws, std::move(ps), std::move(pass));
}

}  // namespace pqrt
