// runtime/base/json_writer: RapidJSON's writer behind pqrt's small object builder.
#include "runtime/base/json_writer.hpp"

#include <doctest/doctest.h>

TEST_CASE("json::object writes fields in order, strings escaped and numbers as numbers") {
  auto text = pqrt::json::object{}
                  .field("run", std::string{"r\"1\n"})
                  .field("total", uint64_t{18446744073709551615ull})
                  .field("failed", int64_t{-1})
                  .field("count", 3)
                  .field("ctl", std::string{"a\x01z"})
                  .str();
  CHECK(text ==
        "{\"run\":\"r\\\"1\\n\",\"total\":18446744073709551615,\"failed\":-1,\"count\":3,"
        "\"ctl\":\"a\\u0001z\"}");
}

TEST_CASE("json::object embeds objects it wrote as an array") {
  std::vector<std::string> items{pqrt::json::object{}.field("a", 1).str(),
                                 pqrt::json::object{}.field("b", "x").str()};
  auto text = pqrt::json::object{}.field("type", "job_status").raw_array("records", items).str();
  CHECK(text == "{\"type\":\"job_status\",\"records\":[{\"a\":1},{\"b\":\"x\"}]}");
  CHECK(pqrt::json::object{}.raw_array("none", {}).str() == "{\"none\":[]}");
}
