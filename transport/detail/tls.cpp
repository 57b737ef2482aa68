// TLS over a connected TCP socket with OpenSSL: the peer's certificate chain is verified against
// the given CA file (or the system's), and its name against the host (or `sni`), always.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "transport/detail/stream.hpp"

namespace pqrt::transport::detail {

namespace {

struct ctx_deleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct ssl_deleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;
using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;

// A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own uses write(), which raises SIGPIPE
// on a connection the server has closed and would kill a process that did not ignore it.
int fd_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
}

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  auto n = ::send(fd_of(bio), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  auto n = ::recv(fd_of(bio), data, static_cast<size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* method = [] {
    auto* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pqrt socket");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    return m;
  }();
  return method;
}

std::string openssl_reason() {
  auto code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  return reason != nullptr ? reason : "unknown TLS error";
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

caf::expected<ctx_ptr> make_context(const redis_url& url) {
  ctx_ptr ctx{SSL_CTX_new(TLS_client_method())};
  if (!ctx) return stream_error(errc::tls_failed, url.endpoint(), openssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  int ok = url.ca_file.empty()
               ? SSL_CTX_set_default_verify_paths(ctx.get())
               : SSL_CTX_load_verify_locations(ctx.get(), url.ca_file.c_str(), nullptr);
  if (ok != 1)
    return stream_error(errc::tls_failed, url.endpoint(),
                        "cannot load the CA file '" + url.ca_file + "': " + openssl_reason());
  return ctx;
}

// Verifies the certificate for the SNI name when given (an IP endpoint behind a named
// certificate), for the host otherwise; IP literals are checked as IPs and never sent as SNI.
caf::error configure_peer(SSL* ssl, const redis_url& url, int fd) {
  const auto& name = url.sni.empty() ? url.host : url.sni;
  auto* param = SSL_get0_param(ssl);
  bool ok = true;
  if (is_ip_literal(name)) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1 &&
         SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  }
  if (!ok) return stream_error(errc::tls_failed, url.endpoint(), "bad TLS name '" + name + "'");
  BIO* bio = BIO_new(socket_method());
  if (bio == nullptr) return stream_error(errc::tls_failed, url.endpoint(), openssl_reason());
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);
  return {};
}

class tls_stream : public stream {
public:
  tls_stream(fd_handle fd, ctx_ptr ctx, ssl_ptr ssl, std::string endpoint)
      : fd_(std::move(fd)),
        ctx_(std::move(ctx)),
        ssl_(std::move(ssl)),
        endpoint_(std::move(endpoint)) {}

  caf::error handshake(deadline until) {
    for (;;) {
      ERR_clear_error();
      int rc = SSL_connect(ssl_.get());
      if (rc == 1) return {};
      if (auto err = wait_for(rc, until, "in the TLS handshake")) return handshake_error(err);
    }
  }

  caf::error write_all(std::string_view data, deadline until) override {
    while (!data.empty()) {
      ERR_clear_error();
      int n = SSL_write(ssl_.get(), data.data(),
                        static_cast<int>(std::min<size_t>(data.size(), INT_MAX)));
      if (n > 0)
        data.remove_prefix(static_cast<size_t>(n));
      else if (auto err = wait_for(n, until, "sending"))
        return err;
    }
    return {};
  }

  caf::expected<size_t> read_some(char* buf, size_t size, deadline until) override {
    for (;;) {
      ERR_clear_error();
      int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(size, INT_MAX)));
      if (n > 0) return static_cast<size_t>(n);
      if (auto err = wait_for(n, until, "waiting for a reply")) return err;
    }
  }

  bool idle_and_open() override {
    if (SSL_pending(ssl_.get()) > 0) return false;
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 0) == 0) return true;
    // Readable: TLS 1.3 session tickets are fine (SSL_read consumes them and wants more);
    // application data, close_notify or EOF mean the connection must not be used.
    char byte;
    ERR_clear_error();
    int n = SSL_read(ssl_.get(), &byte, 1);
    return n <= 0 && SSL_get_error(ssl_.get(), n) == SSL_ERROR_WANT_READ;
  }

private:
  // After an SSL call returned `rc` <= 0: waits when OpenSSL asks to, else names the failure.
  caf::error wait_for(int rc, deadline until, const char* what) {
    switch (SSL_get_error(ssl_.get(), rc)) {
      case SSL_ERROR_WANT_READ: return wait_ready(fd_.get(), POLLIN, until, endpoint_, what);
      case SSL_ERROR_WANT_WRITE: return wait_ready(fd_.get(), POLLOUT, until, endpoint_, what);
      case SSL_ERROR_ZERO_RETURN:
        return stream_error(errc::unavailable, endpoint_, "connection closed by the server");
      case SSL_ERROR_SYSCALL:
        return stream_error(errc::unavailable, endpoint_,
                            std::string{"connection lost ("} + strerror(errno) + ")");
      default:
        return stream_error(errc::unavailable, endpoint_,
                            "connection lost (TLS: " + openssl_reason() + ")");
    }
  }

  // A failed verification or a TLS protocol mismatch will fail again: `tls_failed`. An
  // unexpected EOF or a reset is an outage like any other: `unavailable`.
  caf::error handshake_error(caf::error err) {
    auto verify = SSL_get_verify_result(ssl_.get());
    auto code = ERR_peek_last_error();
    bool eof = ERR_GET_LIB(code) == ERR_LIB_SSL &&
               ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
    if (verify == X509_V_OK && (code == 0 || eof)) return err;
    auto text = "TLS handshake failed: " + openssl_reason();
    if (verify != X509_V_OK)
      text += std::string{" ("} + X509_verify_cert_error_string(verify) + ")";
    return stream_error(errc::tls_failed, endpoint_, text);
  }

  fd_handle fd_;
  ctx_ptr ctx_;
  ssl_ptr ssl_;
  std::string endpoint_;
};

}  // namespace

caf::expected<std::unique_ptr<stream>> open_tls_stream(fd_handle fd, const redis_url& url,
                                                       deadline until) {
  auto ctx = make_context(url);
  if (!ctx) return ctx.error();
  ssl_ptr ssl{SSL_new(ctx->get())};
  if (!ssl) return stream_error(errc::tls_failed, url.endpoint(), openssl_reason());
  if (auto err = configure_peer(ssl.get(), url, fd.get())) return err;
  auto out =
      std::make_unique<tls_stream>(std::move(fd), std::move(*ctx), std::move(ssl), url.endpoint());
  if (auto err = out->handshake(until)) return err;
  return std::unique_ptr<stream>{std::move(out)};
}

}  // namespace pqrt::transport::detail
