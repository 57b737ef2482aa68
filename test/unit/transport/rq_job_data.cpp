#include "transport/rq_job_data.hpp"

#include <doctest/doctest.h>

#include "runtime/base/error.hpp"
#include "transport/pickle.hpp"
#include "transport/rq_zlib.hpp"
#include "unit/transport/codec_util.hpp"

using namespace pqrt::transport;
using namespace pqrt::transport::test;
using pqrt::errc;

namespace {

job_call add_2_3() {
  return job_call{"tasks.add", nullptr, T({2, 3}), {}};
}

std::string data_ok(const job_call& call, rq_serializer serializer) {
  auto data = encode_job_data(call, serializer);
  REQUIRE_MESSAGE(data, pqrt::render(data.error()));
  return *data;
}

job_call call_ok(std::string_view data, rq_serializer serializer) {
  auto call = decode_job_data(data, serializer);
  REQUIRE_MESSAGE(call, pqrt::render(call.error()));
  return *call;
}

}  // namespace

TEST_SUITE("transport.rq_job_data") {
  TEST_CASE("data of ('tasks.add', None, (2, 3), {}) is what RQ 1.13 writes") {
    // Job.create('tasks.add', args=(2, 3)).to_dict()['data'] with /usr/bin/python3 and rq 1.13.0
    CHECK(to_hex(data_ok(add_2_3(), rq_serializer::pickle)) ==
          "789c6b609d2ac900011a3d9c2589c5d9c57a89292953fcbc99bc99dba6d44e2999a207009ad80a4c");
    // the same with serializer=JSONSerializer and kwargs={'k': 'v'}
    auto call = add_2_3();
    call.kwargs = py_dict{{{"k", "v"}}};
    CHECK(to_hex(data_ok(call, rq_serializer::json)) ==
          "789c8b562a492cce2ed64b4c4951d251c82bcdc9d1518836d251308ed551a856ca56b252502a53aa8d0500"
          "ee340b3d");
  }

  TEST_CASE("the reference's worked example (section 3.1): data bytes and decoding") {
    auto data = from_hex(
        "789c6b609d2ac500011a3d1cb9f9297a69a579c953fc7a1813a77833b64da99d5232450f00a95e0b1c");
    CHECK(data_ok(job_call{"mod.func", nullptr, T({"a", 1}), {}}, rq_serializer::pickle) == data);
    auto call = call_ok(data, rq_serializer::pickle);
    CHECK(call.func_name == "mod.func");
    CHECK(call.instance.is_none());
    CHECK(call.args == T({"a", 1}));
    CHECK(call.kwargs.items.empty());
    auto json = call_ok(zlib_compress("[\"mod.func\", null, [\"a\", 1], {}]"), rq_serializer::json);
    CHECK(json.func_name == "mod.func");
    CHECK(json.args == L({"a", 1}));
  }

  TEST_CASE("RQ-written data decodes (live python3 with rq)") {
    auto out = lines_of(run_python(
        "from rq.job import Job\n"
        "from rq.serializers import JSONSerializer\n"
        "from redis import Redis\n"
        "r = Redis()\n"
        "for s in (None, JSONSerializer):\n"
        "    j = Job.create('jobs.echo', args=('x', 1.5, [1, 'two']), kwargs={'key': 'val'},\n"
        "                   connection=r, serializer=s)\n"
        "    print(j.to_dict()['data'].hex())\n"));
    REQUIRE(out.size() == 2);
    for (auto serializer : {rq_serializer::pickle, rq_serializer::json}) {
      auto call = call_ok(from_hex(out[serializer == rq_serializer::pickle ? 0 : 1]), serializer);
      CHECK(call.func_name == "jobs.echo");
      CHECK(V{call.kwargs} == D({{"key", "val"}}));
      auto list = L({1, "two"});
      CHECK(call.args ==
            (serializer == rq_serializer::pickle ? T({"x", 1.5, list}) : L({"x", 1.5, list})));
    }
  }

  TEST_CASE("data round-trips, and uncompressed data is read as-is like RQ does") {
    job_call call{"pkg.mod.f", nullptr, L({B("\x01"), I("-99999999999999999999")}),
                  py_dict{{{"opt", D({{"x", T({})}})}}}};
    auto back = call_ok(data_ok(call, rq_serializer::pickle), rq_serializer::pickle);
    CHECK(back.func_name == call.func_name);
    CHECK(back.args == call.args);
    CHECK(V{back.kwargs} == V{call.kwargs});
    auto raw = call_ok(pickle_dumps(T({"f", nullptr, T({}), D({})})), rq_serializer::pickle);
    CHECK(raw.func_name == "f");
  }

  TEST_CASE("bad data gives clear errors") {
    auto error_of = [](std::string_view data, rq_serializer serializer) {
      auto call = decode_job_data(data, serializer);
      REQUIRE_FALSE(call);
      return pqrt::render(call.error());
    };
    CHECK(error_of(zlib_compress(pickle_dumps(T({1, 2, 3}))), rq_serializer::pickle)
              .find("expected (func_name, instance, args, kwargs)") != std::string::npos);
    CHECK(
        error_of(zlib_compress(pickle_dumps(T({1, nullptr, T({}), D({})}))), rq_serializer::pickle)
            .find("func_name is a int") != std::string::npos);
    CHECK(error_of(zlib_compress("[\"f\", null, {}, {}]"), rq_serializer::json)
              .find("args is a dict") != std::string::npos);
    CHECK(error_of(zlib_compress("[\"f\", null, [], []]"), rq_serializer::json)
              .find("kwargs is a list") != std::string::npos);
    auto global = error_of(from_hex("80059514000000000000008c05706f736978948c0673797374656d94939"
                                    "42e"),
                           rq_serializer::pickle);
    CHECK(global.find("unsupported: job data (not zlib, read as-is): pickle opcode STACK_GLOBAL") ==
          0);
    CHECK(error_of(zlib_compress("[1, 2"), rq_serializer::json).find("bad_format: job data") == 0);
    CHECK_FALSE(encode_job_data(job_call{"f", nullptr, D({}), {}}, rq_serializer::pickle));
    CHECK(pqrt::is(
        encode_job_data(job_call{"f", nullptr, T({B("x")}), {}}, rq_serializer::json).error(),
        errc::unsupported));
  }

  TEST_CASE("results: return_value, exc_string, exc_info") {
    auto five = encode_return_value(5, rq_serializer::pickle);
    REQUIRE(five);
    CHECK(*five == std::optional<std::string>{"gAVLBS4="});  // reference section 5.4
    auto none = encode_return_value(nullptr, rq_serializer::pickle);
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    auto back = decode_return_value("gAVLBS4=", rq_serializer::pickle);
    REQUIRE(back);
    CHECK(*back == V{5});
    auto json = encode_return_value(L({1, "a"}), rq_serializer::json);
    REQUIRE(json);
    CHECK(**json == "WzEsICJhIl0=");  // base64 of [1, "a"]
    CHECK(decode_return_value(**json, rq_serializer::json).value() == L({1, "a"}));
    CHECK_FALSE(decode_return_value("not base64!", rq_serializer::pickle));

    const char* text = "Traceback (most recent call last):\n  ValueError: \xc3\xa9\n";
    // b64encode(zlib.compress(text.encode())) by /usr/bin/python3
    CHECK(encode_exc_string(text) ==
          "eJwLKUpMTk1KTM5W0MjNLy5RKEpNTs0rUUhOzMlRyEksLtG04lJQCEvMKU11LSrKL7JSOLySCwDmhhJB");
    CHECK(decode_exc_string(encode_exc_string(text)).value() == text);
    CHECK_FALSE(decode_exc_string("aGVsbG8="));  // base64, but not zlib
    CHECK(decode_exc_info(encode_exc_info(text)) == text);
    CHECK(decode_exc_info("Moved to FailedJobRegistry at 2024") ==
          "Moved to FailedJobRegistry at 2024");
  }

  TEST_CASE("zlib: truncation and bombs") {
    auto packed = zlib_compress(std::string(100000, 'a'));
    for (size_t size = 0; size < packed.size(); ++size)
      CHECK_FALSE(zlib_decompress(packed.substr(0, size)));
    CHECK(zlib_decompress(packed + "trailing").value() == std::string(100000, 'a'));
    CHECK(pqrt::is(zlib_decompress(packed, 1000).error(), errc::unsupported));
    // Exactly at the cap is fine, and the output never holds more memory than the cap.
    auto at_cap = zlib_decompress(packed, 100000);
    REQUIRE(at_cap);
    CHECK(at_cap->capacity() <= 100000);
    CHECK(pqrt::is(zlib_decompress(packed, 99999).error(), errc::unsupported));
  }

  TEST_CASE("job data: a bomb fails naming the cap") {
    auto bomb = zlib_compress(std::string(size_t{8} << 20, '\0'));
    auto call = decode_job_data(bomb, rq_serializer::pickle, size_t{1} << 20);
    REQUIRE_FALSE(call);
    CHECK(pqrt::is(call.error(), errc::unsupported));
    CHECK(pqrt::render(call.error()).find("job data: zlib: output exceeds 1048576 bytes") !=
          std::string::npos);
  }

  TEST_CASE("job data: a bomb in the serialized form fails under the same cap") {
    // Pickle memo references copy a shared str per reference: a 1000-byte str, a list of 1000
    // references to it, and args holding a list of 1000 references to that list: 1 GB of str
    // from a few KB of pickle (under 100 bytes of zlib).
    auto p = std::string{"\x80\x05(\x8c\x01"} + "fN";  // PROTO 5, MARK, 'f', None
    p += "X" + std::string{"\xe8\x03\x00\x00", 4} + std::string(1000, 'x') + "\x94";  // memo 0
    p += "]\x94(";  // a list, memo 1, MARK
    for (int i = 0; i < 1000; ++i)
      p += std::string{"h\x00", 2};  // BINGET 0
    p += "e0](";                     // APPENDS, POP, a list, MARK
    for (int i = 0; i < 1000; ++i)
      p += std::string{"h\x01", 2};  // BINGET 1
    p += "e\x85}t.";                 // APPENDS, TUPLE1, {}, TUPLE, STOP
    auto bomb = zlib_compress(p);
    CHECK(bomb.size() < 100);
    auto call = decode_job_data(bomb, rq_serializer::pickle, size_t{64} << 20);
    REQUIRE_FALSE(call);
    CHECK(pqrt::is(call.error(), errc::unsupported));
    CHECK(pqrt::render(call.error()).find("more than 67108864 bytes") != std::string::npos);
    // The same shape, small, reads.
    auto get0 = std::string{"h\x00", 2};
    auto small = std::string{"\x80\x05(\x8c\x01"} + "fN]\x94(NNe0](" + get0 + get0 + "e\x85}t.";
    auto fits = decode_job_data(zlib_compress(small), rq_serializer::pickle);
    REQUIRE_MESSAGE(fits, pqrt::render(fits.error()));
    CHECK(fits->args == T({L({L({nullptr, nullptr}), L({nullptr, nullptr})})}));
    // JSON's `0,` is 2 bytes, a value in memory some 40: 16 MiB of text stays under a 64 MiB cap
    // but holds more than 64 MiB / 64 values.
    std::string many = "[\"f\", null, [";
    for (int i = 0; i < (8 << 20); ++i)
      many += "0,";
    many += "0], {}]";
    auto json = decode_job_data(zlib_compress(many), rq_serializer::json, size_t{64} << 20);
    REQUIRE_FALSE(json);
    CHECK(pqrt::is(json.error(), errc::unsupported));
    CHECK(pqrt::render(json.error()).find("more than 1048576 values") != std::string::npos);
    // A small JSON job still reads.
    CHECK(decode_job_data(zlib_compress("[\"f\", null, [0, 0], {}]"), rq_serializer::json));
  }
}
