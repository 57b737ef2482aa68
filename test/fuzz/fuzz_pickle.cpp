// The pickle reader (transport/pickle_loads.cpp, detail/pickle_reader_ops.cpp) under the limits
// RQ job data is read with. What it accepts, the writer must write so that it reads back equal.
#include "fuzz.hpp"
#include "transport/pickle.hpp"
#include "transport/rq_job_data.hpp"

using namespace pqrt::transport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As rq_job_data.cpp reads a job's data inflated to the default cap (a memo bomb inside it
  // fails there; the reader's own defaults allow values the fuzzer's memory limit does not).
  auto value = pickle_loads(pqrt::fuzz::text(data, size), job_data_limits());
  if (!value) return 0;
  (void)value->repr();
  auto again = pickle_loads(pickle_dumps(*value));
  PQRT_FUZZ_CHECK(again);
  PQRT_FUZZ_CHECK(*again == *value);
  return 0;
}
