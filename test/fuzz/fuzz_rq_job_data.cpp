// RQ's serialized job fields (transport/rq_job_data.cpp, rq_zlib.cpp and the serializers below
// them). The first byte picks the field: job `data` (zlib + pickle or JSON, under the default
// job_data_max_mb), a results stream `return_value` (base64 + pickle or JSON), `exc_string`
// (base64 + zlib) or `exc_info` (zlib or raw). A job read back must encode and read back equal;
// one that reads as a pqrt record job (runtime/jobs/record_job.cpp) must make the same call again.
#include "fuzz.hpp"
#include "runtime/jobs/record_job.hpp"
#include "transport/rq_job_data.hpp"

using namespace pqrt::transport;

namespace {

void job_data(std::string_view bytes, rq_serializer serializer) {
  auto call = decode_job_data(bytes, serializer);
  if (!call) return;
  auto encoded = encode_job_data(*call, serializer);
  PQRT_FUZZ_CHECK(encoded);
  auto again = decode_job_data(*encoded, serializer);
  PQRT_FUZZ_CHECK(again);
  PQRT_FUZZ_CHECK(again->func_name == call->func_name);
  PQRT_FUZZ_CHECK(again->instance == call->instance);
  PQRT_FUZZ_CHECK(again->args == call->args);
  PQRT_FUZZ_CHECK(py_value{again->kwargs} == py_value{call->kwargs});
  auto rc = pqrt::parse_record_call(*call);
  if (!rc) return;
  auto back = pqrt::parse_record_call(pqrt::make_record_call(*rc));
  PQRT_FUZZ_CHECK(back);
  PQRT_FUZZ_CHECK(back->run_id == rc->run_id && back->dataset_id == rc->dataset_id);
  PQRT_FUZZ_CHECK(back->first == rc->first && back->many == rc->many);
  PQRT_FUZZ_CHECK(back->records == rc->records && back->processor == rc->processor);
}

void return_value(std::string_view field, rq_serializer serializer) {
  auto value = decode_return_value(field, serializer);
  if (!value) return;
  auto encoded = encode_return_value(*value, serializer);
  PQRT_FUZZ_CHECK(encoded);
  if (!*encoded) return;  // None: no field
  auto again = decode_return_value(**encoded, serializer);
  PQRT_FUZZ_CHECK(again && *again == *value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto rest = pqrt::fuzz::text(data + 1, size - 1);
  switch (data[0] % 6) {
    case 0: job_data(rest, rq_serializer::pickle); break;
    case 1: job_data(rest, rq_serializer::json); break;
    case 2: return_value(rest, rq_serializer::pickle); break;
    case 3: return_value(rest, rq_serializer::json); break;
    case 4: (void)decode_exc_string(rest); break;
    default: (void)decode_exc_info(rest); break;
  }
  return 0;
}
