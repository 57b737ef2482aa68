#include "crypto/base64.hpp"

#include <doctest/doctest.h>

#include "crypto/random.hpp"
#include "unit/crypto/util.hpp"

using namespace pqrt::crypto;
using pqrt::errc;

namespace {

std::string decoded(std::string_view text) {
  auto bytes = base64_decode(text);
  REQUIRE(bytes);
  return {bytes->begin(), bytes->end()};
}

}  // namespace

TEST_SUITE("crypto.base64") {
  TEST_CASE("RFC 4648 test vectors") {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : vectors) {
      CAPTURE(plain);
      CHECK(base64_encode(plain) == encoded);
      CHECK(decoded(encoded) == plain);
    }
  }

  TEST_CASE("every byte value and length round-trips") {
    std::string all;
    for (int i = 0; i < 256; ++i)
      all.push_back(static_cast<char>(i));
    CHECK(decoded(base64_encode(all)) == all);
    for (size_t size = 0; size < 100; ++size) {
      auto text = pqrt::crypto::test::random_text(size);
      CHECK(decoded(base64_encode(text)) == text);
    }
  }

  TEST_CASE("surrounding white space is ignored") {
    CHECK(decoded("Zm9v\r\n") == "foo");
    CHECK(decoded("  Zm9vYg==\t") == "foob");
    CHECK(decoded(" \r\n").empty());
  }

  TEST_CASE("anything else is bad_format") {
    const char* bad[] = {
        "Zm9",       // not a whole quantum
        "Zm9v!A==",  // not in the alphabet
        "Zm 9v",     // inner space
        "Zg==Zg==",  // padding in the middle
        "Z===",      // too much padding
        "=Zg=",      // padding first
        "AB=C",      // padding before data
        "Zh==",      // non-zero bits after the last byte: not canonical
        "Zm9=",      // the same with one pad character
        "Zm9v-_==",  // the URL alphabet
    };
    for (auto text : bad) {
      CAPTURE(text);
      PQRT_CHECK_ERROR(base64_decode(text), errc::bad_format);
    }
  }

  TEST_CASE("the error says what was expected without echoing the input") {
    auto bytes = base64_decode("secret!");
    REQUIRE_FALSE(bytes);
    auto text = pqrt::context_of(bytes.error());
    CHECK(text.find("base64") != std::string::npos);
    CHECK(text.find("secret") == std::string::npos);
  }
}
