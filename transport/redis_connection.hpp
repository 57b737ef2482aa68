#pragma once

/// One blocking connection to a Redis server: TCP, unix socket or TLS (OpenSSL, verified), AUTH
/// (password or ACL user) and SELECT at connect, and a deadline on every call, so that no call
/// waits longer than the timeout. Commands go out in RESP, encoded here; replies are parsed by
/// hiredis's reader and handed out as `redis_reply` values.
///
/// Errors (all `caf::error` with the server named, never the password):
/// - `unavailable`: refused, reset, closed by the server, name not resolved;
/// - `timeout`: connect or a call ran out of time;
/// - `tls_failed`: certificate or host name verification ("certificate verify failed (...)"),
///   TLS protocol mismatch, unreadable CA file;
/// - `auth_failed`: the server refused the credentials (WRONGPASS) or wants some (NOAUTH);
/// - `redis_error`: an error reply (from `command`, `transaction`, `evalsha`);
/// - `bad_format`: bytes that are not RESP.
/// After any error other than `redis_error` the connection is unusable (`usable()` is false):
/// replies could be out of step with requests. Reconnecting is `redis_client`'s job.
///
/// Not thread-safe: one connection per actor or thread.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "transport/redis_reply.hpp"
#include "transport/redis_url.hpp"

namespace pqrt::transport {

namespace detail {
class stream;
class reply_reader;
}  // namespace detail

/// The SHA1 of a Lua script as EVALSHA wants it (40 lower-case hex digits).
std::string script_sha(const std::string& script);

/// A blocking Redis connection.
class redis_connection {
public:
  /// Connects, authenticates, selects the database and PINGs, all within `url.timeout`.
  static caf::expected<redis_connection> connect(const redis_url& url);

  ~redis_connection();
  redis_connection(redis_connection&&) noexcept;
  redis_connection& operator=(redis_connection&&) noexcept;

  /// Runs one command. An error reply becomes `redis_error` ("redis host:port: GET: WRONGTYPE
  /// ..."), naming the command but none of its arguments.
  caf::expected<redis_reply> command(const redis_command& cmd);

  /// Sends all commands in one write, then reads all replies, in order. Error replies are values
  /// in the result (each command succeeds or fails on its own); the error is for the connection.
  caf::expected<std::vector<redis_reply>> pipeline(const std::vector<redis_command>& cmds);

  /// MULTI, the commands and EXEC in one round trip. Returns EXEC's reply: an array with one
  /// reply per command (error replies included), or nil when a WATCHed key changed. A command
  /// rejected while queueing aborts the whole transaction: `redis_error` naming it.
  caf::expected<redis_reply> transaction(const std::vector<redis_command>& cmds);

  /// EVALSHA; on NOSCRIPT (a restarted or flushed server) falls back to EVAL, which also
  /// loads the script for the next EVALSHA. Error replies become `redis_error`.
  caf::expected<redis_reply> evalsha(const std::string& sha, const std::string& script,
                                     const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args);

  /// Subscriber mode (after SUBSCRIBE): waits up to `wait` for one pushed message. nullopt when
  /// none came; waiting out is normal here and leaves the connection usable.
  caf::expected<std::optional<redis_reply>> receive(std::chrono::milliseconds wait);

  /// The time every following call may take at most (a whole pipeline counts as one call).
  /// Blocking commands (BLMOVE with a 1 s timeout) need more than their own timeout.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  /// The current call timeout.
  std::chrono::milliseconds timeout() const { return timeout_; }

  /// False once an I/O, timeout or protocol error happened: drop the connection.
  bool usable() const { return stream_ != nullptr; }

  /// True when usable and the server has not closed the connection meanwhile (a restart, an
  /// idle timeout). Does not block; a request sent after a true answer reached a live socket.
  bool idle_and_open();

  /// Where this connection goes.
  const redis_url& url() const { return url_; }

private:
  using deadline = std::chrono::steady_clock::time_point;

  redis_connection(redis_url url, std::unique_ptr<detail::stream> stream);

  caf::error handshake();
  caf::expected<std::vector<redis_reply>> exchange(const std::vector<redis_command>& cmds,
                                                   deadline until);
  caf::expected<std::vector<redis_reply>> read_replies(size_t count, deadline until);
  caf::error fail(caf::error err);
  caf::expected<redis_reply> as_result(const redis_command& cmd, redis_reply reply) const;

  redis_url url_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<detail::stream> stream_;
  std::unique_ptr<detail::reply_reader> reader_;
  std::vector<char> buffer_;
};

}  // namespace pqrt::transport
