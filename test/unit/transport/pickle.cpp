#include "transport/pickle.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>

#include "runtime/base/error.hpp"
#include "unit/transport/codec_util.hpp"

using namespace pqrt::transport;
using namespace pqrt::transport::test;
using pqrt::errc;

namespace {

struct sample {
  V value;
  const char* python;  // the same value as a Python expression
  const char* hex;     // pickle.dumps(value, 5) by /usr/bin/python3 (CPython 3.11)
};

// Generated once with /usr/bin/python3 (CPython 3.11.2): pickle.dumps(eval(python), 5).hex().
const std::vector<sample>& samples() {
  static const std::vector<sample> all = {
      {V{}, "None", "80054e2e"},
      {V{true}, "True", "8005882e"},
      {V{false}, "False", "8005892e"},
      {V{0}, "0", "80054b002e"},
      {V{1}, "1", "80054b012e"},
      {V{255}, "255", "80054bff2e"},
      {V{256}, "256", "80059504000000000000004d00012e"},
      {V{65535}, "65535", "80059504000000000000004dffff2e"},
      {V{65536}, "65536", "80059506000000000000004a000001002e"},
      {V{-1}, "-1", "80059506000000000000004affffffff2e"},
      {V{-128}, "-128", "80059506000000000000004a80ffffff2e"},
      {V{-129}, "-129", "80059506000000000000004a7fffffff2e"},
      {V{-256}, "-256", "80059506000000000000004a00ffffff2e"},
      {V{2147483647}, "2**31-1", "80059506000000000000004affffff7f2e"},
      {V{-2147483647 - 1}, "-2**31", "80059506000000000000004a000000802e"},
      {V{2147483648LL}, "2**31", "80059508000000000000008a0500000080002e"},
      {V{-2147483649LL}, "-2**31-1", "80059508000000000000008a05ffffff7fff2e"},
      {V{INT64_MAX}, "2**63-1", "8005950b000000000000008a08ffffffffffffff7f2e"},
      {V{INT64_MIN}, "-2**63", "8005950b000000000000008a0800000000000000802e"},
      {V{uint64_t{1} << 63}, "2**63", "8005950c000000000000008a090000000000000080002e"},
      {I("-9223372036854775809"), "-2**63-1", "8005950c000000000000008a09ffffffffffffff7fff2e"},
      {I("18446744073709551616"), "2**64", "8005950c000000000000008a090000000000000000012e"},
      {I("-18446744073709551616"), "-(2**64)", "8005950c000000000000008a090000000000000000ff2e"},
      {I("10000000000000000000000000000000000000000"), "10**40",
       "80059514000000000000008a11000000000061f5b9abbfa45cc3f129631d2e"},
      {I("-10000000000000000000000000000000000000000"), "-(10**40)",
       "80059514000000000000008a1100000000009f0a4654405ba33c0ed69ce22e"},
      {I("1180591620717411303424"), "2**70", "8005950c000000000000008a090000000000000000402e"},
      {V{0.0}, "0.0", "8005950a000000000000004700000000000000002e"},
      {V{-0.0}, "-0.0", "8005950a000000000000004780000000000000002e"},
      {V{1.5}, "1.5", "8005950a00000000000000473ff80000000000002e"},
      {V{-2.25}, "-2.25", "8005950a0000000000000047c0020000000000002e"},
      {V{1e300}, "1e300", "8005950a00000000000000477e37e43c8800759c2e"},
      {V{1e-300}, "1e-300", "8005950a000000000000004701a56e1fc2f8f3592e"},
      {V{HUGE_VAL}, "float('inf')", "8005950a00000000000000477ff00000000000002e"},
      {V{-HUGE_VAL}, "float('-inf')", "8005950a0000000000000047fff00000000000002e"},
      {V{0.1}, "0.1", "8005950a00000000000000473fb999999999999a2e"},
      {V{""}, "''", "80059504000000000000008c00942e"},
      {V{"a"}, "'a'", "80059505000000000000008c0161942e"},
      {V{"mod.func"}, "'mod.func'", "8005950c000000000000008c086d6f642e66756e63942e"},
      {V{"h\u00e9llo w\u00f6rld"}, "'héllo wörld'",
       "80059511000000000000008c0d68c3a96c6c6f2077c3b6726c64942e"},
      {V{"\u65e5\u672c\u8a9e"}, "'日本語'", "8005950d000000000000008c09e697a5e69cace8aa9e942e"},
      {V{"\U0001F600"}, "'😀'", "80059508000000000000008c04f09f9880942e"},
      {V{std::string(255, 'x')}, "'x'*255",
       "80059503010000000000008cff78787878787878787878787878787878787878787878787878787878787878787"
       "8787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
       "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787"
       "8787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
       "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787"
       "878787878787878787878787878787878787878787878787878787878787878787878787878787878942e"},
      {V{std::string(256, 'y')}, "'y'*256",
       "8005950701000000000000580001000079797979797979797979797979797979797979797979797979797979797"
       "9797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
       "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797"
       "9797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
       "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797"
       "9797979797979797979797979797979797979797979797979797979797979797979797979797979797979797994"
       "2e"},
      {B(""), "b''", "80059504000000000000004300942e"},
      {B(std::string("\x00\xff", 2)), "b'\\x00\\xff'", "8005950600000000000000430200ff942e"},
      {B(std::string(255, 'q')), "b'q'*255",
       "800595030100000000000043ff71717171717171717171717171717171717171717171717171717171717171717"
       "1717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171"
       "7171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717"
       "1717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171"
       "7171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717"
       "171717171717171717171717171717171717171717171717171717171717171717171717171717171942e"},
      {B(std::string(256, 'r')), "b'r'*256",
       "8005950701000000000000420001000072727272727272727272727272727272727272727272727272727272727"
       "2727272727272727272727272727272727272727272727272727272727272727272727272727272727272727272"
       "7272727272727272727272727272727272727272727272727272727272727272727272727272727272727272727"
       "2727272727272727272727272727272727272727272727272727272727272727272727272727272727272727272"
       "7272727272727272727272727272727272727272727272727272727272727272727272727272727272727272727"
       "2727272727272727272727272727272727272727272727272727272727272727272727272727272727272727294"
       "2e"},
      {T({}), "()", "8005292e"},
      {T({1}), "(1,)", "80059505000000000000004b0185942e"},
      {T({1, 2}), "(1,2)", "80059507000000000000004b014b0286942e"},
      {T({1, 2, 3}), "(1,2,3)", "80059509000000000000004b014b024b0387942e"},
      {T({1, 2, 3, 4}), "(1,2,3,4)", "8005950c00000000000000284b014b024b034b0474942e"},
      {L({}), "[]", "80055d942e"},
      {L({1}), "[1]", "80059506000000000000005d944b01612e"},
      {L({1, 2}), "[1,2]", "80059509000000000000005d94284b014b02652e"},
      {D({}), "{}", "80057d942e"},
      {D({{"k", "v"}}), "{'k': 'v'}", "8005950c000000000000007d948c016b948c017694732e"},
      {D({{"a", 1}, {"b", 2}}), "{'a': 1, 'b': 2}",
       "80059511000000000000007d94288c0161944b018c0162944b02752e"},
      {D({{1, nullptr}, {2.5, true}, {nullptr, "x"}, {T({1, "y"}), B("z")}}),
       "{1: None, 2.5: True, None: 'x', (1, 'y'): b'z'}",
       "80059523000000000000007d94284b014e474004000000000000884e8c0178944b018c017994869443017a94752"
       "e"},
      {T({"mod.func", nullptr, T({"a", 1}), D({})}), "('mod.func', None, ('a', 1), {})",
       "8005951a00000000000000288c086d6f642e66756e63944e8c0161944b0186947d9474942e"},
      {T({"tasks.add", nullptr, T({2, 3}), D({})}), "('tasks.add', None, (2, 3), {})",
       "8005951900000000000000288c097461736b732e616464944e4b024b0386947d9474942e"},
      {L({L({L({})}), T({L({})}), D({{"n", D({{"m", L({1.5})}})}})}),
       "[[[]], ([],), {'n': {'m': [1.5]}}]",
       "80059528000000000000005d94285d945d94615d9485947d948c016e947d948c016d945d94473ff800000000000"
       "0617373652e"},
      {T({"jobs.echo", nullptr, T({"x", 1.5, B(std::string("\x00\xff", 2)), L({1, "two"})}),
          D({{"key", "val"}})}),
       "('jobs.echo', None, ('x', 1.5, b'\\x00\\xff', [1, 'two']), {'key': 'val'})",
       "8005954100000000000000288c096a6f62732e6563686f944e288c017894473ff8000000000000430200ff945d9"
       "4284b018c0374776f946574947d948c036b6579948c0376616c947374942e"},
  };
  return all;
}

// Values past the frame and batch boundaries, compared with CPython live (their pickles are large).
std::vector<std::pair<V, const char*>> large_samples() {
  std::vector<V> range1000, range1001, range2500, texts;
  for (int i = 0; i < 2500; ++i) {
    if (i < 1000) range1000.emplace_back(i);
    if (i < 1001) range1001.emplace_back(i);
    range2500.emplace_back(i);
  }
  for (int i = 0; i < 1500; ++i) {
    std::string text;
    for (int k = 0; k < 100; ++k)
      text += std::to_string(i);
    texts.emplace_back(text);
  }
  std::vector<std::pair<V, V>> dict1000, dict1001, dict2000;
  for (int i = 0; i < 2000; ++i) {
    if (i < 1000) dict1000.emplace_back(i, i);
    if (i < 1001) dict1001.emplace_back(i, i);
    dict2000.emplace_back(std::to_string(i), L({i}));
  }
  return {
      {L(range1000), "list(range(1000))"},
      {L(range1001), "list(range(1001))"},
      {L(range2500), "list(range(2500))"},
      {D(dict1000), "{i: i for i in range(1000)}"},
      {D(dict1001), "{i: i for i in range(1001)}"},
      {D(dict2000), "{str(i): [i] for i in range(2000)}"},
      {V{std::string(70000, 'z')}, "'z'*70000"},
      {B(std::string(70000, 's')), "b's'*70000"},
      {L({std::string(40000, 'w'), std::string(40000, 'v'), std::string(40000, 'u')}),
       "['w'*40000, 'v'*40000, 'u'*40000]"},
      {L({"x", std::string(65536, 'y'), "z"}), "['x', 'y'*65536, 'z']"},
      {L({"x", std::string(65535, 'y'), "z"}), "['x', 'y'*65535, 'z']"},
      {L(texts), "[str(i)*100 for i in range(1500)]"},
      {I("-" + std::string(300, '7')), "-int('7'*300)"},
  };
}

V loads_ok(std::string_view bytes) {
  auto value = pickle_loads(bytes);
  REQUIRE_MESSAGE(value, pqrt::render(value.error()));
  return *value;
}

std::string error_of(std::string_view bytes, errc code) {
  auto value = pickle_loads(bytes);
  REQUIRE_FALSE(value);
  CHECK(pqrt::is(value.error(), code));
  return pqrt::context_of(value.error());
}

}  // namespace

