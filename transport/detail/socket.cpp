// Plain TCP and unix-socket streams, and the poll()-based waiting that TLS uses too.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "transport/detail/stream.hpp"

namespace pqrt::transport::detail {

fd_handle::~fd_handle() {
  if (fd_ >= 0) ::close(fd_);
}

fd_handle& fd_handle::operator=(fd_handle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

caf::error stream_error(errc code, const std::string& endpoint, const std::string& text) {
  return make_error(code, "redis " + endpoint + ": " + text);
}

caf::error wait_ready(int fd, short events, deadline until, const std::string& endpoint,
                      const char* what) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now()).count();
    if (left <= 0) return stream_error(errc::timeout, endpoint, std::string{"timed out "} + what);
    pollfd pfd{fd, events, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, INT_MAX)));
    // POLLERR and POLLHUP count as ready: the following read or write reports the cause.
    if (rc > 0) return {};
    if (rc < 0 && errno != EINTR)
      return stream_error(errc::unavailable, endpoint, std::string{"poll: "} + strerror(errno));
  }
}

namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

class plain_stream : public stream {
public:
  plain_stream(fd_handle fd, std::string endpoint)
      : fd_(std::move(fd)), endpoint_(std::move(endpoint)) {}

  caf::error write_all(std::string_view data, deadline until) override {
    while (!data.empty()) {
      auto n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (!would_block(errno)) {
        return lost("send", errno);
      } else if (auto err = wait_ready(fd_.get(), POLLOUT, until, endpoint_, "sending")) {
        return err;
      }
    }
    return {};
  }

  caf::expected<size_t> read_some(char* buf, size_t size, deadline until) override {
    for (;;) {
      auto n = ::recv(fd_.get(), buf, size, 0);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0)
        return stream_error(errc::unavailable, endpoint_, "connection closed by the server");
      if (!would_block(errno)) return lost("recv", errno);
      if (auto err = wait_ready(fd_.get(), POLLIN, until, endpoint_, "waiting for a reply"))
        return err;
    }
  }

  bool idle_and_open() override {
    char byte;
    auto n = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && would_block(errno);
  }

private:
  caf::error lost(const char* call, int err) {
    return stream_error(errc::unavailable, endpoint_,
                        std::string{"connection lost ("} + call + ": " + strerror(err) + ")");
  }

  fd_handle fd_;
  std::string endpoint_;
};

// Finishes a non-blocking connect(): waits for writability, then asks for the outcome.
caf::error finish_connect(int fd, int rc, deadline until, const std::string& endpoint) {
  if (rc != 0 && errno != EINPROGRESS)
    return stream_error(errc::unavailable, endpoint, std::string{"connect: "} + strerror(errno));
  if (rc == 0) return {};
  if (auto err = wait_ready(fd, POLLOUT, until, endpoint, "connecting")) return err;
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0)
    return stream_error(errc::unavailable, endpoint, std::string{"connect: "} + strerror(so_error));
  return {};
}

caf::expected<fd_handle> connect_address(const addrinfo& ai, deadline until,
                                         const std::string& endpoint) {
  fd_handle fd{::socket(ai.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (fd.get() < 0)
    return stream_error(errc::unavailable, endpoint, std::string{"socket: "} + strerror(errno));
  int rc = ::connect(fd.get(), ai.ai_addr, ai.ai_addrlen);
  if (auto err = finish_connect(fd.get(), rc, until, endpoint)) return err;
  // Small commands go out at once (no Nagle delay); keep-alive notices silently dead peers.
  int on = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  return fd;
}

// getaddrinfo has no timeout of its own; name lookups are assumed to be fast (local resolver).
caf::expected<fd_handle> connect_tcp(const redis_url& url, deadline until) {
  auto endpoint = url.endpoint();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &found);
  if (rc != 0)
    return stream_error(errc::unavailable, endpoint,
                        std::string{"cannot resolve the host: "} + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard{found, &freeaddrinfo};
  caf::error last;
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    auto fd = connect_address(*ai, until, endpoint);
    if (fd) return fd;
    last = std::move(fd.error());
    if (is(last, errc::timeout)) break;
  }
  return last;
}

caf::expected<fd_handle> connect_unix(const redis_url& url, deadline until) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (url.socket_path.size() >= sizeof(addr.sun_path))
    return stream_error(errc::invalid_argument, url.socket_path, "socket path too long");
  std::memcpy(addr.sun_path, url.socket_path.data(), url.socket_path.size());
  fd_handle fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (fd.get() < 0)
    return stream_error(errc::unavailable, url.socket_path,
                        std::string{"socket: "} + strerror(errno));
  int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (auto err = finish_connect(fd.get(), rc, until, url.socket_path)) return err;
  return fd;
}

}  // namespace

caf::expected<std::unique_ptr<stream>> open_stream(const redis_url& url, deadline until) {
  auto fd =
      url.scheme == redis_scheme::unix_socket ? connect_unix(url, until) : connect_tcp(url, until);
  if (!fd) return fd.error();
  if (url.scheme == redis_scheme::tls) return open_tls_stream(std::move(*fd), url, until);
  return std::unique_ptr<stream>{std::make_unique<plain_stream>(std::move(*fd), url.endpoint())};
}

}  // namespace pqrt::transport::detail
