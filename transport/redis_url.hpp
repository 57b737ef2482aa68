#pragma once

/// Where a Redis server is and how to talk to it, parsed from a URL:
///
///   redis://[[user]:password@]host[:port][/db][?options]    plain TCP, port 6379 by default
///   rediss://[[user]:password@]host[:port][/db][?options]   TLS, port 6380 by default (Azure)
///   unix://[[user]:password@]/path/to/redis.sock[?db=N&options]
///
/// User and password are percent-decoded. Options: `ca=/path/ca.pem` (trust this CA file instead of
/// the system's), `sni=name` (TLS server name to send and to verify instead of the host),
/// `timeout_ms=N` (connect and per-call timeout), `db=N` (the database, mainly for unix URLs).
/// TLS always verifies the certificate chain and the host name; there is no option to turn it off.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace pqrt::transport {

/// How the connection is carried.
enum class redis_scheme { tcp, tls, unix_socket };

/// A parsed Redis URL. Holds the password: never log it whole, log `describe()`.
struct redis_url {
  redis_scheme scheme = redis_scheme::tcp;
  std::string host;         ///< TCP/TLS: name or IP literal (without IPv6 brackets)
  uint16_t port = 6379;     ///< TCP/TLS
  std::string socket_path;  ///< unix
  std::string user;         ///< ACL user; empty: the default user
  std::string password;     ///< empty: no AUTH
  int db = 0;               ///< SELECTed at connect when not 0
  std::string ca_file;      ///< TLS: trusted CA file; empty: the system's default paths
  std::string sni;          ///< TLS: server name to send and verify; empty: the host
  std::chrono::milliseconds timeout{5000};  ///< connect, and every command or pipeline call

  /// The URL without the password (`rediss://alice:***@host:6380/2`), for logs and errors.
  std::string describe() const;

  /// `host:port` or the socket path: names the server in error texts.
  std::string endpoint() const;
};

/// Parses a Redis URL. Errors are `invalid_argument` naming the bad part (scheme, port, db, an
/// option, a percent escape); the password never appears in them.
caf::expected<redis_url> parse_redis_url(std::string_view text);

}  // namespace pqrt::transport
