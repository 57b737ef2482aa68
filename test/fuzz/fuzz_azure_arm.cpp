// ARM and Azure Monitor answers (azure/arm_client.cpp): the first byte picks a list page of
// VMs, scale sets or instances (`value`, `nextLink`), a scale set (`sku.capacity`, byte % 4 ==
// 3) or a metrics answer (`value` of metrics, each with `timeseries` of `data` points and
// `metadatavalues`).
#include "azure/responses.hpp"
#include "fuzz.hpp"

using namespace pqrt::azure::detail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string body{pqrt::fuzz::text(data + 1, size - 1)};
  if (data[0] % 2 == 0) {
    auto page = parse_arm_page("list fuzz", body, "virtualMachineScaleSetInstance", "fuzz");
    if (page)
      for (const auto& item : page->items)
        PQRT_FUZZ_CHECK(!item.id.empty() && !item.name.empty());
  } else if (data[0] % 4 == 3) {
    auto capacity = parse_scale_set_capacity("get scale set fuzz", body);
    if (capacity) PQRT_FUZZ_CHECK(*capacity >= 0);
  } else {
    (void)parse_metrics_answer("get metrics fuzz", body);
  }
  return 0;
}
