// runtime/builtins and the executor's retry policy.
#include "runtime/jobs/builtins.hpp"

#include <thread>

#include <doctest/doctest.h>

#include "actors/executor.hpp"
#include "runtime/base/error.hpp"
#include "runtime/jobs/record_job.hpp"

using pqrt::transport::py_value;
using steady = std::chrono::steady_clock;

namespace {

caf::expected<py_value> call(const std::string& func, std::vector<py_value> args,
                             steady::time_point deadline = steady::time_point::max()) {
  return pqrt::run_builtin("job-1", func, py_value::tuple(std::move(args)), py_value::dict({}),
                           deadline);
}

}  // namespace

TEST_CASE("echo, upper and sha256 compute what they say") {
  CHECK(*call("pqrt.echo", {py_value{"x"}}) == py_value{"x"});
  CHECK(*call("pqrt.echo", {py_value{1}, py_value{"a"}}) ==
        py_value::tuple({py_value{1}, py_value{"a"}}));
  CHECK(*call("pqrt.upper", {py_value{"abc-é"}}) == py_value{"ABC-é"});
  CHECK(*call("pqrt.sha256", {py_value{"abc"}}) ==
        py_value{"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"});
}

TEST_CASE("wrong arguments and unknown functions fail the job, clearly") {
  auto bad = call("pqrt.upper", {py_value{1}});
  REQUIRE_FALSE(bad);
  CHECK(pqrt::render(bad.error()).find("TypeError") != std::string::npos);
  auto unknown = call("tasks.add", {py_value{2}, py_value{3}});
  REQUIRE_FALSE(unknown);
  CHECK(pqrt::is(unknown.error(), pqrt::errc::job_failed));
  CHECK(pqrt::render(unknown.error()).find("'tasks.add'") != std::string::npos);
  auto failed = call("pqrt.fail", {py_value{"boom"}});
  REQUIRE_FALSE(failed);
  CHECK(pqrt::context_of(failed.error()) == "Exception: boom");
}

TEST_CASE("a job that runs past its deadline ends with a timeout") {
  auto r = call("pqrt.sleep_ms", {py_value{5000}}, steady::now() + std::chrono::milliseconds{50});
  REQUIRE_FALSE(r);
  CHECK(pqrt::is(r.error(), pqrt::errc::timeout));
  CHECK(*call("pqrt.sleep_ms", {py_value{1}}) == py_value{1});
}

TEST_CASE("a stop request ends a running job") {
  std::thread stopper([] {
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    while (!pqrt::job_control::request_stop("job-1"))
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
  });
  pqrt::job_control::begin("job-1");
  auto r = call("pqrt.cpu_ms", {py_value{10000}});
  CHECK(pqrt::job_control::stop_requested("job-1"));
  pqrt::job_control::end("job-1");
  stopper.join();
  REQUIRE_FALSE(r);
  CHECK(pqrt::context_of(r.error()).rfind("stopped", 0) == 0);
  CHECK_FALSE(pqrt::job_control::request_stop("job-1"));  // no longer running
}

TEST_CASE("retries follow RQ's intervals when given, else back off exponentially") {
  auto with =
      pqrt::transport::make_rq_job("j", {"retry_intervals", "[10, 30, 60]", "retries_left", "3"});
  CHECK(pqrt::retry_delay_for(with) == 10);
  auto last =
      pqrt::transport::make_rq_job("j", {"retry_intervals", "[10, 30, 60]", "retries_left", "1"});
  CHECK(pqrt::retry_delay_for(last) == 60);
  for (int failures = 0; failures < 12; ++failures) {
    auto job = pqrt::transport::make_rq_job("j", {"pqrt_failures", std::to_string(failures)});
    auto ceiling = std::min<int64_t>(300, int64_t{1} << std::min(failures, 9));
    auto delay = pqrt::retry_delay_for(job);
    CHECK(delay >= (ceiling + 1) / 2);
    CHECK(delay <= ceiling);
  }
}

TEST_CASE("record calls: one record, many, and many as bytes read back as made") {
  using pqrt::make_record_call;
  using pqrt::parse_record_call;
  auto one = parse_record_call(make_record_call({"r", "ds", 7, {"QUJD"}, "sha256"}));
  REQUIRE(one);
  CHECK_FALSE(one->many);
  CHECK(one->first == 7);
  CHECK(one->records == std::vector<std::string>{"QUJD"});
  // Many records as bytes: canonical base64 lines travel decoded; a line that is not (a changed
  // record, "QUJ=" has stray bits) stays text, so it fails alone, as it was.
  auto call =
      make_record_call({"r", "ds", 64, {"QUJD", "QUJ=", "not base64!"}, "exec", true, true});
  const auto* args = call.args.get_if<pqrt::transport::py_tuple>();
  REQUIRE(args);
  const auto* lines = args->items.at(3).get_if<pqrt::transport::py_list>();
  REQUIRE(lines);
  REQUIRE(lines->items.size() == 3);
  CHECK(lines->items[0] == pqrt::transport::py_value::bytes("ABC"));
  CHECK(lines->items[1] == pqrt::transport::py_value{"QUJ="});
  CHECK(lines->items[2] == pqrt::transport::py_value{"not base64!"});
  auto many = parse_record_call(call);
  REQUIRE(many);
  CHECK(many->many);
  CHECK(many->first == 64);
  CHECK(many->records == std::vector<std::string>{"QUJD", "QUJ=", "not base64!"});
  CHECK(many->processor == "exec");
  // Malformed: an empty list, an item of another type.
  call.args = pqrt::transport::py_value::tuple(
      {"r", "ds", 0, pqrt::transport::py_value::list({pqrt::transport::py_value{5}})});
  CHECK_FALSE(parse_record_call(call));
  call.args = pqrt::transport::py_value::tuple({"r", "ds", 0, pqrt::transport::py_value::list({})});
  CHECK_FALSE(parse_record_call(call));
}
