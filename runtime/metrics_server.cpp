#include "runtime/metrics_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/version.hpp"

namespace pqrt {

namespace {

using steady = std::chrono::steady_clock;

constexpr size_t max_request_head = 16 * 1024;
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

/// Waits for `fd` to be ready for `events` or the wake pipe to be readable; false on stop,
/// timeout or error.
bool wait_ready(int fd, short events, int wake, steady::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {wake, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (fds[1].revents != 0) return false;
    return true;
  }
}

std::string response(const std::string& status, const std::string& content_type,
                     const std::string& body, const std::string& extra_headers = {}) {
  return "HTTP/1.1 " + status + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
         "Connection: close\r\n\r\n" + body;
}

std::string plain(const std::string& status, const std::string& text,
                  const std::string& extra_headers = {}) {
  return response(status, "text/plain; charset=utf-8", text + "\n", extra_headers);
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

caf::expected<std::unique_ptr<metrics_server>> metrics_server::start(const std::string& listen,
                                                                     prom::registry& reg) {
  std::string host, port;
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
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0) {
    auto err = errno;
    ::close(fd);
    return listen_error(errc::io_error, listen, "pipe: " + errno_text(err));
  }
  std::unique_ptr<metrics_server> server{new metrics_server(fd, wake[0], wake[1], reg)};
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0)
    server->address_ = describe(bound, server->port_);
  else
    server->address_ = listen;
  server->thread_ = std::thread{[s = server.get()] { s->run(); }};
  return server;
}

metrics_server::metrics_server(int listen_fd, int wake_read, int wake_write, prom::registry& reg)
    : listen_fd_(listen_fd), wake_read_(wake_read), wake_write_(wake_write), registry_(reg) {}

metrics_server::~metrics_server() {
  if (thread_.joinable()) {
    char one = 1;
    while (::write(wake_write_, &one, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

void metrics_server::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::error("metrics", "the metrics server stopped", {{"error", errno_text(errno)}});
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors or memory: wait a little rather than spin.
        pollfd wake{wake_read_, POLLIN, 0};
        if (::poll(&wake, 1, 100) > 0) return;
      }
      continue;
    }
    serve(fd);
    ::close(fd);
  }
}

void metrics_server::serve(int fd) {
  auto deadline = steady::now() + read_timeout;
  std::string head;
  char buf[4096];
  size_t end = std::string::npos;
  while (end == std::string::npos) {
    if (!wait_ready(fd, POLLIN, wake_read_, deadline)) return;  // silent or stopping: drop it
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
    end = head.find("\r\n\r\n");
    if (end == std::string::npos && head.size() > max_request_head) break;
  }
  auto answer = detail::scrape_answer(head, registry_);
  size_t sent = 0;
  deadline = steady::now() + read_timeout;
  while (sent < answer.size()) {
    auto n = ::send(fd, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_ready(fd, POLLOUT, wake_read_, deadline)) return;
    } else {
      return;
    }
  }
  // Half-close, then read what the client may still send (a body we ignored), so that closing
  // does not reset the connection before the client has read the answer.
  ::shutdown(fd, SHUT_WR);
  auto drain_until = steady::now() + drain_limit;
  while (wait_ready(fd, POLLIN, wake_read_, drain_until)) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) break;
  }
}

std::string detail::scrape_answer(const std::string& head, const prom::registry& reg) {
  auto end = head.find("\r\n\r\n");
  auto line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (end == std::string::npos)
    return plain("431 Request Header Fields Too Large", "request head too large");
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 7, "HTTP/1.") != 0 ||
      line.find(' ', sp2 + 1) != std::string::npos)
    return plain("400 Bad Request", "bad request");
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto path = target.substr(0, target.find('?'));
  if (path != "/metrics") return plain("404 Not Found", "not found: the metrics are at /metrics");
  if (method != "GET")
    return plain("405 Method Not Allowed", "method not allowed", "Allow: GET\r\n");
  return response("200 OK", "text/plain; version=0.0.4; charset=utf-8", reg.render());
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
