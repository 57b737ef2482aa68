// RQ's JSON serializer (transport/rq_json.cpp): `json.loads`, and `json.dumps` of what it read,
// which must read back equal.
#include "fuzz.hpp"
#include "transport/rq_json.hpp"

using namespace pqrt::transport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto value = json_loads(pqrt::fuzz::text(data, size));
  if (!value) return 0;
  auto text = json_dumps(*value);
  PQRT_FUZZ_CHECK(text);
  auto again = json_loads(*text);
  PQRT_FUZZ_CHECK(again);
  PQRT_FUZZ_CHECK(*again == *value);
  return 0;
}
