#include "runtime/metrics_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/version.hpp"

namespace pqrt {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using request_parser = http::request_parser<http::empty_body>;
using response = http::response<http::string_body>;

constexpr size_t max_request_head = size_t{16} * 1024;
constexpr size_t max_buffered =
    size_t{64} * 1024;  // above the head limit, so that one is hit first
constexpr auto drain_limit = std::chrono::milliseconds{500};

std::string errno_text(int err) {
  return std::strerror(err);
}

caf::error listen_error(errc code, const std::string& listen, const std::string& why) {
  return make_error(code, "metrics_listen " + listen + ": " + why);
}

/// Splits "HOST:PORT", "[V6]:PORT" or ":PORT".
caf::error split_address(const std::string& listen, std::string& host, std::string& port) {
  std::string rest;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos)
      return listen_error(errc::config_invalid, listen, "no ']' after the IPv6 address");
    host = listen.substr(1, close - 1);
    rest = listen.substr(close + 1);
    if (rest.empty() || rest.front() != ':')
      return listen_error(errc::config_invalid, listen, "expected HOST:PORT");
    port = rest.substr(1);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      return listen_error(errc::config_invalid, listen, "expected HOST:PORT");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.find(':') != std::string::npos)
      return listen_error(errc::config_invalid, listen,
                          "an IPv6 address goes in brackets: [ADDRESS]:PORT");
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    return listen_error(errc::config_invalid, listen, "the port is not a number from 0 to 65535");
  return caf::none;
}

/// Binds and listens on the first address `listen` resolves to; the socket is close-on-exec, as
/// Asio's own would not be (an executor's child must not inherit it).
caf::expected<int> bind_listener(const std::string& listen) {
  std::string host;
  std::string port;
  if (auto err = split_address(listen, host, port)) return err;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0)
    return listen_error(errc::config_invalid, listen,
                        std::string{"cannot resolve the host: "} + ::gai_strerror(rc));
  int fd = -1;
  std::string why = "no address to listen on";
  for (auto* ai = found; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = "socket: " + errno_text(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 16) == 0) break;
    why = "cannot listen: " + errno_text(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) return listen_error(errc::io_error, listen, why);
  return fd;
}

std::string describe(const sockaddr_storage& addr, uint16_t& port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof(buf));
    port = ntohs(a.sin6_port);
    return "[" + std::string{buf} + "]:" + std::to_string(port);
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
  ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
  port = ntohs(a.sin_port);
  return std::string{buf} + ":" + std::to_string(port);
}

response plain(http::status status, std::string_view text) {
  response res{status, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body().assign(text.data(), text.size()).push_back('\n');
  return res;
}

/// The answer to a request head that `parser` read, or failed to read with `ec`.
response answer_to(const beast::error_code& ec, const request_parser& parser,
                   const prom::registry& reg) {
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
    return plain(http::status::request_header_fields_too_large, "request head too large");
  if (ec || !parser.is_header_done() || parser.get().version() / 10 != 1)
    return plain(http::status::bad_request, "bad request");
  const auto& req = parser.get();
  auto target = req.target();
  if (target.substr(0, target.find('?')) != "/metrics")
    return plain(http::status::not_found, "not found: the metrics are at /metrics");
  if (req.method() != http::verb::get) {
    auto res = plain(http::status::method_not_allowed, "method not allowed");
    res.set(http::field::allow, "GET");
    return res;
  }
  response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = reg.render();
  return res;
}

/// `res` as Beast's serializer writes it, with its Content-Length and `Connection: close`.
std::string serialize(response res) {
  res.content_length(res.body().size());
  res.set(http::field::connection, "close");
  http::serializer<false, http::string_body> sr{res};
  std::string out;
  beast::error_code ec;
  while (!ec && !sr.is_done())
    sr.next(ec, [&](beast::error_code&, const auto& buffers) {
      out += beast::buffers_to_string(buffers);
      sr.consume(beast::buffer_bytes(buffers));
    });
  return out;
}

/// Whether a failed head read deserves an answer: a parse error does; silence, a timeout, a
/// closed or reset connection, or a head cut short by the client's close get none.
bool answerable(const beast::error_code& ec) {
  return !ec || (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message);
}

/// The seconds since the epoch at which this process started (Linux: /proc), else now.
double process_start_time() {
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  std::ifstream stat_file{"/proc/self/stat"};
  std::string stat{std::istreambuf_iterator<char>{stat_file}, {}};
  auto paren = stat.rfind(')');
  std::ifstream proc_stat{"/proc/stat"};
  std::string line;
  long long btime = -1;
  while (std::getline(proc_stat, line))
    if (line.rfind("btime ", 0) == 0) btime = std::atoll(line.c_str() + 6);
  long ticks = ::sysconf(_SC_CLK_TCK);
  if (paren == std::string::npos || btime < 0 || ticks <= 0) return now.count();
  std::istringstream rest{stat.substr(paren + 1)};
  std::string field;
  // Fields after the command: 3 (state) ... 22 (starttime, in clock ticks since boot).
  for (int i = 3; i <= 22 && (rest >> field); ++i) {
    if (i == 22) {
      auto start_ticks = std::strtoull(field.c_str(), nullptr, 10);
      return static_cast<double>(btime) +
             static_cast<double>(start_ticks) / static_cast<double>(ticks);
    }
  }
  return now.count();
}

}  // namespace

struct metrics_server::impl {
  /// The accepted connection being served: one at a time, the others wait in the listen backlog.
  struct connection {
    explicit connection(tcp::socket socket) : stream(std::move(socket)) {
      parser.header_limit(max_request_head);
    }
    beast::tcp_stream stream;
    beast::flat_buffer buffer{max_buffered};
    request_parser parser;
    std::string answer;
    std::array<char, 4096> scratch{};
  };

