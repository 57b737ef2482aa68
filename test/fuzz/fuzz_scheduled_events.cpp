// Azure Scheduled Events (azure/scheduled_events.cpp): the IMDS events document, then what a
// worker decides about each event (its action, its drain budget, NotBefore read as a date).
#include "azure/scheduled_events.hpp"
#include "fuzz.hpp"

using namespace pqrt::azure;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto doc = parse_scheduled_events(pqrt::fuzz::text(data, size));
  if (!doc) return 0;
  auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};
  for (const auto& event : doc->events) {
    (void)decide(event, "vm-fuzz");
    (void)parse_not_before(event.not_before);
    auto budget = drain_budget(event, now, std::chrono::seconds{60});
    PQRT_FUZZ_CHECK(budget.count() >= 0 && budget <= std::chrono::seconds{60});
    (void)start_requests_body(event.id);
  }
  (void)first_drain(*doc, "vm-fuzz");
  return 0;
}
