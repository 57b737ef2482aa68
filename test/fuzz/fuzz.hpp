#pragma once

/// What the fuzz targets share: the input as text, a check for the properties a parser must
/// keep whatever the input (a failed one aborts, so libFuzzer keeps the input), and the fixed
/// test key the cipher targets and their seed corpus (make_corpus.py) use.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "crypto/secure_buffer.hpp"

namespace pqrt::fuzz {

/// The input bytes as a string_view.
inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Reports a broken property and aborts.
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: property does not hold: %s\n", file, line, what);
  std::abort();
}

/// The test key: bytes 0x00, 0x01, ..., 0x1f (make_corpus.py seals the seeds under it).
inline crypto::shared_secret test_key() {
  uint8_t bytes[32];
  for (uint8_t i = 0; i < 32; ++i)
    bytes[i] = i;
  return std::make_shared<const crypto::secure_buffer>(bytes, sizeof(bytes));
}

/// Calls `f` with each line of `input` (split at '\n', the '\n' dropped).
template <class F>
void each_line(std::string_view input, F f) {
  while (!input.empty()) {
    auto nl = input.find('\n');
    f(input.substr(0, nl));
    if (nl == std::string_view::npos) break;
    input.remove_prefix(nl + 1);
  }
}

}  // namespace pqrt::fuzz

/// Aborts naming `cond` when it is false.
#define PQRT_FUZZ_CHECK(cond) ((cond) ? void(0) : ::pqrt::fuzz::fail(#cond, __FILE__, __LINE__))
