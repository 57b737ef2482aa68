// base64 (crypto/base64.cpp, detail/base64_simd.cpp): the AVX2 kernels (where the CPU has them)
// must agree with the scalar code on every input, an accepted text is the one encoding of its
// bytes, and any bytes encode to a text that decodes back to them.
#include <string>
#include <vector>

#include "crypto/base64.hpp"
#include "crypto/detail/base64.hpp"
#include "fuzz.hpp"

using namespace pqrt::crypto;

namespace {

std::string_view trimmed(std::string_view text) {
  auto space = " \t\r\n\v\f";
  auto first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = pqrt::fuzz::text(data, size);
  std::vector<uint8_t> fast, slow;
  bool fast_ok = detail::base64_decode_into(text, fast);
  bool slow_ok = detail::base64_decode_scalar(text, slow);
  PQRT_FUZZ_CHECK(fast_ok == slow_ok);
  if (fast_ok) {
    PQRT_FUZZ_CHECK(fast == slow);
    PQRT_FUZZ_CHECK(base64_encode(fast.data(), fast.size()) == trimmed(text));
  }
  std::string fast_text, slow_text;
  detail::base64_encode_into(data, size, fast_text);
  detail::base64_encode_scalar(data, size, slow_text);
  PQRT_FUZZ_CHECK(fast_text == slow_text);
  auto back = base64_decode(fast_text);
  PQRT_FUZZ_CHECK(back && *back == std::vector<uint8_t>(data, data + size));
  return 0;
}
