#include "actors/status_writer.hpp"

#include <deque>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/log.hpp"
#include "transport/rq_time.hpp"

namespace pqrt {

namespace {

constexpr auto retry_delay = std::chrono::milliseconds{500};
/// Room left in a queue message for the envelope around its records.
// Azure queues carry text as base64: 48 KiB of text fill a 64 KiB message.
constexpr size_t message_budget = 46 * 1024;
constexpr size_t max_pending_messages = 10000;
constexpr size_t max_error_in_message = 1000;

struct queue_message_out {
  std::string queue;
  std::string text;
};

struct status_writer_state {
  std::unique_ptr<transport::job_store> store;
  worker_settings settings;
  peer pool{peer_names::executor_pool};  // told which outcomes are recorded (worker trees)
  std::vector<transport::job_outcome> pending;
  std::vector<std::string> events;
  std::deque<queue_message_out> messages;  // to post
  std::unique_ptr<transport::queue_store> queues;
  bool queues_ready = false;
  std::vector<caf::response_promise> waiting;  // sync requests
  bool flush_scheduled = false;
  static inline const char* name = "status_writer";
};

using status_writer_actor = caf::stateful_actor<status_writer_state>;

/// Packs JSON items into messages `{"type":TYPE,"KEY":[items]}` under the size limit.
void pack(status_writer_actor* self, const std::string& queue, const std::string& type,
          const std::string& key, std::vector<std::string> items) {
  auto& st = self->state;
  std::vector<std::string> batch;
  size_t bytes = 0;
  auto emit = [&] {
    if (batch.empty()) return;
    st.messages.push_back({queue, json::object{}.field("type", type).raw_array(key, batch).str()});
    batch.clear();
    bytes = 0;
  };
  for (auto& item : items) {
    if (item.size() > message_budget) continue;  // cannot happen with the sizes written here
    if (bytes + item.size() + 1 > message_budget) emit();
    bytes += item.size() + 1;
    batch.push_back(std::move(item));
  }
  emit();
  while (st.messages.size() > max_pending_messages) {
    st.messages.pop_front();
    log::warn("status_writer", "status queue unreachable for long: dropped the oldest message");
  }
}

void queue_status_records(status_writer_actor* self,
                          const std::vector<transport::job_outcome>& outcomes,
                          const std::vector<std::string>& states) {
  const auto& ps = self->state.settings.pipeline;
  if (!ps || ps->status_queue.empty()) return;
  auto at = transport::rq_now();
  std::vector<std::string> items;
  for (size_t i = 0; i < outcomes.size() && i < states.size(); ++i) {
    const auto& o = outcomes[i];
    if (states[i] == "gone") continue;
    if (o.chunk) {  // a job of many records: a status record per record
      for (const auto& r : o.records) {
        json::object item;
        item.field("job_id", o.id)
            .field("index", r.index)
            .field("state", r.ok                                 ? "finished"
                            : (r.retry && states[i] != "failed") ? "retry"
                                                                 : "failed")
            .field("worker", self->state.settings.identity.name)
            .field("at", at);
        if (!r.ok) item.field("error", r.error_text.substr(0, max_error_in_message));
        if (r.ok && !o.result_ref.empty()) item.field("result", o.result_ref);
        items.push_back(item.str());
      }
      continue;
    }
    json::object item;
    item.field("job_id", o.id)
        .field("state", states[i])
        .field("worker", self->state.settings.identity.name)
        .field("at", at);
    if (!o.ok) item.field("error", o.error_text.substr(0, max_error_in_message));
    if (!o.result_ref.empty()) item.field("result", o.result_ref);
    items.push_back(item.str());
  }
  pack(self, ps->status_queue, "job_status", "records", std::move(items));
}

/// Posts the queued messages; false when the queue store failed (kept for the next try).
bool post_messages(status_writer_actor* self) {
  auto& st = self->state;
  const auto& ps = st.settings.pipeline;
  if (!st.events.empty() && ps && !ps->workload_queue.empty()) {
    pack(self, ps->workload_queue, "workload", "events", std::move(st.events));
  }
  st.events.clear();
  if (st.messages.empty()) return true;
  if (!st.queues) {
    auto q = ps->make_queues();
    if (!q) {
      log::warn("status_writer", "no queue store", {{"error", render(q.error())}});
      return false;
    }
    st.queues = std::move(*q);
  }
  if (!st.queues_ready) {
    for (const auto& name : {ps->status_queue, ps->workload_queue})
      if (!name.empty())
        if (auto err = st.queues->create_queue(name)) {
          log::warn("status_writer", "creating a queue failed, will retry",
                    {{"queue", name}, {"error", render(err)}});
          return false;
        }
    st.queues_ready = true;
  }
  while (!st.messages.empty()) {
    const auto& m = st.messages.front();
    if (auto err = st.queues->put(m.queue, m.text)) {
      log::warn("status_writer", "posting a status message failed, will retry",
                {{"queue", m.queue}, {"error", render(err)}});
      return false;
    }
    st.messages.pop_front();
  }
  return true;
}

/// Writes what is pending; false when Redis did not take it (kept for the next try).
bool write_pending(status_writer_actor* self) {
  auto& st = self->state;
  if (!st.pending.empty()) {
    std::vector<std::string> states;
    if (auto err = st.store->record(st.settings.identity, st.pending, &states)) {
      log::warn("status_writer", "writing job outcomes failed, will retry",
                {{"jobs", std::to_string(st.pending.size())}, {"error", render(err)}});
      return false;
    }
    queue_status_records(self, st.pending, states);
    std::vector<std::string> ids;
    ids.reserve(st.pending.size());
    for (const auto& o : st.pending)
      ids.push_back(o.id);
    st.pending.clear();
    st.pool.send(self, settled_atom::value, std::move(ids));
  }
  post_messages(self);  // informative: never holds up the Redis bookkeeping
  return true;
}

void flush(status_writer_actor* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (!write_pending(self)) {
    st.flush_scheduled = true;
    self->delayed_send(self, retry_delay, flush_atom::value);
    return;
  }
  for (auto& rp : st.waiting)
    rp.deliver(caf::ok_atom::value);
  st.waiting.clear();
  if (!st.messages.empty() && !st.flush_scheduled) {  // the queue store failed: try again later
    st.flush_scheduled = true;
    self->delayed_send(self, retry_delay * 4, flush_atom::value);
  }
}

void schedule_flush(status_writer_actor* self) {
  if (self->state.flush_scheduled) return;
  self->state.flush_scheduled = true;
  self->send(self, flush_atom::value);  // after whatever else is already in the mailbox
}

caf::behavior status_writer(status_writer_actor* self, worker_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  st.store = open_store(settings, transport::redis_client_options{settings.redis_give_up,
                                                                  std::chrono::milliseconds{50},
                                                                  std::chrono::milliseconds{2000}});
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (int attempt = 0; attempt < 20 && !write_pending(self); ++attempt)
      std::this_thread::sleep_for(retry_delay);
    self->quit(em.reason);
  });
  self->set_down_handler([=](caf::down_msg& dm) { self->state.pool.down(dm); });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        self->state.pool.wire(self, name, handle);
      },
      [=](record_atom, transport::job_outcome& outcome) {
        self->state.pending.push_back(std::move(outcome));
        schedule_flush(self);
      },
      [=](record_atom, std::vector<transport::job_outcome>& outcomes) {
        auto& pending = self->state.pending;
        for (auto& o : outcomes)
          pending.push_back(std::move(o));
        schedule_flush(self);
      },
      [=](event_atom, std::string& json) {
        self->state.events.push_back(std::move(json));
        schedule_flush(self);
      },
      [=](flush_atom) { flush(self); },
      [=](sync_atom) -> caf::result<caf::ok_atom> {
        auto rp = self->make_response_promise<caf::ok_atom>();
        self->state.waiting.push_back(rp);
        schedule_flush(self);
        return rp;
      },
      [=](done_atom) {  // burst finished: everything is written (the pool synced first)
        if (write_pending(self))
          self->quit();
        else
          self->delayed_send(self, retry_delay, done_atom::value);
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_status_writer(caf::actor_system& sys, const worker_settings& settings,
                               spawn_mode mode) {
  return spawn_in(sys, mode, status_writer, settings);
}

}  // namespace pqrt
