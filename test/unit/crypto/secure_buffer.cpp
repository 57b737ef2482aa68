#include "crypto/secure_buffer.hpp"

#include <cstring>
#include <utility>

#include <doctest/doctest.h>

using pqrt::crypto::secure_buffer;

namespace {

secure_buffer bytes_of(const char* text) {
  return secure_buffer{reinterpret_cast<const uint8_t*>(text), std::strlen(text)};
}

}  // namespace

TEST_SUITE("crypto.secure_buffer") {
  TEST_CASE("zero size buffers are empty and equal") {
    secure_buffer none;
    secure_buffer zero{size_t{0}};
    CHECK(none.empty());
    CHECK(zero.empty());
    CHECK(none.data() == nullptr);
    CHECK(zero.size() == 0);
    CHECK(none.equals(zero));
    CHECK(none.clone().empty());
  }

  TEST_CASE("a sized buffer starts zeroed") {
    secure_buffer buf{32};
    REQUIRE(buf.size() == 32);
    for (size_t i = 0; i < buf.size(); ++i)
      CHECK(buf.data()[i] == 0);
  }

  TEST_CASE("copying constructor copies the bytes") {
    auto buf = bytes_of("key material");
    REQUIRE(buf.size() == 12);
    CHECK(std::memcmp(buf.data(), "key material", 12) == 0);
  }

  TEST_CASE("move leaves the source empty") {
    auto a = bytes_of("secret");
    const auto* where = a.data();
    secure_buffer b{std::move(a)};
    CHECK(a.empty());            // NOLINT(bugprone-use-after-move): the contract under test
    CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move)
    CHECK(b.data() == where);
    CHECK(b.size() == 6);
    secure_buffer c = bytes_of("other");
    c = std::move(b);
    CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
    CHECK(c.data() == where);
    CHECK(c.equals(bytes_of("secret")));
  }

  TEST_CASE("self move assignment keeps the bytes") {
    auto a = bytes_of("secret");
    auto& alias = a;
    a = std::move(alias);
    CHECK(a.equals(bytes_of("secret")));
  }

  TEST_CASE("clone is a deep copy") {
    auto a = bytes_of("secret");
    auto b = a.clone();
    CHECK(b.equals(a));
    CHECK(b.data() != a.data());
    b.data()[0] = 'S';
    CHECK_FALSE(b.equals(a));
    CHECK(a.data()[0] == 's');
  }

  TEST_CASE("equals compares size and contents") {
    CHECK(bytes_of("abc").equals(bytes_of("abc")));
    CHECK_FALSE(bytes_of("abc").equals(bytes_of("abd")));
    CHECK_FALSE(bytes_of("abc").equals(bytes_of("abcd")));
    CHECK_FALSE(bytes_of("abc").equals(secure_buffer{}));
  }

  TEST_CASE("cleanse zeroes memory and accepts null") {
    char text[] = "secret";
    pqrt::crypto::cleanse(text, sizeof(text));
    for (char c : text)
      CHECK(c == 0);
    pqrt::crypto::cleanse(nullptr, 10);
  }
}
