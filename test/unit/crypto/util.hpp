#pragma once

// Helpers shared by the crypto unit tests.

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <unistd.h>

#include "crypto/key_wrap.hpp"
#include "crypto/random.hpp"
#include "crypto/secure_buffer.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::crypto::test {

inline std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return out;
}

inline std::string to_hex(const std::vector<uint8_t>& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes)
    out.append({digits[b >> 4], digits[b & 15]});
  return out;
}

inline std::string random_text(size_t size) {
  std::string out(size, '\0');
  REQUIRE(!random_bytes(reinterpret_cast<uint8_t*>(out.data()), size));
  return out;
}

/// A fresh random 32-byte key.
inline shared_secret random_key() {
  auto key = std::make_shared<secure_buffer>(32);
  REQUIRE(!random_bytes(key->data(), key->size()));
  return key;
}

/// The error of an expected (or the error itself), for code checks with a readable failure.
template <class T>
caf::error error_of(const caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}
inline caf::error error_of(const caf::error& err) {
  return err;
}

#define PQRT_CHECK_ERROR(expr, code)                  \
  do {                                                \
    auto err_ = ::pqrt::crypto::test::error_of(expr); \
    INFO(::pqrt::render(err_));                       \
    CHECK(::pqrt::is(err_, code));                    \
  } while (false)

/// Checks the error code and that the context contains `text`.
#define PQRT_CHECK_ERROR_TEXT(expr, code, text)                      \
  do {                                                               \
    auto err_ = ::pqrt::crypto::test::error_of(expr);                \
    INFO(::pqrt::render(err_));                                      \
    CHECK(::pqrt::is(err_, code));                                   \
    CHECK(::pqrt::context_of(err_).find(text) != std::string::npos); \
  } while (false)

/// A private temporary directory (mkdtemp), removed with its contents.
struct temp_dir {
  std::string path;
  temp_dir() {
    std::string pattern = "/tmp/pqrt-crypto-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() { static_cast<void>(std::system(("rm -rf '" + path + "'").c_str())); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

/// Runs a shell command, quietly; true on exit status 0.
inline bool run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out{path, std::ios::binary};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// RSA-2048 key pairs, generated once per test binary (generation is slow).
inline const rsa_key& test_rsa_key(int which = 0) {
  static auto keys = [] {
    std::vector<rsa_key> out;
    for (int i = 0; i < 2; ++i) {
      auto key = rsa_key::generate(2048);
      REQUIRE(key);
      out.push_back(std::move(*key));
    }
    return out;
  }();
  return keys.at(static_cast<size_t>(which));
}

}  // namespace pqrt::crypto::test
