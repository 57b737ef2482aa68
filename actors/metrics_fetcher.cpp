// metrics_fetcher: a round's resources' metrics from Azure Monitor (bounded concurrency), and
// pqrt's own figures from Redis; the documents go on to metrics_writer.
#include <atomic>
#include <mutex>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/all.hpp>

#include "actors/metrics_actors.hpp"
#include "actors/metrics_protocol.hpp"
#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "azure/encoding.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "transport/rq_store.hpp"

namespace pqrt {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

const std::vector<std::string> vm_metrics{"Percentage CPU",    "Network In Total",
                                          "Network Out Total", "Disk Read Bytes",
                                          "Disk Write Bytes",  "Available Memory Bytes"};
constexpr const char* optional_metric = "Available Memory Bytes";

void key(json_writer& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

void number(json_writer& w, const char* k, const std::optional<double>& v) {
  if (!v) return;
  w.Key(k);
  w.Double(*v);
}

std::string iso(int64_t ms) {
  return azure::iso8601(std::chrono::system_clock::time_point{std::chrono::milliseconds{ms}});
}

/// The fields every resource document starts with.
void document_head(json_writer& w, const azure::arm_resource& r, const std::string& start,
                   const std::string& end) {
  key(w, "type", "vm_metrics");
  key(w, "resource_id", r.id);
  key(w, "name", r.name);
  key(w, "kind", r.kind);
  if (!r.scale_set.empty()) key(w, "scale_set", r.scale_set);
  key(w, "start", start);
  key(w, "end", end);
}

/// A document for a resource whose metrics could not be read at all.
std::string error_document(const azure::arm_resource& r, const std::string& start,
                           const std::string& end, const std::string& error) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  document_head(w, r, start, end);
  key(w, "error", error);
  w.Key("metrics");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

/// Monitor, with the fallback for a resource that does not offer Available Memory Bytes (the
/// service refuses the whole request then).
caf::expected<azure::metrics_answer> fetch(const metrics_settings& ms, const azure::arm_resource& r,
                                           const metrics_window& w, bool split) {
  auto start = std::chrono::system_clock::time_point{std::chrono::milliseconds{w.start_ms}};
  auto end = std::chrono::system_clock::time_point{std::chrono::milliseconds{w.end_ms}};
  auto answer = ms.arm->get_metrics(r.id, vm_metrics, start, end, "PT1M", split);
  if (!answer && is(answer.error(), errc::invalid_argument) &&
      context_of(answer.error()).find(optional_metric) != std::string::npos) {
    std::vector<std::string> fewer(vm_metrics.begin(), vm_metrics.end() - 1);
    answer = ms.arm->get_metrics(r.id, fewer, start, end, "PT1M", split);
  }
  return answer;
}

/// The documents of one VM, or of one scale set and its instances.
std::vector<std::string> documents_for(const metrics_settings& ms, const metrics_window& w,
                                       const azure::arm_resource& r,
                                       const std::vector<azure::arm_resource>& instances) {
  std::vector<std::string> docs;
  auto start = iso(w.start_ms);
  auto end = iso(w.end_ms);
  auto whole = fetch(ms, r, w, false);
  if (!whole) {
    log::warn("metrics_fetcher", "metrics of a resource could not be read",
              {{"resource", r.id}, {"error", render(whole.error())}});
    docs.push_back(error_document(r, start, end, render(whole.error())));
  } else {
    std::vector<azure::metric_series> own;
    for (auto& [owner, s] : whole->series)
      if (owner.empty()) own.push_back(s);
    docs.push_back(metrics_document(r, start, end, whole->interval, own));
  }
  if (instances.empty()) return docs;
  auto split = fetch(ms, r, w, true);
  for (const auto& inst : instances) {
    if (!split) {
      docs.push_back(error_document(inst, start, end, render(split.error())));
      continue;
    }
    std::vector<azure::metric_series> mine;
    for (auto& [owner, s] : split->series) {
      auto o = azure::lower(owner);
      if (o == azure::lower(inst.name) ||
          (!inst.computer_name.empty() && o == azure::lower(inst.computer_name)))
        mine.push_back(s);
      else if (owner.empty() && !s.error.empty())  // a per-metric error covers every instance
        mine.push_back(s);
    }
    docs.push_back(metrics_document(inst, start, end, split->interval, mine));
  }
  return docs;
}

/// pqrt's own figures: queues, workers, the oldest queued job, and finished/failed per minute
/// since the previous round (none in the first round: there is nothing to compare with).
struct pqrt_totals {
  int64_t finished = 0;
  int64_t failed = 0;
  int64_t at_ms = 0;
};

std::string pqrt_document(transport::job_store& store, const metrics_window& w,
                          std::optional<pqrt_totals>& previous) {
  rapidjson::StringBuffer buf;
  json_writer out{buf};
  out.StartObject();
  key(out, "type", "pqrt_metrics");
  key(out, "start", iso(w.start_ms));
  key(out, "end", iso(w.end_ms));
  auto queues = store.queues_info();
  auto workers = store.workers_info();
  if (!queues || !workers) {
    key(out, "error", render(!queues ? queues.error() : workers.error()));
    out.EndObject();
    return {buf.GetString(), buf.GetSize()};
  }
  pqrt_totals now{0, 0, w.end_ms};
  out.Key("queues");
  out.StartArray();
  for (const auto& q : *queues) {
    out.StartObject();
    key(out, "name", q.name);
    out.Key("queued");
    out.Int64(q.queued);
    out.Key("in_flight");
    out.Int64(q.started);
    out.Key("finished");
    out.Int64(q.finished);
    out.Key("failed");
    out.Int64(q.failed);
    out.Key("scheduled");
    out.Int64(q.scheduled);
    if (auto age = store.oldest_queued_age(q.name); age && *age)
      number(out, "oldest_queued_age_s", **age);
    out.EndObject();
    now.finished += q.finished;
    now.failed += q.failed;
  }
  out.EndArray();
  int64_t busy = 0;
  for (const auto& wk : *workers)
    busy += wk.state == "busy" ? 1 : 0;
  out.Key("workers_alive");
  out.Int64(static_cast<int64_t>(workers->size()));
  out.Key("workers_busy");
  out.Int64(busy);
  if (previous && now.at_ms > previous->at_ms) {
    auto minutes = static_cast<double>(now.at_ms - previous->at_ms) / 60000.0;
    number(out, "finished_per_minute",
           std::max<int64_t>(0, now.finished - previous->finished) / minutes);
    number(out, "failed_per_minute", std::max<int64_t>(0, now.failed - previous->failed) / minutes);
  }
  previous = now;
  out.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

struct fetcher_state {
  std::unique_ptr<transport::job_store> store;
  std::optional<pqrt_totals> previous;
  peer writer{peer_names::metrics_writer};
  static inline const char* name = "metrics_fetcher";
};

using fetcher_actor = caf::stateful_actor<fetcher_state>;

caf::behavior metrics_fetcher(fetcher_actor* self, std::shared_ptr<const metrics_settings> ms) {
  if (ms->redis) {
    // A Redis that is down costs a round 2 s, not redis_give_up_sec.
    transport::redis_client_options patience{std::chrono::seconds{2}, std::chrono::milliseconds{50},
                                             std::chrono::milliseconds{500}};
    if (ms->make_store)
      self->state.store = ms->make_store(patience);
    else
      self->state.store = std::make_unique<transport::rq_store>(
          *ms->redis, transport::rq_serializer::pickle, patience);
  }
  self->set_down_handler([=](caf::down_msg& dm) { self->state.writer.down(dm); });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        self->state.writer.wire(self, name, handle);
      },
      [=](metrics_atom, const metrics_window& w,
          const std::vector<azure::arm_resource>& resources) -> caf::result<caf::message> {
        // Work items: each VM; each scale set with its instances.
        std::vector<std::pair<const azure::arm_resource*, std::vector<azure::arm_resource>>> work;
        for (const auto& r : resources) {
          if (r.kind == "virtualMachineScaleSetInstance") {
            for (auto& [set, inst] : work)
              if (set->kind == "virtualMachineScaleSet" && set->name == r.scale_set)
                inst.push_back(r);
          } else {
            work.push_back({&r, {}});
          }
        }
        std::vector<std::string> docs;
        std::mutex mtx;
        std::atomic<size_t> next{0};
        auto worker = [&] {
          for (size_t i = next++; i < work.size(); i = next++) {
            auto d = documents_for(*ms, w, *work[i].first, work[i].second);
            std::lock_guard<std::mutex> guard{mtx};
            for (auto& doc : d)
              docs.push_back(std::move(doc));
          }
        };
        std::vector<std::thread> threads;
        for (size_t t = 0; t < std::min(ms->concurrency, work.size()); ++t)
          threads.emplace_back(worker);
        for (auto& t : threads)
          t.join();
        if (self->state.store)
          docs.push_back(pqrt_document(*self->state.store, w, self->state.previous));
        log::info("metrics_fetcher", "metrics fetched",
                  {{"round", std::to_string(w.round)}, {"documents", std::to_string(docs.size())}});
        // The round is the payload: while the writer restarts it fails, and the next one runs.
        const auto& writer = self->state.writer.handle();
        if (!writer) return make_error(errc::unavailable, "metrics_writer is restarting");
        return self->delegate(writer, write_atom::value, w, std::move(docs));
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

std::string metrics_document(const azure::arm_resource& r, const std::string& start,
                             const std::string& end, const std::string& interval,
                             const std::vector<azure::metric_series>& series) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  document_head(w, r, start, end);
  key(w, "interval", interval.empty() ? "PT1M" : interval);
  w.Key("metrics");
  w.StartArray();
  for (const auto& s : series) {
    w.StartObject();
    key(w, "name", s.name);
    key(w, "unit", s.unit);
    if (!s.error.empty()) key(w, "error", s.error);
    w.Key("points");
    w.StartArray();
    for (const auto& p : s.points) {
      w.StartObject();
      key(w, "t", p.time);
      number(w, "average", p.average);
      number(w, "maximum", p.maximum);
      number(w, "total", p.total);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

caf::actor spawn_metrics_fetcher(caf::actor_system& sys,
                                 std::shared_ptr<const metrics_settings> settings,
                                 spawn_mode mode) {
  return spawn_in(sys, mode, metrics_fetcher, std::move(settings));
}

}  // namespace pqrt
