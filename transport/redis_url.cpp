#include "transport/redis_url.hpp"

#include <charconv>

#include "runtime/base/error.hpp"

namespace pqrt::transport {

namespace {

caf::error bad(std::string what) {
  return make_error(errc::invalid_argument, "redis URL: " + std::move(what));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `part` names what is decoded, so that an error never shows the (secret) text itself.
caf::expected<std::string> percent_decode(std::string_view text, const char* part) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    int lo = hi >= 0 ? hex_value(text[i + 2]) : -1;
    if (lo < 0) return bad(std::string{"bad percent escape in the "} + part);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto end = text.data() + text.size();
  auto res = std::from_chars(text.data(), end, out);
  return !text.empty() && res.ec == std::errc{} && res.ptr == end;
}

caf::error parse_userinfo(std::string_view info, redis_url& url) {
  auto colon = info.find(':');
  if (colon == std::string_view::npos)
    return bad(
        "a user name without a password; for a password alone write "
        "redis://:password@host");
  auto user = percent_decode(info.substr(0, colon), "user name");
  if (!user) return user.error();
  auto password = percent_decode(info.substr(colon + 1), "password");
  if (!password) return password.error();
  url.user = std::move(*user);
  url.password = std::move(*password);
  return {};
}

caf::error parse_db(std::string_view text, redis_url& url) {
  if (!parse_number(text, url.db) || url.db < 0)
    return bad("bad database '" + std::string{text} + "' (expected a number >= 0)");
  return {};
}

caf::error parse_host_port(std::string_view text, redis_url& url) {
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    url.host = std::string{text.substr(1, close - 1)};
    auto after = text.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad("junk after ']' in the host");
    if (!after.empty()) port = after.substr(1);
  } else {
    auto colon = text.find(':');
    url.host = std::string{text.substr(0, colon)};
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
  }
  if (url.host.empty()) return bad("missing host");
  if (!port.empty() && (!parse_number(port, url.port) || url.port == 0))
    return bad("bad port '" + std::string{port} + "' (expected 1-65535)");
  return {};
}

caf::error parse_location(std::string_view text, redis_url& url) {
  if (url.scheme == redis_scheme::unix_socket) {
    if (text.empty() || text.front() != '/')
      return bad("a unix URL needs an absolute socket path: unix:///path/to/redis.sock");
    auto path = percent_decode(text, "socket path");
    if (!path) return path.error();
    url.socket_path = std::move(*path);
    return {};
  }
  auto slash = text.find('/');
  if (auto err = parse_host_port(text.substr(0, slash), url)) return err;
  if (slash == std::string_view::npos || slash + 1 == text.size()) return {};
  return parse_db(text.substr(slash + 1), url);
}

caf::error parse_option(std::string_view key, std::string_view raw, redis_url& url) {
  auto value = percent_decode(raw, "option value");
  if (!value) return value.error();
  bool tls = url.scheme == redis_scheme::tls;
  if (key == "db") return parse_db(*value, url);
  if (key == "timeout_ms") {
    int64_t ms = 0;
    if (!parse_number(std::string_view{*value}, ms) || ms <= 0)
      return bad("bad timeout_ms '" + *value + "' (expected milliseconds > 0)");
    url.timeout = std::chrono::milliseconds{ms};
    return {};
  }
  if ((key == "ca" || key == "sni") && !tls)
    return bad("option '" + std::string{key} + "' needs TLS (rediss://)");
  if (key == "ca")
    url.ca_file = std::move(*value);
  else if (key == "sni")
    url.sni = std::move(*value);
  else
    return bad("unknown option '" + std::string{key} + "' (known: ca, sni, timeout_ms, db)");
  return {};
}

caf::error parse_query(std::string_view query, redis_url& url) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      return bad("option '" + std::string{item} + "' without '=value'");
    if (auto err = parse_option(item.substr(0, eq), item.substr(eq + 1), url)) return err;
  }
  return {};
}

caf::error parse_scheme(std::string_view scheme, redis_url& url) {
  if (scheme == "redis") {
    url.scheme = redis_scheme::tcp;
  } else if (scheme == "rediss") {
    url.scheme = redis_scheme::tls;
    url.port = 6380;
  } else if (scheme == "unix") {
    url.scheme = redis_scheme::unix_socket;
  } else {
    return bad("unknown scheme '" + std::string{scheme} + "' (expected redis, rediss or unix)");
  }
  return {};
}

}  // namespace

caf::expected<redis_url> parse_redis_url(std::string_view text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return bad("missing scheme (expected redis://, rediss:// or unix://)");
  redis_url url;
  if (auto err = parse_scheme(text.substr(0, sep), url)) return err;
  auto rest = text.substr(sep + 3);
  auto qmark = rest.find('?');
  auto head = rest.substr(0, qmark);
  // The last '@' ends the user info, so that unescaped '/' in a password (base64 access keys)
  // still parses.
  auto at = head.rfind('@');
  if (at != std::string_view::npos) {
    if (auto err = parse_userinfo(head.substr(0, at), url)) return err;
    head = head.substr(at + 1);
  }
  if (auto err = parse_location(head, url)) return err;
  if (qmark != std::string_view::npos) {
    if (auto err = parse_query(rest.substr(qmark + 1), url)) return err;
  }
  return url;
}

std::string redis_url::endpoint() const {
  if (scheme == redis_scheme::unix_socket) return socket_path;
  auto name = host.find(':') == std::string::npos ? host : "[" + host + "]";
  return name + ":" + std::to_string(port);
}

std::string redis_url::describe() const {
  std::string out = scheme == redis_scheme::tcp   ? "redis://"
                    : scheme == redis_scheme::tls ? "rediss://"
                                                  : "unix://";
  if (!user.empty() || !password.empty()) out += user + (password.empty() ? "@" : ":***@");
  out += endpoint();
  if (db != 0) out += scheme == redis_scheme::unix_socket ? "?db=" : "/";
  if (db != 0) out += std::to_string(db);
  return out;
}

}  // namespace pqrt::transport
