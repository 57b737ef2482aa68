// runtime/log: line formats and redaction.
#include "runtime/base/log.hpp"

#include <doctest/doctest.h>

using pqrt::log::format;
using pqrt::log::level;

TEST_CASE("a JSON line carries time, level, component, message and fields") {
  auto line = pqrt::log::render(level::warn, "rq_fetcher", "reconnecting", {{"attempt", "3"}},
                                format::json);
  CHECK(line.rfind("{\"ts\":\"", 0) == 0);
  CHECK(line.find("\"level\":\"warn\"") != std::string::npos);
  CHECK(line.find("\"component\":\"rq_fetcher\"") != std::string::npos);
  CHECK(line.find("\"msg\":\"reconnecting\"") != std::string::npos);
  CHECK(line.find("\"attempt\":\"3\"") != std::string::npos);
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("JSON escapes quotes and control characters") {
  auto line = pqrt::log::render(level::info, "c", "a \"quoted\"\nline", {}, format::json);
  CHECK(line.find("a \\\"quoted\\\"\\nline") != std::string::npos);
}

TEST_CASE("a text line names the level and the component") {
  auto line = pqrt::log::render(level::error, "config", "bad field", {{"field", "redis port"}},
                                format::text);
  CHECK(line.find(" error config: bad field field=\"redis port\"") != std::string::npos);
}

TEST_CASE("registered secrets never appear") {
  pqrt::log::add_secret("s3cr3t-account-key==");
  auto line = pqrt::log::render(level::info, "azure", "signing with s3cr3t-account-key== now",
                                {{"detail", "key=s3cr3t-account-key=="}}, format::json);
  CHECK(line.find("s3cr3t") == std::string::npos);
  CHECK(line.find("***") != std::string::npos);
}

TEST_CASE("SAS signatures and secret-named fields are redacted") {
  auto line = pqrt::log::render(
      level::info, "blob", "GET https://a.blob/c?sv=1&sig=abcDEF%2B123&se=2",
      {{"redis_password", "hunter22"}, {"sas_token", "sv=1&sig=zz"}}, format::text);
  CHECK(line.find("abcDEF") == std::string::npos);
  CHECK(line.find("hunter22") == std::string::npos);
  CHECK(line.find("sig=zz") == std::string::npos);
  CHECK(line.find("se=2") != std::string::npos);
}

TEST_CASE("levels and formats parse") {
  level lvl{};
  CHECK(pqrt::log::parse_level("debug", lvl));
  CHECK(lvl == level::debug);
  CHECK_FALSE(pqrt::log::parse_level("verbose", lvl));
  format fmt{};
  CHECK(pqrt::log::parse_format("json", fmt));
  CHECK(fmt == format::json);
  CHECK_FALSE(pqrt::log::parse_format("xml", fmt));
}
