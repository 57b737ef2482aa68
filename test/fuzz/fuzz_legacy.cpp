// The legacy reader (crypto/legacy.cpp): the Python solution's data file, one base64 line of
// IV + AES-256-CBC each, under the test key. A line that decrypts must encrypt again (same IV)
// to a line that decrypts to the same record.
#include <cstring>

#include "crypto/base64.hpp"
#include "crypto/detail/legacy.hpp"
#include "crypto/legacy.hpp"
#include "fuzz.hpp"

using namespace pqrt::crypto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto key = pqrt::fuzz::test_key();
  pqrt::fuzz::each_line(pqrt::fuzz::text(data, size), [&](std::string_view line) {
    auto record = legacy_decrypt_line(*key, line);
    if (!record) return;
    auto raw = base64_decode(line);
    PQRT_FUZZ_CHECK(raw && raw->size() >= 16);
    auto again = detail::legacy_encrypt_with_iv(*key, raw->data(), *record);
    PQRT_FUZZ_CHECK(again);
    auto back = legacy_decrypt_line(*key, *again);
    PQRT_FUZZ_CHECK(back && *back == *record);
  });
  return 0;
}
