// Key Vault answers (azure/key_vault.cpp): the first byte picks get key (an RSA JWK: `kty`,
// base64url `n` and `e`, `kid`), unwrap key (base64url `value`) or get secret (`value`).
#include "azure/responses.hpp"
#include "fuzz.hpp"

using namespace pqrt::azure::detail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string body{pqrt::fuzz::text(data + 1, size - 1)};
  switch (data[0] % 3) {
    case 0: {
      auto key = parse_vault_key("get key fuzz", body);
      if (key) PQRT_FUZZ_CHECK(key->public_key.bits() > 0 && !key->public_key.has_private());
      break;
    }
    case 1: {
      auto key = parse_unwrapped_key("unwrap key fuzz", body);
      if (key) PQRT_FUZZ_CHECK(!key->empty());
      break;
    }
    default: (void)parse_secret_value("get secret fuzz", body); break;
  }
  return 0;
}