TEST_SUITE("transport.pickle") {
  TEST_CASE("dumps writes CPython 3.11's bytes (embedded table)") {
    for (const auto& s : samples()) {
      CAPTURE(s.python);
      CHECK(to_hex(pickle_dumps(s.value)) == s.hex);
    }
  }

  TEST_CASE("dumps writes CPython's bytes across frames and batches (live python3)") {
    auto large = large_samples();
    std::string exprs;
    for (const auto& [value, python] : large)
      exprs += std::string{python} + "\n";
    auto out =
        lines_of(run_python("import pickle, sys\n"
                            "for line in sys.stdin: print(pickle.dumps(eval(line), 5).hex())\n",
                            exprs));
    REQUIRE(out.size() == large.size());
    for (size_t i = 0; i < large.size(); ++i) {
      CAPTURE(large[i].second);
      CHECK(to_hex(pickle_dumps(large[i].first)) == out[i]);
    }
  }

  TEST_CASE("python3 loads what dumps writes, and its repr() is ours") {
    std::vector<V> values;
    for (const auto& s : samples())
      values.push_back(s.value);
    for (const auto& [value, python] : large_samples())
      values.push_back(value);
    values.push_back(D({{"nested", T({L({D({{T({}), B("\n\t'\"\\")}})})})}, {"\x7f", "it's"}}));
    std::string input;
    for (const auto& value : values)
      input += to_hex(pickle_dumps(value)) + "\n";
    auto out = lines_of(run_python(
        "import pickle, sys\n"
        "for line in sys.stdin: print(repr(pickle.loads(bytes.fromhex(line.strip()))))\n",
        input));
    REQUIRE(out.size() == values.size());
    for (size_t i = 0; i < values.size(); ++i)
      CHECK(out[i] == values[i].repr());
  }

  TEST_CASE("loads reads back CPython's pickles of every sample") {
    for (const auto& s : samples()) {
      CAPTURE(s.python);
      CHECK(loads_ok(from_hex(s.hex)) == s.value);
    }
    for (const auto& [value, python] : large_samples()) {
      CAPTURE(python);
      CHECK(loads_ok(pickle_dumps(value)) == value);
    }
  }

  TEST_CASE("loads reads protocols 2 to 5 as Python writes them (memo PUT/GET, shared objects)") {
    // pickle.dumps(value, protocol).hex() by /usr/bin/python3; x = [1] is shared where it occurs.
    const std::pair<const char*, V> written[] = {
        {"800258010000006171005d7101284b018a0600000000000147c00c000000000000657d710258010000006b71"
         "03884e867104738771052e",
         T({"a", L({1, int64_t{1} << 40, -3.5}), D({{"k", T({true, nullptr})}})})},
        {"80037d710028580100000062710143020001710258010000006c71035d7104285d71054b0161680565752e",
         D({{"b", B(std::string("\x00\x01", 2))}, {"l", L({L({1}), L({1})})}})},
        {"8004952c000000000000005d94288c06c3a9c3a9c3a99443037a7a7a948a0d00000040eaed7446d09c2c9f0c"
         "5d944b016168038694652e",
         L({"\xc3\xa9\xc3\xa9\xc3\xa9", B("zzz"), I("1000000000000000000000000000000"),
            T({L({1}), L({1})})})},
        {"80059517000000000000007d94288c01739468018c0174948c01759468038694752e",
         D({{"s", "s"}, {"t", T({"u", "u"})}})},
        {"8005950d000000000000009602000000000000006162942e", B("ab")},  // bytearray(b'ab')
    };
    for (const auto& [hex, value] : written) {
      CAPTURE(hex);
      CHECK(loads_ok(from_hex(hex)) == value);
    }
  }

  TEST_CASE("loads reads live python3 pickles of protocols 2 to 5") {
    const char* exprs[] = {
        "[None, True, False, 0, -1, 255, 65536, -2**31, 2**63, -2**100, 1e-7, 'x', {}]",
        "{'a': (1,), 'b': (1, 2), 'c': (1, 2, 3), 'd': (1, 2, 3, 4), 'e': ()}",
        "['\\u00e9\\u65e5\\U0001f600' * 100, list(range(3000)), {str(i): i for i in range(1200)}]",
    };
    std::string input;
    for (const char* expr : exprs)
      input += std::string{expr} + "\n";
    auto out =
        lines_of(run_python("import pickle, sys\n"
                            "for line in sys.stdin:\n"
                            "    v = eval(line)\n"
                            "    print(repr(v))\n"
                            "    for p in (2, 3, 4, 5): print(pickle.dumps(v, p).hex())\n",
                            input));
    REQUIRE(out.size() == 5 * std::size(exprs));
    for (size_t i = 0; i < out.size(); i += 5)
      for (size_t p = 1; p <= 4; ++p) {
        CAPTURE(p + 1);
        CHECK(loads_ok(from_hex(out[i + p])).repr() == out[i]);
      }
  }

  TEST_CASE("the reference's worked example (section 3.1) and minimal writer form") {
    auto expected = T({"mod.func", nullptr, T({"a", 1}), D({})});
    auto python = from_hex(
        "8005951a00000000000000288c086d6f642e66756e63944e8c016194"
        "4b0186947d9474942e");
    CHECK(pickle_dumps(expected) == python);
    CHECK(loads_ok(python) == expected);
    CHECK(loads_ok(from_hex("8005288c086d6f642e66756e634e288c01614b01747d742e")) == expected);
    auto jobs_add = from_hex(
        "800595180000000000000028"
        "8c086a6f62732e616464944e4b024b03"
        "86947d9474942e");
    CHECK(loads_ok(jobs_add) == T({"jobs.add", nullptr, T({2, 3}), D({})}));
  }

  TEST_CASE("object opcodes are refused with the opcode and its offset") {
    auto os_system_2 =
        error_of(from_hex("800263706f7369780a73797374656d0a71002e"), errc::unsupported);
    CHECK(os_system_2 ==
          "pickle opcode GLOBAL (0x63) at byte 2: objects other than plain data are not accepted");
    auto os_system_5 =
        error_of(from_hex("80059514000000000000008c05706f736978948c0673797374656d9493942e"),
                 errc::unsupported);
    CHECK(os_system_5 ==
          "pickle opcode STACK_GLOBAL (0x93) at byte 28: objects other than plain "
          "data are not accepted");
    auto reduce = error_of("cos\nsystem\n(S'echo hi'\ntR.", errc::unsupported);
    CHECK(reduce.find("GLOBAL (0x63) at byte 0") != std::string::npos);
    auto bare_reduce = error_of(from_hex("8005294e52"), errc::unsupported);  // () None REDUCE
    CHECK(bare_reduce.find("REDUCE (0x52) at byte 4") != std::string::npos);
    auto datetime = error_of(from_hex("8005952a000000000000008c086461746574696d65948c0864617465"
                                      "74696d65949394430a07e8010100000000000094859452942e"),
                             errc::unsupported);
    CHECK(datetime.find("STACK_GLOBAL") != std::string::npos);
    for (const char* op : {"62", "69", "6f", "81", "92", "82", "50", "51", "97", "98"}) {
      CAPTURE(op);
      CHECK(error_of(from_hex(std::string{"80054e"} + op), errc::unsupported)
                .find("objects other than plain data") != std::string::npos);
    }
    CHECK(error_of(from_hex("80059509000000000000008f94284b014b02902e"), errc::unsupported)
              .find("EMPTY_SET") != std::string::npos);
    CHECK(error_of("I42\n.", errc::unsupported).find("INT (0x49) at byte 0") != std::string::npos);
    CHECK(error_of(from_hex("8005ff"), errc::bad_format).find("(0xff) at byte 2") !=
          std::string::npos);
    CHECK(error_of(from_hex("8006"), errc::unsupported).find("protocol 6") != std::string::npos);
  }

  TEST_CASE("malformed pickles are bad_format, hostile ones hit the limits") {
    error_of("", errc::bad_format);
    error_of(from_hex("80054e"), errc::bad_format);            // no STOP
    error_of(from_hex("80052e"), errc::bad_format);            // STOP on an empty stack
    error_of(from_hex("80054e612e"), errc::bad_format);        // APPEND to None
    error_of(from_hex("80054e4e4e732e"), errc::bad_format);    // SETITEM on None
    error_of(from_hex("8005652e"), errc::bad_format);          // APPENDS without MARK
    error_of(from_hex("80056805"), errc::bad_format);          // BINGET of nothing
    error_of(from_hex("80058c02c3282e"), errc::bad_format);    // invalid UTF-8
    error_of(from_hex("80058c03eda0802e"), errc::bad_format);  // a lone surrogate
    error_of(from_hex("80057d5d4e732e"), errc::bad_format);    // {[]: None}: unhashable key
    error_of(from_hex("80058d"
                      "ffffffffffffff7f"),
             errc::bad_format);  // 2^63-byte str
    error_of(from_hex("800595"
                      "ffffffffffffffff"),
             errc::bad_format);  // huge FRAME
    auto recursive = error_of(from_hex("80059506000000000000005d946800612e"), errc::unsupported);
    CHECK(recursive.find("recursive") != std::string::npos);
    std::string deep = "\x80\x05" + std::string(5000, ']');
    for (int i = 0; i < 4999; ++i)
      deep += 'a';
    CHECK(error_of(deep + ".", errc::unsupported).find("nested deeper") != std::string::npos);
    // Billion laughs: each level is a list holding the previous one twice.
    std::string laughs = "\x80\x05\x8c\x02ha\x94";
    for (int level = 1; level <= 40; ++level)
      laughs += "](h" + std::string(1, static_cast<char>(level - 1)) + "h" +
                std::string(1, static_cast<char>(level - 1)) + "e\x94";
    CHECK(error_of(laughs + ".", errc::unsupported).find("more than") != std::string::npos);
  }

  TEST_CASE("a truncated pickle errors at every length, and never over-reads") {
    std::vector<std::string> pickles;
    for (const auto& s : samples())
      pickles.push_back(from_hex(s.hex));
    for (const auto& bytes : pickles)
      for (size_t size = 0; size < bytes.size(); ++size) {
        // a heap copy of exactly `size` bytes, so that ASan sees any over-read
        std::unique_ptr<char[]> copy{new char[size == 0 ? 1 : size]};
        std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size), copy.get());
        CAPTURE(size);
        CHECK_FALSE(pickle_loads({copy.get(), size}));
      }
  }

  TEST_CASE("random corruption never crashes") {
    std::mt19937 rng{42};
    auto base = pickle_dumps(L({T({"mod.func", nullptr, T({"a", 1, 2.5}), D({{"k", B("v")}})}),
                                I("123456789012345678901234567890"), L({L({}), D({})})}));
    for (int round = 0; round < 20000; ++round) {
      auto bytes = base;
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
        bytes[rng() % bytes.size()] = static_cast<char>(rng() % 256);
      bytes.resize(bytes.size() - rng() % 4);
      auto value = pickle_loads(bytes);  // any result, as long as it returns
      if (value) CHECK(!value->repr().empty());
    }
  }
}
