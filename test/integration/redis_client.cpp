// transport/redis_client against a real redis-server that stops, restarts and stalls.
#include "transport/redis_client.hpp"

#include <thread>

#include "fixtures/redis_server.hpp"
#include "runtime/base/error.hpp"

#include <doctest/doctest.h>

using namespace pqrt::transport;
using pqrt::test::redis_server;
using namespace std::chrono_literals;

namespace {

template <class T>
std::string why(const caf::expected<T>& result) {
  return result ? std::string{} : pqrt::render(result.error());
}

redis_client make_client(const std::string& text, std::chrono::milliseconds give_up_after) {
  auto url = parse_redis_url(text);
  REQUIRE_MESSAGE(url, why(url));
  redis_client_options options;
  options.give_up_after = give_up_after;
  return redis_client{*url, options};
}

bool mentions(const caf::error& err, const std::string& text) {
  return pqrt::render(err).find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("a stopped server: reconnect attempts, then unavailable after give_up_after") {
  redis_server server;
  auto client = make_client(server.url(), 1s);
  REQUIRE(client.command({"SET", "k", "v"}));
  server.stop();
  auto failed = client.command({"GET", "k"});
  REQUIRE_FALSE(failed);
  CHECK(pqrt::is(failed.error(), pqrt::errc::unavailable));
  CHECK(mentions(failed.error(), "gave up on redis://127.0.0.1:" + std::to_string(server.port())));
  CHECK(mentions(failed.error(), "Connection refused"));
  // Still down: the next call fails too (after one more attempt), it does not hang.
  auto again = client.pipeline({{"PING"}, {"PING"}});
  REQUIRE_FALSE(again);
  CHECK(pqrt::is(again.error(), pqrt::errc::unavailable));
}

TEST_CASE("a server restarted on the same port between calls: the client continues") {
  redis_server server;
  auto client = make_client(server.url(), 10s);
  REQUIRE(client.command({"SET", "k", "before"}));
  server.stop();
  server.start();
  auto set = client.command({"SET", "k", "after"});
  REQUIRE_MESSAGE(set, why(set));
  auto get = client.command({"GET", "k"});
  REQUIRE(get);
  CHECK(get->str == "after");
}

TEST_CASE("a server that comes back during a call: the call waits and succeeds") {
  redis_server server;
  auto client = make_client(server.url(), 20s);
  REQUIRE(client.connect() == caf::error{});
  server.stop();
  std::thread restarter{[&] {
    std::this_thread::sleep_for(300ms);
    server.start();
  }};
  auto pong = client.command({"PING"});
  restarter.join();
  REQUIRE_MESSAGE(pong, why(pong));
  CHECK(pong->str == "PONG");
}

TEST_CASE("a timed-out call fails with timeout; the client reconnects afterwards") {
  redis_server server;
  auto client = make_client(server.url() + "?timeout_ms=200", 20s);
  auto slept = client.command({"DEBUG", "SLEEP", "2"});
  REQUIRE_FALSE(slept);
  CHECK(pqrt::is(slept.error(), pqrt::errc::timeout));
  CHECK_FALSE(client.connected());
  auto pong = client.command({"PING"});
  REQUIRE_MESSAGE(pong, why(pong));
  CHECK(pong->str == "PONG");
}

TEST_CASE("wrong credentials fail at once, without retrying") {
  pqrt::test::redis_server_options options;
  options.requirepass = "right-password";
  redis_server server{options};
  auto client =
      make_client("redis://:wrong-password@127.0.0.1:" + std::to_string(server.port()), 30s);
  auto err = client.connect();
  CHECK(pqrt::is(err, pqrt::errc::auth_failed));
  CHECK_FALSE(mentions(err, "wrong-password"));
}

TEST_CASE("the client runs transactions and scripts like a connection") {
  redis_server server;
  auto client = make_client(server.url(), 5s);
  auto exec = client.transaction({{"SET", "n", "1"}, {"INCR", "n"}});
  REQUIRE(exec);
  CHECK(exec->elements.size() == 2);
  std::string script = "return redis.call('GET', KEYS[1])";
  auto got = client.evalsha(script_sha(script), script, {"n"}, {});
  REQUIRE(got);
  CHECK(got->str == "2");
}
