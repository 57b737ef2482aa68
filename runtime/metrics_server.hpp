#pragma once

/// Serves a metrics registry on `GET /metrics` (Prometheus text format 0.0.4) over plain
/// HTTP/1.1, from one thread of its own (Boost.Beast on a one-thread Asio io_context, kept inside
/// metrics_server.cpp). One connection at a time and one request per connection (the answer says
/// `Connection: close`); other paths get 404, other methods 405, anything that is not an HTTP/1
/// request 400, a head over 16 KiB 431. A client that sends nothing, or too slowly, is dropped
/// after a few seconds, and the server stops at once when destroyed (stop, then join).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <caf/expected.hpp>

#include "runtime/base/metrics_registry.hpp"

namespace pqrt {

class metrics_server {
public:
  /// Listens on `listen` ("HOST:PORT", "[IPV6]:PORT" or ":PORT" for every interface; port 0
  /// picks a free one). Errors name the address: config_invalid when it does not parse or
  /// resolve, io_error when it cannot be bound (in use, not local, no permission).
  static caf::expected<std::unique_ptr<metrics_server>> start(
      const std::string& listen, prom::registry& reg = prom::registry::global());

  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// The bound address, "127.0.0.1:9464" or "[::1]:9464".
  const std::string& address() const { return address_; }
  uint16_t port() const { return port_; }

  /// How long a connection may take to send its request head, and then to take the answer.
  static constexpr std::chrono::milliseconds read_timeout{5000};

private:
  struct impl;  // the io_context, the acceptor and the connection being served

  explicit metrics_server(std::unique_ptr<impl> state);

  std::unique_ptr<impl> impl_;
  std::string address_;
  uint16_t port_ = 0;
  std::thread thread_;  // runs impl_'s io_context
};

namespace detail {

/// The bytes a connection that sent `request` gets back, parsed and serialized by the same
/// Beast parser and serializer as the server's: 200 with `reg`'s metrics for `GET /metrics`,
/// else 400 (not an HTTP/1 request, or its head ends before the blank line), 404, 405 or 431
/// (a head over 16 KiB). What follows the head (a body) is ignored. For the fuzz target.
std::string scrape_answer(std::string_view request, const prom::registry& reg);

}  // namespace detail

/// Registers what every pqrt process exports: `pqrt_build_info{version,role} 1` and
/// `pqrt_process_start_time_seconds`. Idempotent.
void register_process_metrics(const std::string& role);

/// A role's metrics endpoint: registers the process metrics and, when `listen` is not empty,
/// starts a server on it (logging the bound address); nullptr when `listen` is empty. Errors
/// name the `metrics_listen` field and the address.
caf::expected<std::unique_ptr<metrics_server>> serve_metrics(const std::string& listen,
                                                             const std::string& role);

}  // namespace pqrt
