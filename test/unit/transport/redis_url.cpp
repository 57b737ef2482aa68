// transport/redis_url: the three URL forms, defaults, options, errors, and describe().
#include "transport/redis_url.hpp"

#include "runtime/base/error.hpp"

#include <doctest/doctest.h>

using namespace pqrt::transport;

namespace {

template <class T>
std::string why(const caf::expected<T>& result) {
  return result ? std::string{} : pqrt::render(result.error());
}

redis_url parse_ok(std::string_view text) {
  auto url = parse_redis_url(text);
  REQUIRE_MESSAGE(url, why(url));
  return *url;
}

std::string parse_error(std::string_view text) {
  auto url = parse_redis_url(text);
  REQUIRE_FALSE(url);
  CHECK(pqrt::is(url.error(), pqrt::errc::invalid_argument));
  return pqrt::context_of(url.error());
}

}  // namespace

TEST_CASE("redis:// defaults to port 6379 and database 0") {
  auto url = parse_ok("redis://cache.local");
  CHECK(url.scheme == redis_scheme::tcp);
  CHECK(url.host == "cache.local");
  CHECK(url.port == 6379);
  CHECK(url.db == 0);
  CHECK(url.user.empty());
  CHECK(url.password.empty());
  CHECK(url.timeout == std::chrono::milliseconds{5000});
  CHECK(url.describe() == "redis://cache.local:6379");
}

TEST_CASE("rediss:// defaults to port 6380 (Azure Cache for Redis)") {
  auto url = parse_ok("rediss://:s3cret%2Fkey=@pqrt.redis.cache.windows.net");
  CHECK(url.scheme == redis_scheme::tls);
  CHECK(url.port == 6380);
  CHECK(url.password == "s3cret/key=");
  CHECK(url.describe() == "rediss://:***@pqrt.redis.cache.windows.net:6380");
}

TEST_CASE("user, password, port and database") {
  auto url = parse_ok("redis://alice:p%40ss%3Aword@10.0.0.5:7000/3");
  CHECK(url.user == "alice");
  CHECK(url.password == "p@ss:word");
  CHECK(url.host == "10.0.0.5");
  CHECK(url.port == 7000);
  CHECK(url.db == 3);
  CHECK(url.describe() == "redis://alice:***@10.0.0.5:7000/3");
  CHECK(url.endpoint() == "10.0.0.5:7000");
}

TEST_CASE("an unescaped '/' in a password (base64 access key) still parses") {
  auto url = parse_ok("rediss://:ab/cd+ef==@host:6380/1");
  CHECK(url.password == "ab/cd+ef==");
  CHECK(url.host == "host");
  CHECK(url.db == 1);
}

TEST_CASE("IPv6 literals in brackets") {
  auto url = parse_ok("redis://[::1]:6390");
  CHECK(url.host == "::1");
  CHECK(url.port == 6390);
  CHECK(url.endpoint() == "[::1]:6390");
}

TEST_CASE("unix:// takes a socket path, credentials and db as an option") {
  auto url = parse_ok("unix:///var/run/redis/redis.sock");
  CHECK(url.scheme == redis_scheme::unix_socket);
  CHECK(url.socket_path == "/var/run/redis/redis.sock");
  auto with = parse_ok("unix://:pw12@/tmp/r.sock?db=2&timeout_ms=250");
  CHECK(with.password == "pw12");
  CHECK(with.socket_path == "/tmp/r.sock");
  CHECK(with.db == 2);
  CHECK(with.timeout == std::chrono::milliseconds{250});
  CHECK(with.describe() == "unix://:***@/tmp/r.sock?db=2");
}

TEST_CASE("TLS options: CA file and SNI") {
  auto url = parse_ok("rediss://10.1.2.3/0?ca=%2Fetc%2Fpqrt%2Fca.pem&sni=cache.example.com");
  CHECK(url.ca_file == "/etc/pqrt/ca.pem");
  CHECK(url.sni == "cache.example.com");
  CHECK(url.db == 0);
}

TEST_CASE("errors name the bad part") {
  CHECK(parse_error("cache:6379").find("missing scheme") != std::string::npos);
  CHECK(parse_error("http://x").find("unknown scheme 'http'") != std::string::npos);
  CHECK(parse_error("redis://host:0").find("bad port '0'") != std::string::npos);
  CHECK(parse_error("redis://host:70000").find("bad port '70000'") != std::string::npos);
  CHECK(parse_error("redis://host:63x9").find("bad port") != std::string::npos);
  CHECK(parse_error("redis://host/abc").find("bad database 'abc'") != std::string::npos);
  CHECK(parse_error("redis://host/-1").find("bad database") != std::string::npos);
  CHECK(parse_error("redis://:pw@").find("missing host") != std::string::npos);
  CHECK(parse_error("redis://[::1:6379").find("unclosed '['") != std::string::npos);
  CHECK(parse_error("unix://host/x.sock").find("absolute socket path") != std::string::npos);
  CHECK(parse_error("redis://h?timeout_ms=0").find("bad timeout_ms") != std::string::npos);
  CHECK(parse_error("redis://h?color=red").find("unknown option 'color'") != std::string::npos);
  CHECK(parse_error("redis://h?ca=/x").find("needs TLS") != std::string::npos);
  CHECK(parse_error("redis://h?timeout").find("without '=value'") != std::string::npos);
}

TEST_CASE("errors never show the password") {
  auto text = parse_error("redis://:hunter2%zz@host");
  CHECK(text.find("password") != std::string::npos);
  CHECK(text.find("hunter2") == std::string::npos);
  auto lone = parse_error("redis://hunter2@host");
  CHECK(lone.find("hunter2") == std::string::npos);
  auto port = parse_error("redis://:hunter2@host:x");
  CHECK(port.find("hunter2") == std::string::npos);
}
