#include "runtime/supervisor.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <stdexcept>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

/// How long temporary children get to stop once the significant ones have ended.
constexpr auto temporary_grace = std::chrono::seconds{10};

struct supervisor_state {
  std::string label;
  std::vector<child_spec> specs;
  /// Current handles by spec index (null when down); shared with the termination hook.
  std::shared_ptr<std::vector<caf::actor>> running;
  std::deque<caf::actor_clock::time_point> restarts;
  restart_budget budget;
  bool stopping = false;
  bool failed = false;  // escalated: no more starts
  std::vector<bool> exit_sent;
  static inline const char* name = "supervisor";
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

std::string millis(caf::timespan d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

std::string short_reason(const caf::error& reason) {
  return reason ? render(reason) : std::string{"normal"};
}

size_t index_of(supervisor_actor* self, const caf::actor_addr& addr) {
  auto& running = *self->state.running;
  for (size_t i = 0; i < running.size(); ++i)
    if (running[i] && running[i].address() == addr) return i;
  return running.size();
}

/// True while a child that is neither `temporary` nor a helper runs.
bool any_significant_running(supervisor_actor* self) {
  auto& st = self->state;
  for (size_t i = 0; i < st.specs.size(); ++i)
    if ((*st.running)[i] && st.specs[i].policy != restart_policy::temporary && !st.specs[i].helper)
      return true;
  return false;
}

void kill_all(supervisor_actor* self) {
  for (auto& child : *self->state.running)
    if (child) self->send_exit(child, caf::exit_reason::kill);
}

void escalate(supervisor_actor* self, const std::string& child, const caf::error& reason) {
  auto& st = self->state;
  auto text = "child '" + child + "' failed more than " + std::to_string(st.budget.max_restarts) +
              " times in " + millis(st.budget.window) + "; last: " + short_reason(reason);
  log::error(st.label, "restart budget spent, escalating", {{"child", child}});
  auto err = make_error(errc::restart_limit, text);
  st.failed = true;
  for (auto& c : *st.running)
    if (c) self->send_exit(c, err);
  self->quit(err);
}

/// Records a restart; false when the budget is spent.
bool take_restart(supervisor_actor* self) {
  auto& st = self->state;
  auto now = self->clock().now();
  while (!st.restarts.empty() && now - st.restarts.front() > st.budget.window)
    st.restarts.pop_front();
  if (st.restarts.size() >= st.budget.max_restarts) return false;
  st.restarts.push_back(now);
  return true;
}

void on_child_failed(supervisor_actor* self, size_t idx, const caf::error& reason);

/// Hands child `idx` the handles of its running peers, and its own handle to every running child
/// that names it as a peer.
void wire(supervisor_actor* self, size_t idx) {
  auto& st = self->state;
  auto& running = *st.running;
  auto& child = running[idx];
  auto handle_of = [&](const std::string& name) -> caf::actor {
    if (name == peer_names::supervisor) return caf::actor_cast<caf::actor>(self);
    for (size_t i = 0; i < st.specs.size(); ++i)
      if (st.specs[i].name == name) return running[i];
    return {};
  };
  for (const auto& name : st.specs[idx].peers)
    if (auto peer = handle_of(name)) self->send(child, wire_atom::value, name, peer);
  for (size_t i = 0; i < st.specs.size(); ++i) {
    if (i == idx || !running[i]) continue;
    const auto& wanted = st.specs[i].peers;
    if (std::find(wanted.begin(), wanted.end(), st.specs[idx].name) != wanted.end())
      self->send(running[i], wire_atom::value, st.specs[idx].name, child);
  }
}

/// Starts child `idx`; a start that throws counts as a failure of that child.
void start_child(supervisor_actor* self, size_t idx) {
  auto& spec = self->state.specs[idx];
  caf::actor child;
  try {
    child = spec.start(self->system());
  } catch (const std::exception& e) {
    on_child_failed(self, idx,
                    make_error(errc::unavailable, "start failed: " + std::string{e.what()}));
    return;
  }
  self->monitor(child);
  (*self->state.running)[idx] = child;
  log::debug(self->state.label, "child started", {{"child", spec.name}});
  wire(self, idx);
}

void on_child_failed(supervisor_actor* self, size_t idx, const caf::error& reason) {
  auto& spec = self->state.specs[idx];
  if (!take_restart(self)) {
    escalate(self, spec.name, reason);
    return;
  }
  log::warn(self->state.label, "restarting child",
            {{"child", spec.name}, {"reason", short_reason(reason)}});
  start_child(self, idx);
}

/// Sends the next exit in reverse start order, or ends the supervisor when all are down.
void stop_next(supervisor_actor* self) {
  auto& st = self->state;
  auto& running = *st.running;
  for (size_t i = running.size(); i-- > 0;) {
    if (!running[i]) continue;
    if (!st.exit_sent[i]) {
      st.exit_sent[i] = true;
      log::debug(st.label, "stopping child", {{"child", st.specs[i].name}});
      self->send_exit(running[i], caf::exit_reason::user_shutdown);
    }
    return;  // wait for this child's down message before the next one
  }
  log::info(st.label, "all children stopped");
  self->quit();
}

void begin_shutdown(supervisor_actor* self, caf::timespan grace);

void on_down(supervisor_actor* self, caf::down_msg& dm) {
  auto& st = self->state;
  auto idx = index_of(self, dm.source);
  if (idx == st.running->size()) return;
  (*st.running)[idx] = nullptr;
  auto& spec = st.specs[idx];
  if (st.stopping) {
    stop_next(self);
    return;
  }
  bool failed = static_cast<bool>(dm.reason);
  if (spec.policy == restart_policy::temporary ||
      (spec.policy == restart_policy::transient && !failed)) {
    log::info(st.label, "child ended", {{"child", spec.name}, {"reason", short_reason(dm.reason)}});
    // The work is done once only temporary children and helpers are left: stop them in order
    // and end.
    if (!any_significant_running(self)) begin_shutdown(self, temporary_grace);
    return;
  }
  on_child_failed(self, idx, dm.reason);
}

void begin_shutdown(supervisor_actor* self, caf::timespan grace) {
  auto& st = self->state;
  if (st.stopping) return;
  st.stopping = true;
  log::info(st.label, "shutting down", {{"grace", millis(grace)}});
  for (auto& child : *st.running)
    if (child) self->send(child, quiet_atom::value);
  self->delayed_send(self, grace, deadline_atom::value);
  stop_next(self);
}

void on_deadline(supervisor_actor* self) {
  auto& st = self->state;
  std::string names;
  for (size_t i = 0; i < st.running->size(); ++i)
    if ((*st.running)[i]) names += (names.empty() ? "" : ",") + st.specs[i].name;
  log::error(st.label, "grace period ran out, hard stop", {{"children", names}});
  kill_all(self);
  self->quit(make_error(errc::timeout, "grace period ran out; killed: " + names));
}

caf::behavior supervisor(supervisor_actor* self, std::string label,
                         std::vector<child_spec> children, restart_budget budget) {
  auto& st = self->state;
  st.label = std::move(label);
  st.specs = std::move(children);
  st.budget = budget;
  st.running = std::make_shared<std::vector<caf::actor>>(st.specs.size());
  st.exit_sent.assign(st.specs.size(), false);
  // A supervisor that dies for any reason takes its children with it.
  self->attach_functor([running = st.running](const caf::error&) {
    for (auto& child : *running)
      if (child) caf::anon_send_exit(child, caf::exit_reason::kill);
  });
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  // Stopped by a parent supervisor: stop our children in order; the parent enforces the deadline.
  self->set_exit_handler([=](caf::exit_msg&) { begin_shutdown(self, std::chrono::hours{24}); });
  for (size_t i = 0; i < self->state.specs.size() && !self->state.failed; ++i)
    start_child(self, i);
  return {
      [=](shutdown_atom, caf::timespan grace) { begin_shutdown(self, grace); },
      [=](deadline_atom) { on_deadline(self); },
      [=](hard_stop_atom) {
        log::warn(self->state.label, "hard stop");
        kill_all(self);
        self->quit(make_error(errc::timeout, "hard stop requested"));
      },
      [=](which_atom, const std::string& child) -> caf::result<caf::actor> {
        auto& s = self->state;
        for (size_t i = 0; i < s.specs.size(); ++i)
          if (s.specs[i].name == child && (*s.running)[i]) return (*s.running)[i];
        return make_error(errc::invalid_argument, "no running child named '" + child + "'");
      },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, std::string name,
                            std::vector<child_spec> children, restart_budget budget) {
  // Peers must name children of this tree: a typo would leave a child waiting for it forever.
  for (const auto& spec : children)
    for (const auto& name : spec.peers) {
      auto known = name == peer_names::supervisor ||
                   std::any_of(children.begin(), children.end(),
                               [&](const child_spec& other) { return other.name == name; });
      if (!known)
        throw std::logic_error("child '" + spec.name + "' names an unknown peer '" + name + "'");
    }
  return sys.spawn(supervisor, std::move(name), std::move(children), budget);
}

}  // namespace pqrt
