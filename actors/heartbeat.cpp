#include "actors/heartbeat.hpp"

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

struct heartbeat_state {
  std::unique_ptr<transport::job_store> store;
  worker_settings settings;
  std::string rq_state = "idle";
  bool suspended = false;
  static inline const char* name = "heartbeat";
};

using heartbeat_actor = caf::stateful_actor<heartbeat_state>;

/// The tick: five per liveness TTL, so one late tick never makes a worker look dead.
std::chrono::milliseconds tick_interval(const worker_settings& s) {
  return std::max(std::chrono::milliseconds{100}, s.liveness.alive_ttl / 5);
}

void beat(heartbeat_actor* self) {
  auto& st = self->state;
  auto suspended = st.store->heartbeat(st.settings.identity);
  if (!suspended) {
    log::warn("heartbeat", "heartbeat failed", {{"error", render(suspended.error())}});
    return;
  }
  if (*suspended != st.suspended) {
    st.suspended = *suspended;
    log::info("heartbeat", *suspended ? "queues suspended (rq suspend)" : "queues resumed");
    static_cast<void>(
        st.store->set_state(st.settings.identity, *suspended ? "suspended" : st.rq_state));
  }
  if (auto recovered = st.store->recover_dead_workers(); !recovered)
    log::warn("heartbeat", "recovery sweep failed", {{"error", render(recovered.error())}});
  if (auto promoted = st.store->promote_scheduled(st.settings.identity.queues); !promoted)
    log::warn("heartbeat", "promoting scheduled jobs failed",
              {{"error", render(promoted.error())}});
}

void deregister(heartbeat_actor* self) {
  auto& st = self->state;
  if (auto err = st.store->deregister_worker(st.settings.identity))
    log::error("heartbeat", "deregistering failed", {{"error", render(err)}});
  else
    log::info("heartbeat", "worker deregistered", {{"worker", st.settings.identity.name}});
}

caf::behavior heartbeat(heartbeat_actor* self, worker_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  st.store = open_store(settings, transport::redis_client_options{});
  self->set_exit_handler([=](caf::exit_msg& em) {
    deregister(self);
    self->quit(em.reason);
  });
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        beat(self);
        self->delayed_send(self, tick_interval(self->state.settings), tick_atom::value);
      },
      [=](state_atom, const std::string& state) {
        self->state.rq_state = state;
        if (!self->state.suspended)
          static_cast<void>(self->state.store->set_state(self->state.settings.identity, state));
      },
      [=](done_atom) {
        deregister(self);
        self->quit();
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_heartbeat(caf::actor_system& sys, const worker_settings& settings,
                           spawn_mode mode) {
  return spawn_in(sys, mode, heartbeat, settings);
}

}  // namespace pqrt
