// runtime/metrics_registry and runtime/metrics_server: the registry's values and its rendering
// in the Prometheus text format 0.0.4, and the /metrics server over a real loopback socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/base/error.hpp"
#include "runtime/base/metrics_registry.hpp"
#include "runtime/metrics_server.hpp"

using namespace pqrt;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Connects to 127.0.0.1:port; -1 on failure.
int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};  // a guard: the server answers long before
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

/// Sends `request` and reads until the server closes.
std::string exchange(uint16_t port, const std::string& request) {
  int fd = connect_to(port);
  REQUIRE(fd >= 0);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

std::string status_line(const std::string& answer) {
  return answer.substr(0, answer.find("\r\n"));
}

std::string body_of(const std::string& answer) {
  auto at = answer.find("\r\n\r\n");
  return at == std::string::npos ? std::string{} : answer.substr(at + 4);
}

}  // namespace

TEST_CASE("counters, gauges and labels render in the text format") {
  prom::registry reg;
  auto& jobs =
      reg.get_counter("pqrt_test_jobs_total", "Jobs\nseen \\ here", {{"queue", "default"}});
  jobs.inc();
  jobs.inc(2);
  jobs.inc(-5);  // a counter never goes down
  CHECK(jobs.value() == 3);
  CHECK(&reg.get_counter("pqrt_test_jobs_total", "ignored", {{"queue", "default"}}) == &jobs);
  reg.get_counter("pqrt_test_jobs_total", "", {{"queue", "a\"b\\c\nd"}}).inc(0.5);
  auto& g = reg.get_gauge("pqrt_test_in_flight", "In flight");
  g.inc();
  g.inc();
  g.dec();
  g.add(0.25);
  CHECK(g.value() == 1.25);
  auto text = reg.render();
  CHECK(text ==
        "# HELP pqrt_test_in_flight In flight\n"
        "# TYPE pqrt_test_in_flight gauge\n"
        "pqrt_test_in_flight 1.25\n"
        "# HELP pqrt_test_jobs_total Jobs\\nseen \\\\ here\n"
        "# TYPE pqrt_test_jobs_total counter\n"
        "pqrt_test_jobs_total{queue=\"a\\\"b\\\\c\\nd\"} 0.5\n"
        "pqrt_test_jobs_total{queue=\"default\"} 3\n");
}

TEST_CASE("histograms are cumulative, end in +Inf, and count what the +Inf bucket holds") {
  prom::registry reg;
  auto& h = reg.get_histogram("pqrt_test_seconds", "Durations", {0.1, 1, 10}, {{"outcome", "ok"}});
  for (double v : {0.05, 0.1, 0.5, 2.0, 20.0, 30.0})
    h.observe(v);
  auto s = h.read();
  CHECK(s.cumulative == std::vector<uint64_t>{2, 3, 4, 6});
  CHECK(s.count == 6);
  CHECK(s.sum == doctest::Approx(52.65));
  auto text = reg.render();
  CHECK(contains(text, "# TYPE pqrt_test_seconds histogram\n"));
  CHECK(contains(text,
                 "pqrt_test_seconds_bucket{outcome=\"ok\",le=\"0.1\"} 2\n"
                 "pqrt_test_seconds_bucket{outcome=\"ok\",le=\"1\"} 3\n"
                 "pqrt_test_seconds_bucket{outcome=\"ok\",le=\"10\"} 4\n"
                 "pqrt_test_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 6\n"
                 "pqrt_test_seconds_sum{outcome=\"ok\"} 52.65\n"
                 "pqrt_test_seconds_count{outcome=\"ok\"} 6\n"));
  // An unlabelled histogram has only the le label.
  reg.get_histogram("pqrt_test_plain_seconds", "Plain", {1}).observe(0.5);
  CHECK(contains(reg.render(), "pqrt_test_plain_seconds_bucket{le=\"1\"} 1\n"));
  // The default job buckets are increasing and end at 5 minutes.
  const auto& b = prom::duration_buckets();
  CHECK(b.front() == 0.001);
  CHECK(b.back() == 300);
}

