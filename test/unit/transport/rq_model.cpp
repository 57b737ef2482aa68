// transport/rq_time and rq_job: RQ's exact encodings (a wrong one crashes Python workers).
#include <doctest/doctest.h>

#include "transport/rq_job.hpp"
#include "transport/rq_time.hpp"

using namespace pqrt::transport;

TEST_CASE("timestamps are RQ's utcformat, six fractional digits and a Z") {
  auto t = std::chrono::system_clock::from_time_t(1795467437) + std::chrono::microseconds{736213};
  CHECK(rq_timestamp(t) == "2026-11-23T20:57:17.736213Z");
  CHECK(rq_timestamp(std::chrono::system_clock::from_time_t(0)) == "1970-01-01T00:00:00.000000Z");
  auto back = parse_rq_timestamp("2026-11-23T20:57:17.736213Z");
  REQUIRE(back);
  CHECK(*back == t);
  CHECK(unix_seconds(t) == 1795467437);
}

TEST_CASE("the parser takes RQ's two forms and nothing else") {
  CHECK(parse_rq_timestamp("2026-11-23T20:57:17Z"));
  CHECK(parse_rq_timestamp("2026-11-23T20:57:17.7Z"));
  CHECK_FALSE(parse_rq_timestamp("2026-11-23T20:57:17+00:00"));
  CHECK_FALSE(parse_rq_timestamp("2026-11-23 20:57:17Z"));
  CHECK_FALSE(parse_rq_timestamp("2026-11-23T20:57:17.1234567Z"));
  CHECK_FALSE(parse_rq_timestamp(""));
}

TEST_CASE("job ids are uuid4 in RQ's form") {
  auto id = make_job_id();
  REQUIRE(id.size() == 36);
  CHECK(id[8] == '-');
  CHECK(id[14] == '4');
  CHECK(std::string{"89ab"}.find(id[19]) != std::string::npos);
  CHECK(make_job_id() != id);
}

TEST_CASE("the description is RQ's call string") {
  job_call call{
      "jobs.echo",
      py_value{},
      py_value::tuple({py_value{"x"}, py_value{1.5}, py_value::bytes(std::string("\0\xff", 2)),
                       py_value::list({py_value{1}, py_value{"two"}})}),
      {{{py_value{"key"}, py_value{"val"}}}}};
  CHECK(call_string(call) == "jobs.echo('x', 1.5, b'\\x00\\xff', [1, 'two'], key='val')");
  job_call long_arg{"f", py_value{}, py_value::tuple({py_value{std::string(100, 'a')}}), {}};
  CHECK(call_string(long_arg) == "f('" + std::string(74, 'a') + "...)");
}

TEST_CASE("job fields hold integers as bare decimals and only what is set") {
  job_spec spec;
  spec.call = {"tasks.add", py_value{}, py_value::tuple({py_value{2}, py_value{3}}), {}};
  spec.result_ttl = -1;
  spec.retries = 3;
  auto fields = job_fields(spec, rq_serializer::pickle);
  REQUIRE(fields);
  auto job = make_rq_job("id", *fields);
  CHECK(job.field("timeout") == "180");
  CHECK(job.field("result_ttl") == "-1");
  CHECK(job.field("retries_left") == "3");
  CHECK(job.fields.count("retry_intervals") == 0);  // RQ's default: retry at once
  CHECK(job.fields.count("failure_ttl") == 0);
  CHECK(job.field("description") == "tasks.add(2, 3)");
  CHECK(job.field("worker_name").empty());
  auto call = decode_job_data(job.field("data"), rq_serializer::pickle);
  REQUIRE(call);
  CHECK(call->func_name == "tasks.add");
}

TEST_CASE("retry intervals are read from RQ's JSON list") {
  auto job = make_rq_job("id", {"retry_intervals", "[10, 30, 60]", "retries_left", "2"});
  CHECK(job.retry_intervals() == std::vector<int64_t>{10, 30, 60});
  CHECK(job.retries_left() == 2);
  CHECK(make_rq_job("id", {}).timeout_seconds() == 180);
}

TEST_CASE("a zero timeout is refused, as RQ refuses it") {
  job_spec spec;
  spec.call = {"f", py_value{}, py_value::tuple({}), {}};
  spec.timeout = 0;
  CHECK_FALSE(job_fields(spec, rq_serializer::pickle));
}
