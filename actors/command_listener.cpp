#include "actors/command_listener.hpp"

#include <csignal>
#include <optional>

#include <unistd.h>
#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/jobs/builtins.hpp"
#include "transport/rq_json.hpp"

namespace pqrt {

namespace {

/// How long one read waits (bounds how long a stop waits for this actor).
constexpr auto read_wait = std::chrono::milliseconds{200};
constexpr auto reconnect_pause = std::chrono::milliseconds{1000};

struct listener_state {
  worker_settings settings;
  std::unique_ptr<transport::job_store> store;
  std::unique_ptr<transport::command_feed> feed;
  bool outage_logged = false;
  static inline const char* name = "command_listener";
};

using listener_actor = caf::stateful_actor<listener_state>;

/// A str value of a dict, or "".
std::string dict_str(const transport::py_value& v, const char* key) {
  if (const auto* d = v.get_if<transport::py_dict>())
    for (const auto& [k, val] : d->items)
      if (k == transport::py_value{key} && val.is<std::string>()) return *val.get_if<std::string>();
  return {};
}

void act(const std::string& payload) {
  auto msg = transport::json_loads(payload);
  auto command = msg ? dict_str(*msg, "command") : std::string{};
  if (command == "shutdown") {
    log::info("command_listener", "shutdown command: stopping like on SIGTERM");
    ::kill(::getpid(), SIGTERM);
  } else if (command == "stop-job") {
    auto id = dict_str(*msg, "job_id");
    bool running = job_control::request_stop(id);
    log::info("command_listener", running ? "stopping job" : "stop-job for a job not running here",
              {{"job", id}});
  } else if (command == "kill-horse") {
    auto n = job_control::request_stop_all();
    log::info("command_listener", "kill-horse: ending running jobs", {{"jobs", std::to_string(n)}});
  } else {
    log::warn("command_listener", "unknown command ignored", {{"payload", payload.substr(0, 200)}});
  }
}

bool subscribe(listener_actor* self) {
  auto& st = self->state;
  auto feed = st.store->subscribe_commands(st.settings.identity);
  if (feed) {
    st.feed = std::move(*feed);
    if (st.outage_logged) log::info("command_listener", "subscribed again");
    st.outage_logged = false;
    return true;
  }
  if (!st.outage_logged)
    log::warn("command_listener", "cannot subscribe to commands, retrying",
              {{"error", render(feed.error())}});
  st.outage_logged = true;
  return false;
}

void poll(listener_actor* self) {
  auto& st = self->state;
  if (!st.feed && !subscribe(self)) {
    self->delayed_send(self, reconnect_pause, poll_atom::value);
    return;
  }
  auto payload = st.feed->next(read_wait);
  if (!payload) {
    st.feed.reset();
    self->delayed_send(self, reconnect_pause, poll_atom::value);
    return;
  }
  if (*payload) act(**payload);
  self->send(self, poll_atom::value);
}

caf::behavior command_listener(listener_actor* self, worker_settings settings) {
  self->state.settings = std::move(settings);
  self->state.store = open_store(self->state.settings, transport::redis_client_options{});
  self->send(self, poll_atom::value);
  return {
      [=](poll_atom) { poll(self); },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_command_listener(caf::actor_system& sys, const worker_settings& settings,
                                  spawn_mode mode) {
  return spawn_in(sys, mode, command_listener, settings);
}

}  // namespace pqrt
