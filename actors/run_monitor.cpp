#include "actors/run_monitor.hpp"

#include <unistd.h>

#include <cstdio>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/error.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics_registry.hpp"
#include "runtime/record_job.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_time.hpp"

namespace pqrt {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto tick_every = std::chrono::milliseconds{500};
constexpr auto log_every = std::chrono::seconds{5};
constexpr auto event_every = std::chrono::seconds{30};
constexpr size_t manifest_batch = 1000;
constexpr size_t max_failed_named = 1000;

struct run_monitor_state {
  worker_settings ws;
  std::shared_ptr<const pipeline_settings> settings;
  std::unique_ptr<transport::rq_store> store;
  clock::time_point started = clock::now();
  clock::time_point last_log{}, last_event = clock::now();
  clock::time_point rate_at = clock::now();
  int64_t rate_done = 0;
  double rate = 0;  // jobs per second, smoothed
  bool finishing = false;
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

void event(run_monitor_actor* self, const std::string& json) {
  if (auto writer = find_actor(self->system(), "writer"))
    self->send(writer, event_atom::value, json);
}

struct progress {
  int64_t total = -1;  // -1 while enqueuing
  int64_t finished = 0, failed = 0, in_flight = 0, queued = 0;
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
  if (now - st.last_event >= event_every) {
    st.last_event = now;
    event(self,
          "{\"event\":\"progress\",\"run\":\"" + ps.run_id + "\",\"done\":" + std::to_string(done) +
              ",\"failed\":" + std::to_string(p.failed) + ",\"total\":" + std::to_string(p.total) +
              ",\"at\":\"" + transport::rq_now() + "\"}");
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
  auto counts = st.store->count_run(ps.run_id);
  if (!counts) return counts.error();
  p.finished = counts->finished;
  p.failed = counts->failed;
  auto sizes = st.store->client().pipeline({{"ZCARD", transport::rq_keys::wip(ps.queue)},
                                            {"LLEN", transport::rq_keys::queue(ps.queue)}});
  if (!sizes) return sizes.error();
  p.in_flight = (*sizes)[0].integer;
  p.queued = (*sizes)[1].integer;
  return p;
}

/// The manifest, streamed: a header line, then one line per record in index order.
caf::error write_manifest(run_monitor_actor* self, uint64_t total, run_outcome& out) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  auto blobs = ps.make_blobs();
  if (!blobs) return blobs.error();
  if (auto err = (*blobs)->create_container(ps.results_container)) return err;
  auto name = ps.run_id + "/manifest.jsonl";
  auto writer = (*blobs)->open_write(ps.results_container, name);
  if (!writer) return writer.error();
  auto info = st.store->run_info(ps.run_id);
  if (!info) return info.error();
  std::string head = "{\"run\":" + log::json_string(ps.run_id) +
                     ",\"dataset\":" + log::json_string((*info)["dataset"]) +
                     ",\"total\":" + std::to_string(total) +
                     ",\"results_container\":" + log::json_string(ps.results_container) +
                     ",\"created_at\":" + log::json_string((*info)["created_at"]) +
                     ",\"written_at\":\"" + transport::rq_now() + "\"}\n";
  if (auto err = (*writer)->write(head)) return err;
  const std::vector<std::string> fields{"state", "attempts", "result", "error"};
  out.finished = out.failed = 0;
  out.failed_jobs.clear();
  for (uint64_t start = 0; start < total; start += manifest_batch) {
    auto end = std::min<uint64_t>(total, start + manifest_batch);
    std::vector<std::string> keys;
    for (auto i = start; i < end; ++i)
      keys.push_back(ps.status_prefix + record_job_id(ps.run_id, i));
    auto records = st.store->status_records(keys, fields);
    if (!records) return records.error();
    std::string chunk;
    for (auto i = start; i < end; ++i) {
      const auto& r = (*records)[i - start];
      auto id = record_job_id(ps.run_id, i);
      chunk += "{\"index\":" + std::to_string(i) + ",\"job_id\":" + log::json_string(id) +
               ",\"state\":" + log::json_string(r[0]) +
               ",\"attempts\":" + (r[1].empty() ? std::string{"0"} : r[1]);
      if (r[0] == "finished") {
        ++out.finished;
        chunk += ",\"result\":" + log::json_string(r[2]);
      } else {
        ++out.failed;
        if (out.failed_jobs.size() < max_failed_named) out.failed_jobs.push_back(id);
        chunk += ",\"error\":" + log::json_string(r[3]);
      }
      chunk += "}\n";
    }
    if (auto err = (*writer)->write(chunk)) return err;
  }
  if (auto err = (*writer)->commit()) return err;
  out.manifest = ps.results_container + "/" + name;
  return caf::none;
}

void finish_run(run_monitor_actor* self, const progress& p) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  st.finishing = true;
  if (ps.progress_bar) {
    show(self, p, true);
    std::fputc('\n', stderr);
  }
  auto& out = *ps.outcome;
  run_outcome result;
  if (auto err = write_manifest(self, static_cast<uint64_t>(p.total), result)) {
    log::warn("run_monitor", "writing the results manifest failed, will retry",
              {{"error", render(err)}});
    st.finishing = false;
    self->delayed_send(self, std::chrono::seconds{2}, tick_atom::value);
    return;
  }
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
  event(self, "{\"event\":\"run_done\",\"run\":\"" + ps.run_id + "\",\"total\":" +
                  std::to_string(p.total) + ",\"finished\":" + std::to_string(result.finished) +
                  ",\"failed\":" + std::to_string(result.failed) + ",\"manifest\":" +
                  log::json_string(result.manifest) + ",\"at\":\"" + transport::rq_now() + "\"}");
  log::info("run_monitor", "run complete",
            {{"run", ps.run_id},
             {"total", std::to_string(p.total)},
             {"finished", std::to_string(result.finished)},
             {"failed", std::to_string(result.failed)},
             {"seconds", std::to_string(static_cast<int64_t>(elapsed))},
             {"manifest", result.manifest}});
  // Let status_writer post the last events, then end the tree.
  auto done = [=] {
    if (auto root = find_actor(self->system(), "root"))
      self->send(root, shutdown_atom::value, caf::timespan{std::chrono::seconds{30}});
  };
  if (auto writer = find_actor(self->system(), "writer"))
    self->request(writer, std::chrono::seconds{30}, sync_atom::value)
        .then([=](caf::ok_atom) { done(); }, [=](caf::error&) { done(); });
  else
    done();
}

/// The run's progress as gauges (labelled with the run id).
void export_progress(run_monitor_actor* self, const progress& p) {
  auto& reg = prom::registry::global();
  prom::labels run{{"run", self->state.settings->run_id}};
  if (p.total >= 0)
    reg.get_gauge("pqrt_run_jobs_total", "Jobs of the run (known once it is enqueued)", run)
        .set(static_cast<double>(p.total));
  reg.get_gauge("pqrt_run_jobs_done", "Jobs of the run that ended: finished or failed", run)
      .set(static_cast<double>(p.finished + p.failed));
  reg.get_gauge("pqrt_run_jobs_failed", "Jobs of the run that failed for good", run)
      .set(static_cast<double>(p.failed));
  reg.get_gauge("pqrt_run_jobs_in_flight", "Jobs of the run's queue reserved by workers", run)
      .set(static_cast<double>(p.in_flight));
  reg.get_gauge("pqrt_run_jobs_queued", "Jobs waiting in the run's queue", run)
      .set(static_cast<double>(p.queued));
}

void tick(run_monitor_actor* self) {
  auto& st = self->state;
  if (st.finishing) return;
  auto p = read_progress(self);
  if (!p) {
    log::warn("run_monitor", "reading progress failed", {{"error", render(p.error())}});
  } else {
    export_progress(self, *p);
    if (p->total >= 0 && p->finished + p->failed >= p->total) return finish_run(self, *p);
    show(self, *p, false);
  }
  if (auto recovered = st.store->recover_dead_workers(); !recovered)
    log::warn("run_monitor", "recovery sweep failed", {{"error", render(recovered.error())}});
  if (auto promoted = st.store->promote_scheduled({st.settings->queue}); !promoted)
    log::warn("run_monitor", "promoting retries failed", {{"error", render(promoted.error())}});
  self->delayed_send(self, tick_every, tick_atom::value);
}

caf::behavior run_monitor(run_monitor_actor* self, worker_settings ws,
                          std::shared_ptr<const pipeline_settings> ps) {
  auto& st = self->state;
  st.ws = ws;
  st.settings = std::move(ps);
  st.store = std::make_unique<transport::rq_store>(
      ws.redis, ws.serializer, transport::redis_client_options{ws.redis_give_up});
  event(self, "{\"event\":\"scheduler_start\",\"run\":\"" + st.settings->run_id + "\",\"at\":\"" +
                  transport::rq_now() + "\"}");
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) { tick(self); },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_run_monitor(caf::actor_system& sys, const worker_settings& ws,
                             std::shared_ptr<const pipeline_settings> ps) {
  return register_spawned(sys, "monitor", sys.spawn<caf::detached>(run_monitor, ws, std::move(ps)));
}

}  // namespace pqrt
