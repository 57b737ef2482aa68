#include "actors/command_listener.hpp"

#include <csignal>
#include <optional>

#include <unistd.h>
#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/jobs/builtins.hpp"
#include "transport/redis_connection.hpp"
#include "transport/rq_json.hpp"
#include "transport/rq_keys.hpp"

namespace pqrt {

namespace {

/// How long one read waits (bounds how long a stop waits for this actor).
constexpr auto read_wait = std::chrono::milliseconds{500};
constexpr auto reconnect_pause = std::chrono::milliseconds{1000};

struct listener_state {
  worker_settings settings;
  std::optional<transport::redis_connection> conn;
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
  auto conn = transport::redis_connection::connect(st.settings.redis);
  if (conn) {
    auto r = conn->command({"SUBSCRIBE", transport::rq_keys::pubsub(st.settings.identity.name)});
    if (r) {
      st.conn.emplace(std::move(*conn));
      if (st.outage_logged) log::info("command_listener", "subscribed again");
      st.outage_logged = false;
      return true;
    }
    conn = r.error();
  }
  if (!st.outage_logged)
    log::warn("command_listener", "cannot subscribe to commands, retrying",
              {{"error", render(conn.error())}});
  st.outage_logged = true;
  return false;
}

void poll(listener_actor* self) {
  auto& st = self->state;
  if (!st.conn && !subscribe(self)) {
    self->delayed_send(self, reconnect_pause, poll_atom::value);
    return;
  }
  auto msg = st.conn->receive(read_wait);
  if (!msg) {
    st.conn.reset();
    self->delayed_send(self, reconnect_pause, poll_atom::value);
    return;
  }
  if (*msg && (*msg)->elements.size() == 3 && (*msg)->elements[0].str == "message")
    act((*msg)->elements[2].str);
  self->send(self, poll_atom::value);
}

caf::behavior command_listener(listener_actor* self, worker_settings settings) {
  self->state.settings = std::move(settings);
  self->send(self, poll_atom::value);
  return {
      [=](poll_atom) { poll(self); },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_command_listener(caf::actor_system& sys, const worker_settings& settings) {
  return sys.spawn<caf::detached>(command_listener, settings);
}

}  // namespace pqrt
