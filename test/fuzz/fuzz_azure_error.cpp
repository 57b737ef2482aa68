// Azure error bodies (azure/http.cpp): Storage's XML `<Code>`/`<Message>`, Key Vault's and ARM's
// JSON `error.code`/`error.message`/`innererror`, Entra ID's `error`/`error_description`, read
// into the error a failed call returns. The first byte picks the status.
#include "azure/http.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const int statuses[] = {400, 401, 403, 404, 409, 412, 413, 429, 500, 503};
  pqrt::azure::http_response resp;
  resp.status = statuses[data[0] % 10];
  resp.body.assign(pqrt::fuzz::text(data + 1, size - 1));
  (void)resp.error_code();
  PQRT_FUZZ_CHECK(resp.error_message().find('\n') == std::string::npos);
  auto err = pqrt::azure::response_error("fuzz", "fuzz/resource", resp);
  PQRT_FUZZ_CHECK(err);
  return 0;
}
