// Token answers (azure/token.cpp): Entra ID's v2.0 token endpoint and IMDS's managed identity
// endpoint (`access_token`, `expires_in` as a number or a string of digits).
#include "azure/responses.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body{pqrt::fuzz::text(data, size)};
  auto token = pqrt::azure::detail::parse_token_answer("token fuzz", body);
  if (token) PQRT_FUZZ_CHECK(!token->value.empty() && token->lifetime.count() > 0);
  return 0;
}