  impl(tcp::acceptor::protocol_type proto, prom::registry& reg) : protocol(proto), registry(reg) {}

  void accept_next();
  void serve(int fd);
  void on_head(const beast::error_code& ec);
  void drain();
  void read_rest();
  void finish();

  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer pause{ioc};
  tcp::acceptor::protocol_type protocol;
  prom::registry& registry;
  std::unique_ptr<connection> conn;
};

caf::expected<std::unique_ptr<metrics_server>> metrics_server::start(const std::string& listen,
                                                                     prom::registry& reg) {
  auto fd = bind_listener(listen);
  if (!fd) return fd.error();
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  bool named = ::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0;
  auto state = std::make_unique<impl>(bound.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), reg);
  beast::error_code ec;
  state->acceptor.assign(state->protocol, *fd, ec);
  if (!ec) state->acceptor.non_blocking(true, ec);
  if (ec) {
    if (!state->acceptor.is_open()) ::close(*fd);
    return listen_error(errc::io_error, listen, "cannot listen: " + ec.message());
  }
  std::unique_ptr<metrics_server> server{new metrics_server(std::move(state))};
  server->address_ = named ? describe(bound, server->port_) : listen;
  server->impl_->accept_next();
  server->thread_ = std::thread{[s = server->impl_.get()] {
    try {
      s->ioc.run();
    } catch (const std::exception& e) {
      log::error("metrics", "the metrics server stopped", {{"error", e.what()}});
    }
  }};
  return server;
}

metrics_server::metrics_server(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

metrics_server::~metrics_server() {
  // Handlers still pending are dropped with the io_context; the sockets close with impl_.
  impl_->ioc.stop();
  if (thread_.joinable()) thread_.join();
}

void metrics_server::impl::accept_next() {
  acceptor.async_wait(tcp::acceptor::wait_read, [this](const beast::error_code& ec) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      log::error("metrics", "the metrics server stopped", {{"error", ec.message()}});
      return;
    }
    // accept4, for a close-on-exec socket (Asio's accept sets no SOCK_CLOEXEC).
    int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) return serve(fd);
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors or memory: wait a little rather than spin.
      pause.expires_after(std::chrono::milliseconds{100});
      pause.async_wait([this](const beast::error_code& e) {
        if (!e) accept_next();
      });
      return;
    }
    accept_next();
  });
}

void metrics_server::impl::serve(int fd) {
  tcp::socket socket{ioc};
  beast::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return accept_next();
  }
  conn = std::make_unique<connection>(std::move(socket));
  conn->stream.expires_after(read_timeout);  // for the whole head, however it trickles in
  http::async_read_header(conn->stream, conn->buffer, conn->parser,
                          [this](const beast::error_code& e, size_t) { on_head(e); });
}

void metrics_server::impl::on_head(const beast::error_code& ec) {
  if (!answerable(ec)) return finish();  // silent, too slow, gone, or a stop: drop it
  conn->answer = serialize(answer_to(ec, conn->parser, registry));
  conn->stream.expires_after(read_timeout);
  net::async_write(conn->stream, net::buffer(conn->answer),
                   [this](const beast::error_code& e, size_t) {
                     if (e) return finish();
                     drain();
                   });
}

// Half-close, then read what the client may still send (a body we ignored), so that closing
// does not reset the connection before the client has read the answer.
void metrics_server::impl::drain() {
  beast::error_code ignored;
  conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  conn->stream.expires_after(drain_limit);
  read_rest();
}

void metrics_server::impl::read_rest() {
  conn->stream.async_read_some(net::buffer(conn->scratch),
                               [this](const beast::error_code& e, size_t) {
                                 if (e) return finish();  // the client's close, or the limit
                                 read_rest();
                               });
}

void metrics_server::impl::finish() {
  // Posted, so that the connection is not destroyed inside one of its own handlers.
  net::post(ioc, [this] {
    conn.reset();
    accept_next();
  });
}

std::string detail::scrape_answer(std::string_view request, const prom::registry& reg) {
  request_parser parser;
  parser.header_limit(max_request_head);
  beast::error_code ec;
  while (!ec && !parser.is_header_done()) {
    if (request.empty()) {
      // What a connection closed here would leave: a head cut short.
      if (parser.got_some())
        parser.put_eof(ec);
      else
        ec = http::error::partial_message;
      break;
    }
    auto used = parser.put(net::buffer(request.data(), request.size()), ec);
    request.remove_prefix(used);
    if (ec == http::error::need_more) {
      if (used == 0) request = {};  // the head's end is not in what is left
      ec = {};
    }
  }
  return serialize(answer_to(ec, parser, reg));
}

void register_process_metrics(const std::string& role) {
  auto& reg = prom::registry::global();
  reg.get_gauge("pqrt_build_info", "pqrt's version and the role of this process (always 1)",
                {{"version", version}, {"role", role}})
      .set(1);
  static const double started = process_start_time();
  reg.get_gauge("pqrt_process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds")
      .set(started);
}

caf::expected<std::unique_ptr<metrics_server>> serve_metrics(const std::string& listen,
                                                             const std::string& role) {
  register_process_metrics(role);
  if (listen.empty()) return std::unique_ptr<metrics_server>{};
  auto server = metrics_server::start(listen);
  if (!server) return server.error();
  log::info("metrics", "serving Prometheus metrics",
            {{"listen", (*server)->address()}, {"path", "/metrics"}, {"role", role}});
  return server;
}

}  // namespace pqrt
