#include "actors/status_writer.hpp"

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/error.hpp"
#include "runtime/log.hpp"

namespace pqrt {

namespace {

constexpr auto retry_delay = std::chrono::milliseconds{500};

struct status_writer_state {
  std::unique_ptr<transport::rq_store> store;
  worker_settings settings;
  std::vector<transport::job_outcome> pending;
  std::vector<caf::response_promise> waiting;  // sync requests
  bool flush_scheduled = false;
  static inline const char* name = "status_writer";
};

using status_writer_actor = caf::stateful_actor<status_writer_state>;

/// Writes what is pending; false when Redis did not take it (kept for the next try).
bool write_pending(status_writer_actor* self) {
  auto& st = self->state;
  if (st.pending.empty()) return true;
  if (auto err = st.store->record(st.settings.identity, st.pending)) {
    log::warn("status_writer", "writing job outcomes failed, will retry",
              {{"jobs", std::to_string(st.pending.size())}, {"error", render(err)}});
    return false;
  }
  st.pending.clear();
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
}

void schedule_flush(status_writer_actor* self) {
  if (self->state.flush_scheduled) return;
  self->state.flush_scheduled = true;
  self->send(self, flush_atom::value);  // after whatever else is already in the mailbox
}

caf::behavior status_writer(status_writer_actor* self, worker_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  st.store = std::make_unique<transport::rq_store>(
      settings.redis, settings.serializer,
      transport::redis_client_options{settings.redis_give_up, std::chrono::milliseconds{50},
                                      std::chrono::milliseconds{2000}});
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (int attempt = 0; attempt < 20 && !write_pending(self); ++attempt)
      std::this_thread::sleep_for(retry_delay);
    self->quit(em.reason);
  });
  return {
      [=](record_atom, transport::job_outcome& outcome) {
        self->state.pending.push_back(std::move(outcome));
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

caf::actor spawn_status_writer(caf::actor_system& sys, const worker_settings& settings) {
  return register_spawned(sys, "writer", sys.spawn<caf::detached>(status_writer, settings));
}

}  // namespace pqrt
