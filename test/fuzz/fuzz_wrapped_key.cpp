// The wrapped-key file reader (crypto/wrapped_key.cpp): pqrt's JSON form or the Python
// solution's raw RSA ciphertext. A JSON file read must write and read back to the same fields.
#include "crypto/key_wrap.hpp"
#include "fuzz.hpp"

using namespace pqrt::crypto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto key = parse_wrapped_key(pqrt::fuzz::text(data, size));
  if (!key || key->legacy) return 0;
  auto again = parse_wrapped_key(to_json(*key));
  PQRT_FUZZ_CHECK(again && !again->legacy);
  PQRT_FUZZ_CHECK(again->alg == key->alg && again->kid == key->kid);
  PQRT_FUZZ_CHECK(again->key_check == key->key_check && again->wrapped == key->wrapped);
  return 0;
}
