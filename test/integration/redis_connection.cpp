// transport/redis_connection against a real redis-server: TCP, unix socket, TLS, pipelining,
// transactions, scripts, credentials, certificate checks and timeouts.
#include "transport/redis_connection.hpp"

#include "fixtures/redis_server.hpp"
#include "runtime/base/error.hpp"

#include <doctest/doctest.h>

using namespace pqrt::transport;
using pqrt::test::redis_server;
using pqrt::test::redis_server_options;

namespace {

template <class T>
std::string why(const caf::expected<T>& result) {
  return result ? std::string{} : pqrt::render(result.error());
}

redis_url url_of(const std::string& text) {
  auto url = parse_redis_url(text);
  REQUIRE_MESSAGE(url, why(url));
  return *url;
}

redis_connection connect_ok(const std::string& text) {
  auto conn = redis_connection::connect(url_of(text));
  REQUIRE_MESSAGE(conn, why(conn));
  return std::move(*conn);
}

caf::error connect_error(const std::string& text) {
  auto conn = redis_connection::connect(url_of(text));
  REQUIRE_FALSE(conn);
  return conn.error();
}

bool mentions(const caf::error& err, const std::string& text) {
  return pqrt::render(err).find(text) != std::string::npos;
}

void ping_set_get(redis_connection& conn) {
  auto pong = conn.command({"PING"});
  REQUIRE(pong);
  CHECK(pong->type == redis_reply::kind::status);
  CHECK(pong->str == "PONG");
  std::string value{"binary\0\r\nvalue", 14};
  auto set = conn.command({"SET", "pqrt:test", value});
  REQUIRE(set);
  CHECK(set->is_ok());
  auto get = conn.command({"GET", "pqrt:test"});
  REQUIRE(get);
  CHECK(*get == redis_reply::string(value));
  auto missing = conn.command({"GET", "pqrt:missing"});
  REQUIRE(missing);
  CHECK(missing->is_nil());
}

}  // namespace

TEST_CASE("PING, SET and GET over TCP") {
  redis_server server;
  auto conn = connect_ok(server.url());
  ping_set_get(conn);
}

TEST_CASE("PING, SET and GET over a unix socket, with a database") {
  redis_server_options options;
  options.unix_socket = true;
  redis_server server{options};
  auto conn = connect_ok(server.url() + "?db=3");
  ping_set_get(conn);
  auto db = conn.command({"CLIENT", "INFO"});
  REQUIRE(db);
  CHECK(db->str.find(" db=3 ") != std::string::npos);
}

TEST_CASE("PING, SET and GET over TLS, by host name and by IP address") {
  redis_server_options options;
  options.tls = true;
  redis_server server{options};
  auto by_name = connect_ok(server.url());
  ping_set_get(by_name);
  auto by_ip =
      connect_ok("rediss://127.0.0.1:" + std::to_string(server.port()) + "?ca=" + server.ca_file());
  ping_set_get(by_ip);
}

TEST_CASE("TLS with a CA that did not sign the certificate is refused") {
  redis_server_options options;
  options.tls = true;
  redis_server server{options};
  auto err = connect_error("rediss://localhost:" + std::to_string(server.port()) +
                           "?ca=" + server.other_ca_file());
  CHECK(pqrt::is(err, pqrt::errc::tls_failed));
  CHECK(mentions(err, "certificate verify failed"));
}

TEST_CASE("TLS with a certificate for another host name is refused") {
  redis_server_options options;
  options.tls = true;
  redis_server server{options};
  auto err = connect_error(server.url() + "&sni=cache.example.com");
  CHECK(pqrt::is(err, pqrt::errc::tls_failed));
  CHECK(mentions(err, "certificate verify failed"));
  CHECK(mentions(err, "hostname mismatch"));
}

TEST_CASE("TLS and plain text mixed up: an error naming the handshake, no hang") {
  // A plain-text Redis reads a ClientHello as an unfinished inline command and never answers.
  redis_server plain;
  auto err =
      connect_error("rediss://127.0.0.1:" + std::to_string(plain.port()) + "?timeout_ms=300");
  CHECK(pqrt::is(err, pqrt::errc::timeout));
  CHECK(mentions(err, "TLS handshake"));
  // A TLS Redis drops a connection that speaks plain RESP.
  redis_server_options options;
  options.tls = true;
  redis_server tls{options};
  auto closed = connect_error("redis://127.0.0.1:" + std::to_string(tls.port()));
  CHECK(pqrt::is(closed, pqrt::errc::unavailable));
}

TEST_CASE("a password: right, wrong, missing") {
  redis_server_options options;
  options.requirepass = "correct-horse";
  redis_server server{options};
  auto port = std::to_string(server.port());
  auto conn = connect_ok("redis://:correct-horse@127.0.0.1:" + port);
  ping_set_get(conn);
  auto wrong = connect_error("redis://:battery-staple@127.0.0.1:" + port);
  CHECK(pqrt::is(wrong, pqrt::errc::auth_failed));
  CHECK(mentions(wrong, "WRONGPASS"));
  CHECK_FALSE(mentions(wrong, "battery-staple"));
  auto missing = connect_error("redis://127.0.0.1:" + port);
  CHECK(pqrt::is(missing, pqrt::errc::auth_failed));
  CHECK(mentions(missing, "NOAUTH"));
}