TEST_CASE("values use Prometheus' float syntax") {
  CHECK(prom::format_value(0) == "0");
  CHECK(prom::format_value(3) == "3");
  CHECK(prom::format_value(0.001) == "0.001");
  CHECK(prom::format_value(-2.5) == "-2.5");
  CHECK(prom::format_value(1e21) == "1e+21");
  constexpr auto inf = std::numeric_limits<double>::infinity();
  CHECK(prom::format_value(inf) == "+Inf");
  CHECK(prom::format_value(-inf) == "-Inf");
  CHECK(prom::format_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

TEST_CASE("bad names, types and buckets are programming errors") {
  prom::registry reg;
  CHECK(prom::valid_metric_name("pqrt_jobs_total"));
  CHECK(prom::valid_metric_name("a:b_c9"));
  CHECK_FALSE(prom::valid_metric_name("9jobs"));
  CHECK_FALSE(prom::valid_metric_name("jobs-total"));
  CHECK_FALSE(prom::valid_metric_name(""));
  CHECK(prom::valid_label_name("queue"));
  CHECK_FALSE(prom::valid_label_name("__name"));
  CHECK_FALSE(prom::valid_label_name("a:b"));
  CHECK_THROWS_AS(reg.get_counter("bad name", "x"), std::invalid_argument);
  CHECK_THROWS_AS(reg.get_counter("pqrt_x", "x", {{"bad-label", "v"}}), std::invalid_argument);
  reg.get_counter("pqrt_x", "x");
  CHECK_THROWS_AS(reg.get_gauge("pqrt_x", "x"), std::invalid_argument);
  reg.get_histogram("pqrt_h", "h", {1, 2});
  CHECK_THROWS_AS(reg.get_histogram("pqrt_h", "h", {1, 3}), std::invalid_argument);
  CHECK_THROWS_AS(reg.get_histogram("pqrt_h2", "h", {2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(reg.get_histogram("pqrt_h3", "h", {1}, {{"le", "1"}}), std::invalid_argument);
}

TEST_CASE("updates from many threads are all counted") {
  prom::registry reg;
  auto& c = reg.get_counter("pqrt_test_total", "c");
  auto& g = reg.get_gauge("pqrt_test_gauge", "g");
  auto& h = reg.get_histogram("pqrt_test_h", "h", prom::duration_buckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        g.inc();
        h.observe(0.002);
        g.dec();
        if (i % 1000 == 0) static_cast<void>(reg.render());
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(c.value() == 40000);
  CHECK(g.value() == 0);
  auto s = h.read();
  CHECK(s.count == 40000);
  CHECK(s.cumulative[0] == 0);
  CHECK(s.cumulative[1] == 40000);
  CHECK(s.sum == doctest::Approx(80.0));
}

TEST_CASE("the server answers GET /metrics, 404, 405 and 400, one request per connection") {
  prom::registry reg;
  reg.get_counter("pqrt_test_scrapes_total", "A counter").inc(7);
  auto server = metrics_server::start("127.0.0.1:0", reg);
  REQUIRE(server);
  auto port = (*server)->port();
  CHECK(port != 0);
  CHECK((*server)->address() == "127.0.0.1:" + std::to_string(port));

  auto ok = exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  CHECK(status_line(ok) == "HTTP/1.1 200 OK");
  CHECK(contains(ok, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  CHECK(contains(ok, "\r\nConnection: close\r\n"));
  CHECK(body_of(ok) == reg.render());
  CHECK(contains(body_of(ok), "pqrt_test_scrapes_total 7\n"));
  CHECK(contains(ok, "\r\nContent-Length: " + std::to_string(reg.render().size()) + "\r\n"));

  // A query string is allowed; the values are read afresh on every scrape.
  reg.get_counter("pqrt_test_scrapes_total", "").inc();
  CHECK(
      contains(exchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n"), "pqrt_test_scrapes_total 8\n"));

  CHECK(status_line(exchange(port, "GET /nope HTTP/1.1\r\n\r\n")) == "HTTP/1.1 404 Not Found");
  auto post = exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  CHECK(status_line(post) == "HTTP/1.1 405 Method Not Allowed");
  CHECK(contains(post, "\r\nAllow: GET\r\n"));
  CHECK(status_line(exchange(port, "garbage\r\n\r\n")) == "HTTP/1.1 400 Bad Request");
}

TEST_CASE("a silent client does not block the server, which stops at once when destroyed") {
  prom::registry reg;
  auto server = metrics_server::start("127.0.0.1:0", reg);
  REQUIRE(server);
  auto port = (*server)->port();
  int silent = connect_to(port);  // sends nothing
  REQUIRE(silent >= 0);
  // The server drops it after its read timeout and then answers the next client.
  auto answer = exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
  CHECK(status_line(answer) == "HTTP/1.1 200 OK");
  char byte;
  CHECK(::recv(silent, &byte, 1, 0) == 0);  // closed by the server
  ::close(silent);
  // Destroyed while a client is connected and silent: it returns without waiting for it.
  int another = connect_to(port);
  REQUIRE(another >= 0);
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  server->reset();
  ::close(another);
  CHECK(connect_to(port) == -1);  // nothing listens any more
}

TEST_CASE("an address that cannot be used is an error naming it") {
  auto first = metrics_server::start("127.0.0.1:0");
  REQUIRE(first);
  auto taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto again = metrics_server::start(taken);
  REQUIRE_FALSE(again);
  CHECK(is(again.error(), errc::io_error));
  CHECK(contains(render(again.error()), "metrics_listen " + taken));
  CHECK(contains(render(again.error()), "in use"));
  for (const char* bad : {"9100", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", "::1:9100",
                          "[::1", "[::1]9100"}) {
    auto r = metrics_server::start(bad);
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::config_invalid));
    CHECK(contains(render(r.error()), std::string{"metrics_listen "} + bad));
  }
  // An empty address serves nothing (and is no error).
  auto none = serve_metrics("", "test");
  REQUIRE(none);
  CHECK(*none == nullptr);
  CHECK(contains(prom::registry::global().render(), "pqrt_build_info{version=\""));
  CHECK(contains(prom::registry::global().render(), "pqrt_process_start_time_seconds "));
}
