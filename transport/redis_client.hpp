#pragma once

/// A Redis connection that survives outages: before each call it makes sure it holds a live
/// connection, reconnecting with exponential backoff and full jitter when needed; after
/// `give_up_after` without a connection it fails calls with `unavailable` naming the server.
/// One warning is logged when an outage starts and one info line when it ends.
///
/// Delivery: a call whose connection broke while it was in flight fails with `unavailable`
/// ("... not acknowledged"): the server may or may not have run it. The client never resends it;
/// the caller decides whether a retry is safe (idempotent commands, Lua scripts that check
/// state). A call that times out fails with `timeout` and is not resent either.
///
/// Credentials and TLS failures (`auth_failed`, `tls_failed`) and error replies are not
/// outages: they are returned at once, without retrying.
///
/// Not thread-safe: one client per actor or thread. Calls block for at most about the call
/// timeout, or `give_up_after` while the server is unreachable.

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "transport/redis_connection.hpp"

namespace pqrt::transport {

/// How `redis_client` reconnects.
struct redis_client_options {
  /// How long an outage may last before calls fail with `unavailable` (counted from its first
  /// failed attempt; during a longer outage each call makes one attempt, then fails).
  std::chrono::milliseconds give_up_after{30000};
  /// Backoff before reconnect attempt n: uniformly random in [0, min(cap, base * 2^n)].
  std::chrono::milliseconds backoff_base{50};
  std::chrono::milliseconds backoff_cap{2000};
};

/// A reconnecting Redis client; calls mirror `redis_connection`'s.
class redis_client {
public:
  explicit redis_client(redis_url url, redis_client_options options = {});

  /// Connects now (retrying as above) instead of at the first call: for a clear error at start.
  caf::error connect();

  /// See `redis_connection::command`.
  caf::expected<redis_reply> command(const redis_command& cmd);

  /// See `redis_connection::pipeline`.
  caf::expected<std::vector<redis_reply>> pipeline(const std::vector<redis_command>& cmds);

  /// See `redis_connection::transaction`.
  caf::expected<redis_reply> transaction(const std::vector<redis_command>& cmds);

  /// See `redis_connection::evalsha`.
  caf::expected<redis_reply> evalsha(const std::string& sha, const std::string& script,
                                     const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args);

  /// The time each call may take (see `redis_connection::set_timeout`); the URL's by default.
  void set_timeout(std::chrono::milliseconds timeout);

  /// True when a connection is held (it may still have been closed by the server meanwhile).
  bool connected() const { return conn_.has_value(); }

  /// Where this client goes.
  const redis_url& url() const { return url_; }

private:
  using clock = std::chrono::steady_clock;

  template <class Call>
  auto run(Call call) -> decltype(call(std::declval<redis_connection&>()));

  caf::error ensure_connected();
  caf::error try_connect();
  caf::error give_up(const caf::error& last) const;
  void begin_outage(const caf::error& cause);
  void end_outage();
  caf::error broken(caf::error err);
  std::chrono::milliseconds backoff();

  redis_url url_;
  redis_client_options options_;
  std::chrono::milliseconds timeout_;
  std::optional<redis_connection> conn_;
  std::optional<clock::time_point> outage_start_;
  int attempts_ = 0;
  std::minstd_rand rng_;
};

}  // namespace pqrt::transport
