// The worker's watch on Azure Scheduled Events (see scheduled_events_watcher.hpp).
#include "runtime/scheduled_events_watcher.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"

namespace pqrt {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto poll_interval = std::chrono::seconds{1};
constexpr const char* component = "scheduled_events";

/// Event types as metric labels: the documented ones, else "other" (bounded cardinality).
std::string type_label(const std::string& type) {
  for (const char* known : {"Freeze", "Reboot", "Redeploy", "Preempt", "Terminate"})
    if (type == known) return type;
  return "other";
}

prom::counter& counter(const char* name, const char* help, prom::labels labels = {}) {
  return prom::registry::global().get_counter(name, help, labels);
}

void count_seen(const std::string& type, bool this_vm) {
  counter("pqrt_scheduled_events_seen_total", "Scheduled events seen, each once per status",
          {{"type", type_label(type)}, {"vm", this_vm ? "this" : "other"}})
      .inc();
}

/// The current handle of a child of `root`; invalid when the root does not answer in time.
caf::actor child_of(const caf::actor& root, const std::string& name) {
  caf::scoped_actor self{root->home_system()};
  caf::actor out;
  self->request(root, std::chrono::seconds{2}, which_atom::value, name)
      .receive([&](caf::actor& child) { out = std::move(child); }, [](caf::error&) {});
  return out;
}

std::string millis(milliseconds d) {
  return std::to_string(d.count());
}

}  // namespace

scheduled_events_watcher::scheduled_events_watcher(
    std::unique_ptr<azure::scheduled_events_client> client, caf::timespan grace)
    : client_(std::move(client)),
      grace_(std::chrono::duration_cast<milliseconds>(grace)),
      thread_([this] { run(); }) {
  // nop
}

scheduled_events_watcher::~scheduled_events_watcher() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void scheduled_events_watcher::watch(caf::actor root) {
  std::lock_guard<std::mutex> guard{mutex_};
  root_ = std::move(root);
  send_drain();
}

int scheduled_events_watcher::acknowledge(int tree_exit) {
  std::optional<drain_plan> plan;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stop_ = true;
    root_ = nullptr;  // the tree has stopped
    plan = drain_;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!plan) return tree_exit;
  auto acks = [](const char* outcome) -> prom::counter& {
    return counter("pqrt_scheduled_events_acks_total",
                   "Scheduled events acknowledged after a drain (StartRequests)",
                   {{"outcome", outcome}});
  };
  if (auto err = client_->acknowledge(plan->event_id)) {
    acks("failed").inc();
    log::error(component, "acknowledging the event failed; it starts at its NotBefore anyway",
               {{"event_id", plan->event_id}, {"error", render(err)}});
  } else {
    acks("ok").inc();
    log::info(component, "drained and acknowledged: the event may start now",
              {{"event_id", plan->event_id}, {"type", plan->type}});
  }
  return tree_exit;
}

void scheduled_events_watcher::run() {
  auto next = steady::now();
  std::unique_lock<std::mutex> lock{mutex_};
  while (!stop_ && !drain_) {
    lock.unlock();
    poll_once();
    lock.lock();
    next = std::max(next + poll_interval, steady::now());
    wake_.wait_until(lock, next, [this] { return stop_; });
  }
}

void scheduled_events_watcher::poll_once() {
  if (vm_name_.empty()) {
    auto name = client_->vm_name();
    if (!name) return imds_failed(name.error());
    vm_name_ = std::move(*name);
  }
  auto doc = client_->events();
  if (!doc) return imds_failed(doc.error());
  imds_answered();
  on_document(*doc);
}

void scheduled_events_watcher::on_document(const azure::scheduled_events_doc& doc) {
  if (doc.incarnation == incarnation_) return;  // nothing changed
  incarnation_ = doc.incarnation;
  for (const auto& e : doc.events)
    if (seen_.insert(e.id + "\n" + e.status).second) on_new_event(e);
  if (const auto* e = azure::first_drain(doc, vm_name_)) begin_drain(*e);
}

void scheduled_events_watcher::on_new_event(const azure::scheduled_event& e) {
  auto action = azure::decide(e, vm_name_);
  count_seen(e.type, action != azure::event_action::other_vm);
  std::initializer_list<log::field> fields{{"event_id", e.id},
                                           {"type", e.type},
                                           {"status", e.status},
                                           {"not_before", e.not_before},
                                           {"source", e.source}};
  if (action == azure::event_action::other_vm)
    log::debug(component, "scheduled event for other VMs, ignored", fields);
  else if (action == azure::event_action::log_only)
    log::info(component, "scheduled event for this VM; nothing to drain for", fields);
  else
    log::warn(component, "scheduled event for this VM: draining", fields);
}

void scheduled_events_watcher::begin_drain(const azure::scheduled_event& e) {
  auto budget = azure::drain_budget(e, std::chrono::system_clock::now(), grace_);
  counter("pqrt_scheduled_events_drains_total", "Drains begun for a scheduled event",
          {{"type", type_label(e.type)}})
      .inc();
  log::warn(component, "stopping: no new jobs; running jobs get until the deadline",
            {{"event_id", e.id}, {"type", e.type}, {"budget_ms", millis(budget)}});
  std::lock_guard<std::mutex> guard{mutex_};
  drain_ = drain_plan{e.id, e.type, steady::now() + budget, false};
  send_drain();
}

void scheduled_events_watcher::send_drain() {
  if (!drain_ || drain_->sent || !root_) return;
  drain_->sent = true;
  auto left = std::max(std::chrono::duration_cast<milliseconds>(drain_->deadline - steady::now()),
                       milliseconds{0});
  auto handback = std::max(left - handback_margin, milliseconds{0});
  if (auto pool = child_of(root_, "executor_pool"))
    caf::anon_send(pool, drain_atom::value, caf::timespan{handback});
  else
    log::warn(component, "no executor_pool answered; running jobs get the whole grace");
  caf::anon_send(root_, shutdown_atom::value, caf::timespan{std::max(left, handback_margin)});
}

void scheduled_events_watcher::imds_failed(const caf::error& err) {
  counter("pqrt_scheduled_events_poll_errors_total",
          "Scheduled Events polls that IMDS did not answer well")
      .inc();
  if (imds_down_) return;
  imds_down_ = true;
  log::warn(component, "IMDS does not answer; scheduled events are not seen until it does",
            {{"error", render(err)}});
}

void scheduled_events_watcher::imds_answered() {
  if (!watching_logged_) {
    watching_logged_ = true;
    log::info(component, "watching scheduled events", {{"vm", vm_name_}});
  }
  if (!imds_down_) return;
  imds_down_ = false;
  log::info(component, "IMDS answers again", {{"vm", vm_name_}});
}

caf::expected<std::unique_ptr<scheduled_events_watcher>> make_scheduled_events_watcher(
    const config::settings& cfg, caf::timespan grace) {
  bool on =
      cfg.scheduled_events == "on" || (cfg.scheduled_events == "auto" && cfg.use_managed_identity);
  if (!on) return std::unique_ptr<scheduled_events_watcher>{};
  auto client = azure::make_scheduled_events_client(cfg.imds_endpoint);
  if (!client) return client.error();
  return std::make_unique<scheduled_events_watcher>(std::move(*client), grace);
}

}  // namespace pqrt
