#include "crypto/legacy.hpp"

#include <doctest/doctest.h>

#include "crypto/base64.hpp"
#include "crypto/detail/legacy.hpp"
#include "unit/crypto/util.hpp"

using namespace pqrt::crypto;
using namespace pqrt::crypto::test;
using pqrt::errc;

namespace {

// NIST SP 800-38A, F.2.5 CBC-AES256.Encrypt (F.2.6 is the same vector decrypted).
const char* const nist_key = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
const char* const nist_iv = "000102030405060708090a0b0c0d0e0f";
const char* const nist_plaintext =
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
const char* const nist_ciphertext =
    "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
    "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b";

secure_buffer buffer_of(const std::vector<uint8_t>& bytes) {
  return secure_buffer{bytes.data(), bytes.size()};
}

std::string line_of(const std::vector<uint8_t>& bytes) {
  return base64_encode(bytes.data(), bytes.size());
}

std::vector<uint8_t> cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_SUITE("crypto.legacy") {
  TEST_CASE("decrypts the NIST SP 800-38A F.2.5 AES-256-CBC vector") {
    auto key = buffer_of(from_hex(nist_key));
    auto line = line_of(cat(from_hex(nist_iv), from_hex(nist_ciphertext)));
    auto record = legacy_decrypt_line(key, line);
    REQUIRE(record);
    CHECK(to_hex({record->begin(), record->end()}) == nist_plaintext);
  }

  TEST_CASE("encrypts to the NIST vector, then one block of NUL padding") {
    auto key = buffer_of(from_hex(nist_key));
    auto iv = from_hex(nist_iv);
    auto plaintext = from_hex(nist_plaintext);
    auto line = detail::legacy_encrypt_with_iv(
        key, iv.data(), {reinterpret_cast<const char*>(plaintext.data()), plaintext.size()});
    REQUIRE(line);
    auto bytes = base64_decode(*line);
    REQUIRE(bytes);
    REQUIRE(bytes->size() == 16 + 64 + 16);
    CHECK(to_hex({bytes->begin(), bytes->begin() + 16}) == nist_iv);
    CHECK(to_hex({bytes->begin() + 16, bytes->begin() + 80}) == nist_ciphertext);
  }

  TEST_CASE("round trip strips the NUL padding") {
    auto key = buffer_of(from_hex(nist_key));
    for (std::string record :
         {"", "a", "{\"id\": 17, \"name\": \"x\"}", "0123456789abcdef", "0123456789abcdef0"}) {
      CAPTURE(record);
      auto line = legacy_encrypt_line(key, record);
      REQUIRE(line);
      auto bytes = base64_decode(*line);
      REQUIRE(bytes);
      CHECK(bytes->size() % 16 == 0);
      CHECK(bytes->size() > record.size() + 16);
      auto opened = legacy_decrypt_line(key, *line + "\n");
      REQUIRE(opened);
      CHECK(*opened == record);
    }
  }

  TEST_CASE("each line has its own IV") {
    auto key = buffer_of(from_hex(nist_key));
    CHECK(*legacy_encrypt_line(key, "same") != *legacy_encrypt_line(key, "same"));
  }

  TEST_CASE("format errors") {
    auto key = buffer_of(from_hex(nist_key));
    PQRT_CHECK_ERROR(legacy_decrypt_line(key, "not base64!"), errc::bad_format);
    PQRT_CHECK_ERROR(legacy_decrypt_line(key, line_of(std::vector<uint8_t>(15))), errc::bad_format);
    PQRT_CHECK_ERROR_TEXT(legacy_decrypt_line(key, line_of(std::vector<uint8_t>(16 + 20))),
                          errc::bad_format, "36 bytes");
    PQRT_CHECK_ERROR(legacy_decrypt_line(secure_buffer{16}, line_of(std::vector<uint8_t>(32))),
                     errc::key_error);
    PQRT_CHECK_ERROR(legacy_encrypt_line(secure_buffer{}, "x"), errc::key_error);
  }

  TEST_CASE("a wrong key gives garbage, not an error (CBC has no integrity)") {
    auto key = buffer_of(from_hex(nist_key));
    auto other = key.clone();
    other.data()[0] ^= 1;
    auto line = legacy_encrypt_line(key, "a record that is long enough");
    REQUIRE(line);
    auto opened = legacy_decrypt_line(other, *line);
    REQUIRE(opened);
    CHECK(*opened != "a record that is long enough");
  }
}
