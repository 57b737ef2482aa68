#pragma once

/// A connected byte stream to a Redis server over TCP, a unix socket or TLS (OpenSSL), with a
/// deadline on every operation. Sockets are non-blocking and waited on with poll(), so no call
/// blocks past its deadline. Errors: `unavailable` (refused, reset, closed, name not resolved),
/// `timeout`, `tls_failed` (verification or TLS protocol), `invalid_argument` (socket path).

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "runtime/base/error.hpp"
#include "transport/redis_url.hpp"

namespace pqrt::transport::detail {

using clock = std::chrono::steady_clock;
using deadline = clock::time_point;

/// One connection's bytes in both directions. Not thread-safe.
class stream {
public:
  virtual ~stream() = default;

  /// Writes all of `data`.
  virtual caf::error write_all(std::string_view data, deadline until) = 0;

  /// Reads at least one byte into `buf` (at most `size`); returns the count.
  virtual caf::expected<size_t> read_some(char* buf, size_t size, deadline until) = 0;

  /// True when the peer has neither closed the connection nor sent anything unasked: a request
  /// sent now can only fail if the connection breaks from here on. Does not block.
  virtual bool idle_and_open() = 0;
};

/// Connects to `url` (TCP with TCP_NODELAY and keep-alive, unix socket, or TCP plus a verified
/// TLS handshake) before `until`.
caf::expected<std::unique_ptr<stream>> open_stream(const redis_url& url, deadline until);

/// Owns a socket descriptor.
class fd_handle {
public:
  /// Takes ownership of `fd` (closed by the destructor).
  explicit fd_handle(int fd = -1) : fd_(fd) {}
  ~fd_handle();
  fd_handle(fd_handle&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  fd_handle& operator=(fd_handle&& other) noexcept;
  fd_handle(const fd_handle&) = delete;
  fd_handle& operator=(const fd_handle&) = delete;

  /// The descriptor (-1 when empty).
  int get() const { return fd_; }

private:
  int fd_;
};

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT); `timeout` naming `endpoint` and
/// `what` ("waiting for a reply") when `until` passes first.
caf::error wait_ready(int fd, short events, deadline until, const std::string& endpoint,
                      const char* what);

/// An error naming the server: "redis <endpoint>: <text>".
caf::error stream_error(errc code, const std::string& endpoint, const std::string& text);

/// Runs the TLS handshake on a connected TCP socket (tls.cpp).
caf::expected<std::unique_ptr<stream>> open_tls_stream(fd_handle fd, const redis_url& url,
                                                       deadline until);

}  // namespace pqrt::transport::detail
