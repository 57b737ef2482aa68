// The file decryptor (crypto/file_cipher.cpp): an encrypted file (header, chunks) under the
// test key and context "fuzz", decrypted as a stream. Fed at once and in 7-byte pieces, it must
// give the same plaintext and the same error.
#include <algorithm>
#include <string>

#include "crypto/file_cipher.hpp"
#include "fuzz.hpp"

using namespace pqrt::crypto;

namespace {

struct outcome {
  uint8_t code = 0;
  std::string plain;
};

outcome decrypt(const uint8_t* data, size_t size, size_t step) {
  static const auto key = pqrt::fuzz::test_key();
  auto dec = file_decryptor::make(key, "fuzz");
  PQRT_FUZZ_CHECK(dec);
  outcome out;
  caf::error err;
  for (size_t at = 0; at < size && !err; at += step)
    err = dec->update(data + at, std::min(step, size - at), out.plain);
  if (!err) err = dec->finish(out.plain);
  out.code = err ? err.code() : 0;  // code() of an empty caf::error is not defined
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto whole = decrypt(data, size, size == 0 ? 1 : size);
  auto pieces = decrypt(data, size, 7);
  PQRT_FUZZ_CHECK(whole.code == pieces.code);
  PQRT_FUZZ_CHECK(whole.plain == pieces.plain);
  return 0;
}