TEST_CASE("an ACL user with a password") {
  redis_server_options options;
  options.acl_user = "alice";
  options.acl_password = "alice-secret";
  redis_server server{options};
  auto port = std::to_string(server.port());
  auto conn = connect_ok("redis://alice:alice-secret@127.0.0.1:" + port + "/2");
  auto who = conn.command({"ACL", "WHOAMI"});
  REQUIRE(who);
  CHECK(who->str == "alice");
  auto wrong = connect_error("redis://alice:not-hers@127.0.0.1:" + port);
  CHECK(pqrt::is(wrong, pqrt::errc::auth_failed));
  CHECK(mentions(wrong, "user alice"));
  CHECK_FALSE(mentions(wrong, "not-hers"));
}

TEST_CASE("a refused connection is unavailable") {
  redis_server server;
  auto url = server.url();
  server.stop();
  auto err = connect_error(url);
  CHECK(pqrt::is(err, pqrt::errc::unavailable));
  CHECK(mentions(err, "Connection refused"));
}

TEST_CASE("pipelining 10,000 commands in one call") {
  redis_server server;
  auto conn = connect_ok(server.url());
  std::vector<redis_command> cmds;
  for (int i = 0; i < 10000; ++i)
    cmds.push_back({"INCR", "pqrt:counter"});
  auto replies = conn.pipeline(cmds);
  REQUIRE_MESSAGE(replies, why(replies));
  REQUIRE(replies->size() == 10000);
  bool in_order = true;
  for (int i = 0; i < 10000; ++i)
    in_order = in_order && (*replies)[i].integer == i + 1;
  CHECK(in_order);
}

TEST_CASE("error replies: a value in a pipeline, redis_error from command") {
  redis_server server;
  auto conn = connect_ok(server.url());
  auto replies = conn.pipeline({{"SET", "k", "v"}, {"LPUSH", "k", "x"}, {"GET", "k"}});
  REQUIRE(replies);
  CHECK((*replies)[0].is_ok());
  CHECK((*replies)[1].is_error_code("WRONGTYPE"));
  CHECK((*replies)[2] == redis_reply::string("v"));
  auto err = conn.command({"LPUSH", "k", "x"});
  REQUIRE_FALSE(err);
  CHECK(pqrt::is(err.error(), pqrt::errc::redis_error));
  CHECK(mentions(err.error(), "LPUSH: WRONGTYPE"));
  CHECK(conn.usable());
  CHECK(conn.command({"PING"}));
}

TEST_CASE("MULTI/EXEC") {
  redis_server server;
  auto conn = connect_ok(server.url());
  auto exec = conn.transaction({{"SET", "n", "1"}, {"INCR", "n"}, {"GET", "n"}});
  REQUIRE(exec);
  CHECK(*exec == redis_reply::array({redis_reply::status("OK"), redis_reply::number(2),
                                     redis_reply::string("2")}));
  auto aborted = conn.transaction({{"SET", "n", "5"}, {"NOSUCHCOMMAND"}});
  REQUIRE_FALSE(aborted);
  CHECK(pqrt::is(aborted.error(), pqrt::errc::redis_error));
  CHECK(mentions(aborted.error(), "NOSUCHCOMMAND"));
  auto unchanged = conn.command({"GET", "n"});
  REQUIRE(unchanged);
  CHECK(unchanged->str == "2");
}

TEST_CASE("EVALSHA falls back to EVAL on NOSCRIPT and loads the script") {
  redis_server server;
  auto conn = connect_ok(server.url());
  std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  auto sha = script_sha(script);
  REQUIRE(conn.command({"SCRIPT", "FLUSH"}));
  auto first = conn.evalsha(sha, script, {"pqrt:n"}, {"5"});
  REQUIRE_MESSAGE(first, why(first));
  CHECK(first->integer == 5);
  auto exists = conn.command({"SCRIPT", "EXISTS", sha});
  REQUIRE(exists);
  CHECK(*exists == redis_reply::array({redis_reply::number(1)}));
  auto second = conn.evalsha(sha, script, {"pqrt:n"}, {"5"});
  REQUIRE(second);
  CHECK(second->integer == 10);
}

TEST_CASE("a command that outlasts its timeout fails with timeout, without hanging") {
  redis_server server;
  auto conn = connect_ok(server.url() + "?timeout_ms=200");
  auto slept = conn.command({"DEBUG", "SLEEP", "2"});
  REQUIRE_FALSE(slept);
  CHECK(pqrt::is(slept.error(), pqrt::errc::timeout));
  CHECK(mentions(slept.error(), "timeout 200 ms"));
  CHECK_FALSE(conn.usable());
  auto after = conn.command({"PING"});
  REQUIRE_FALSE(after);
  CHECK(pqrt::is(after.error(), pqrt::errc::unavailable));
}
