// runtime/error: codes, categories and rendering.
#include "runtime/base/error.hpp"

#include <caf/sec.hpp>

#include <doctest/doctest.h>

TEST_CASE("pqrt errors render as code and context") {
  auto err = pqrt::make_error(pqrt::errc::auth_failed, "line 17: authentication failed");
  CHECK(pqrt::is(err, pqrt::errc::auth_failed));
  CHECK_FALSE(pqrt::is(err, pqrt::errc::bad_format));
  CHECK(pqrt::render(err) == "auth_failed: line 17: authentication failed");
  CHECK(pqrt::context_of(err) == "line 17: authentication failed");
}

TEST_CASE("an error without context renders as its code") {
  CHECK(pqrt::render(pqrt::make_error(pqrt::errc::timeout)) == "timeout");
  CHECK(pqrt::render(caf::error{}) == "ok");
}

TEST_CASE("codes are stable") {
  // These numbers are written into job status records; changing one breaks readers.
  CHECK(static_cast<int>(pqrt::errc::config_invalid) == 2);
  CHECK(static_cast<int>(pqrt::errc::auth_failed) == 5);
  CHECK(static_cast<int>(pqrt::errc::job_failed) == 15);
  CHECK(std::string{pqrt::to_string(pqrt::errc::wrong_binding)} == "wrong_binding");
}

TEST_CASE("CAF's own errors keep CAF's rendering") {
  auto err = caf::make_error(caf::sec::request_timeout);
  CHECK_FALSE(pqrt::is(err, pqrt::errc::timeout));
  CHECK(pqrt::render(err).find("request_timeout") != std::string::npos);
}
