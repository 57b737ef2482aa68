#pragma once

/// An actor's handle to one of its peers, as wired by the supervisor that started both.
///
/// A role file names each child's peers in its `child_spec` (runtime/supervisor.hpp, with the
/// names of `peer_names` below); the supervisor sends `(wire_atom, name, handle)` to a child for
/// each of its peers when either starts, and again when it restarts one. The peer monitors the
/// handle it was given: from the peer's end to its re-wiring, what is sent to it is held in order
/// and goes out once the new handle arrives. Nothing is looked up at send time, and nothing sent
/// to a restarting peer is dropped. What is held beyond `max_held` is not kept: it is counted
/// (`pqrt_messages_undeliverable_total`) and logged, and the caller learns it from the return
/// value (a payload must then be handed back by whoever holds it, see executor_pool).
///
/// A message that reached a peer which then crashed before handling it is gone with the peer's
/// mailbox; the actors that hand payloads on (rq_fetcher, executor_pool) therefore keep track of
/// what they handed on until it is acknowledged, and return it to Redis when that peer goes down.

#include <cstddef>
#include <deque>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>

namespace pqrt {

/// The names peers are wired by: each child's name in its supervisor's tree.
namespace peer_names {
inline constexpr char supervisor[] = "supervisor";  ///< the supervisor that started the child
inline constexpr char blob_fetcher[] = "blob_fetcher";
inline constexpr char decryptor[] = "decryptor";
inline constexpr char job_parser[] = "job_parser";
inline constexpr char rq_enqueuer[] = "rq_enqueuer";
inline constexpr char status_writer[] = "status_writer";
inline constexpr char run_monitor[] = "run_monitor";
inline constexpr char rq_fetcher[] = "rq_fetcher";
inline constexpr char executor_pool[] = "executor_pool";
inline constexpr char result_encryptor[] = "result_encryptor";
inline constexpr char result_writer[] = "result_writer";
inline constexpr char heartbeat[] = "heartbeat";
inline constexpr char command_listener[] = "command_listener";
inline constexpr char resource_lister[] = "resource_lister";
inline constexpr char metrics_fetcher[] = "metrics_fetcher";
inline constexpr char metrics_writer[] = "metrics_writer";
inline constexpr char autoscaler[] = "autoscaler";
}  // namespace peer_names

class peer {
public:
  /// Actions held for one peer beyond which new ones are refused (counted and logged).
  static constexpr size_t max_held = 65536;

  explicit peer(const char* name) : name_(name) {}

  const char* name() const { return name_; }
  /// The current handle; invalid while the peer is down or not wired yet.
  const caf::actor& handle() const { return handle_; }
  bool wired() const { return static_cast<bool>(handle_); }
  size_t held() const { return held_.size(); }

  /// Runs `action` with the peer's handle now, or once the peer is wired again. False when it
  /// was refused (too much held): then it never runs.
  bool with(caf::event_based_actor* self, std::function<void(const caf::actor&)> action);

  /// Sends `xs...` now or once the peer is wired again; false when refused.
  template <class... Ts>
  bool send(caf::event_based_actor* self, Ts&&... xs) {
    return with(self, [self, msg = caf::make_message(std::forward<Ts>(xs)...)](
                          const caf::actor& to) { self->send(to, msg); });
  }

  /// A `wire_atom` message: true when it names this peer (monitored from now on; what was held
  /// goes out in order). A null handle unwires: held from now on.
  bool wire(caf::event_based_actor* self, const std::string& name, const caf::actor& handle);

  /// A down message: true when it is this peer's (held from now on until re-wired).
  bool down(const caf::down_msg& dm);

private:
  const char* name_;
  caf::actor handle_;
  std::deque<std::function<void(const caf::actor&)>> held_;
};

/// Handles `wire_atom` for all of an actor's peers: true when one of them took it.
bool wire_peers(caf::event_based_actor* self, std::initializer_list<peer*> peers,
                const std::string& name, const caf::actor& handle);

/// Handles a down message for all of an actor's peers: the peer it was for, or null.
peer* down_peer(std::initializer_list<peer*> peers, const caf::down_msg& dm);

}  // namespace pqrt
