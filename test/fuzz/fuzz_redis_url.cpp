// The Redis URL parser (transport/redis_url.cpp): redis://, rediss:// and unix:// URLs with
// user info, database and options. What it accepts renders for logs without the password: the
// rendering must not depend on the password's value.
#include "fuzz.hpp"
#include "transport/redis_url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto url = pqrt::transport::parse_redis_url(pqrt::fuzz::text(data, size));
  if (!url) return 0;
  (void)url->endpoint();
  if (url->password.empty()) return 0;
  auto other = *url;
  other.password = "x";
  PQRT_FUZZ_CHECK(other.describe() == url->describe());
  return 0;
}
