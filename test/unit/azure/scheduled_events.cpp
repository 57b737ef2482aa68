// azure/scheduled_events, pure parts: the IMDS Scheduled Events document parser (the shapes of
// /work/shared/reference/azure-deploy.md 2.7), NotBefore dates, the StartRequests body, and what a
// worker does about an event (which events drain, and for how long).
#include <chrono>
#include <string>

#include <doctest/doctest.h>

#include "azure/scheduled_events.hpp"
#include "runtime/base/error.hpp"

using namespace pqrt::azure;
using std::chrono::milliseconds;
using std::chrono::seconds;
using sys_clock = std::chrono::system_clock;

namespace {

// The reference's example, verbatim.
const char* reference_doc = R"({
  "DocumentIncarnation": 2,
  "Events": [
    {
      "EventId": "C7061BAC-AFDC-4513-B24B-AA5F13A16123",
      "EventStatus": "Scheduled",
      "EventType": "Freeze",
      "ResourceType": "VirtualMachine",
      "Resources": ["WestNO_0", "WestNO_1"],
      "NotBefore": "Mon, 11 Apr 2022 22:26:58 GMT",
      "Description": "Virtual machine is being paused because of a memory-preserving Live Migration operation.",
      "EventSource": "Platform",
      "DurationInSeconds": 5
    }
  ]
})";

scheduled_event event(std::string type, std::string vm = "vmss_1",
                      std::string source = "Platform") {
  scheduled_event e;
  e.id = "E-1";
  e.type = std::move(type);
  e.resources = {std::move(vm)};
  e.status = "Scheduled";
  e.source = std::move(source);
  return e;
}

sys_clock::time_point at(int64_t epoch) {
  return sys_clock::from_time_t(static_cast<time_t>(epoch));
}

}  // namespace

TEST_CASE("the reference's document parses with every field") {
  auto doc = parse_scheduled_events(reference_doc);
  REQUIRE(doc);
  CHECK(doc->incarnation == 2);
  REQUIRE(doc->events.size() == 1);
  const auto& e = doc->events[0];
  CHECK(e.id == "C7061BAC-AFDC-4513-B24B-AA5F13A16123");
  CHECK(e.status == "Scheduled");
  CHECK(e.type == "Freeze");
  CHECK(e.resource_type == "VirtualMachine");
  CHECK(e.resources == std::vector<std::string>{"WestNO_0", "WestNO_1"});
  CHECK(e.not_before == "Mon, 11 Apr 2022 22:26:58 GMT");
  CHECK(e.description.rfind("Virtual machine is being paused", 0) == 0);
  CHECK(e.source == "Platform");
  CHECK(e.duration_sec == 5);
}

TEST_CASE("an empty list, and events of older api versions (no Description, EventSource)") {
  auto empty = parse_scheduled_events(R"({"DocumentIncarnation": 1, "Events": []})");
  REQUIRE(empty);
  CHECK(empty->incarnation == 1);
  CHECK(empty->events.empty());
  auto old = parse_scheduled_events(
      R"({"DocumentIncarnation":7,"Events":[{"EventId":"a","EventType":"Preempt",)"
      R"("Resources":["vm"],"EventStatus":"Started","NotBefore":""}]})");
  REQUIRE(old);
  CHECK(old->events[0].source.empty());
  CHECK(old->events[0].duration_sec == -1);
  CHECK(old->events[0].not_before.empty());
}

TEST_CASE("malformed documents are errors naming what is wrong, never a crash") {
  const char* cases[] = {
      "",
      "null",
      "[]",
      "{",
      R"({"Events": []})",
      R"({"DocumentIncarnation": "2", "Events": []})",
      R"({"DocumentIncarnation": 1.5, "Events": []})",
      R"({"DocumentIncarnation": 1})",
      R"({"DocumentIncarnation": 1, "Events": {}})",
      R"({"DocumentIncarnation": 1, "Events": [1]})",
      R"({"DocumentIncarnation": 1, "Events": [{"EventType": "Preempt", "Resources": []}]})",
      R"({"DocumentIncarnation": 1, "Events": [{"EventId": "", "EventType": "Preempt", "Resources": []}]})",
      R"({"DocumentIncarnation": 1, "Events": [{"EventId": "a", "Resources": []}]})",
      R"({"DocumentIncarnation": 1, "Events": [{"EventId": "a", "EventType": "Preempt"}]})",
      R"({"DocumentIncarnation": 1, "Events": [{"EventId": "a", "EventType": "Preempt", "Resources": [1]}]})",
      R"({"DocumentIncarnation": 1, "Events": [{"EventId": "a", "EventType": "Preempt", "Resources": [], "NotBefore": 5}]})",
      R"({"DocumentIncarnation": 1, "Events": [{"EventId": "a", "EventType": "Preempt", "Resources": [], "DurationInSeconds": "5"}]})",
  };
  for (const char* text : cases) {
    CAPTURE(text);
    auto doc = parse_scheduled_events(text);
    REQUIRE(!doc);
    CHECK(pqrt::is(doc.error(), pqrt::errc::bad_format));
    CHECK(pqrt::context_of(doc.error()).rfind("scheduled events: ", 0) == 0);
  }
  // Not NUL-terminated: the parser reads only the view.
  std::string padded = std::string{R"({"DocumentIncarnation": 3, "Events": []})"} + "garbage";
  auto doc = parse_scheduled_events(std::string_view{padded}.substr(0, padded.size() - 7));
  REQUIRE(doc);
  CHECK(doc->incarnation == 3);
}

TEST_CASE("NotBefore dates (RFC 1123, GMT)") {
  CHECK(parse_not_before("Mon, 11 Apr 2022 22:26:58 GMT") == at(1649716018));
  CHECK(parse_not_before("11 Apr 2022 22:26:58 GMT") == at(1649716018));
  CHECK(parse_not_before("Thu, 01 Jan 1970 00:00:00 GMT") == at(0));
  CHECK(parse_not_before("Tue, 1 Mar 2022 00:00:01 GMT") == at(1646092801));
  for (const char* bad : {"", "Mon, 11 Apr 2022 22:26:58", "Mon, 11 Apr 2022 22:26:58 CET",
                          "Mon, 11 Abc 2022 22:26:58 GMT", "Mon, 32 Apr 2022 22:26:58 GMT",
                          "Mon, 11 Apr 2022 25:26:58 GMT", "Mon, 11 Apr 2022 22:26:58 GMT x",
                          "2022-04-11T22:26:58Z", "Mon, 11 April 2022 22:26:58 GMT"}) {
    CAPTURE(bad);
    CHECK(!parse_not_before(bad));
  }
}

TEST_CASE("the StartRequests body is JSON with the event id escaped") {
  CHECK(start_requests_body("f020ba2e-3bc0-4c40-a10b-86575a9eabd5") ==
        R"({"StartRequests":[{"EventId":"f020ba2e-3bc0-4c40-a10b-86575a9eabd5"}]})");
  CHECK(start_requests_body("a\"b\\") == R"({"StartRequests":[{"EventId":"a\"b\\"}]})");
}

TEST_CASE("which events drain this VM") {
  CHECK(decide(event("Preempt"), "vmss_1") == event_action::drain);
  CHECK(decide(event("Terminate"), "vmss_1") == event_action::drain);
  CHECK(decide(event("Terminate"), "VMSS_1") == event_action::drain);  // names ignore case
  CHECK(decide(event("Reboot", "vmss_1", "User"), "vmss_1") == event_action::drain);
  CHECK(decide(event("Redeploy", "vmss_1", "User"), "vmss_1") == event_action::drain);
  CHECK(decide(event("Reboot"), "vmss_1") == event_action::log_only);
  CHECK(decide(event("Redeploy"), "vmss_1") == event_action::log_only);
  CHECK(decide(event("Freeze"), "vmss_1") == event_action::log_only);
  CHECK(decide(event("Freeze", "vmss_1", "User"), "vmss_1") == event_action::log_only);
  CHECK(decide(event("SomethingNew"), "vmss_1") == event_action::log_only);
  CHECK(decide(event("Preempt", "vmss_10"), "vmss_1") == event_action::other_vm);
  CHECK(decide(event("Preempt", "vmss_1"), "vmss_10") == event_action::other_vm);
  auto none = event("Preempt");
  none.resources.clear();
  CHECK(decide(none, "vmss_1") == event_action::other_vm);
  auto both = event("Terminate", "vmss_0");
  both.resources.push_back("vmss_1");
  CHECK(decide(both, "vmss_1") == event_action::drain);
}

TEST_CASE("the first event to drain for, among several") {
  scheduled_events_doc doc;
  doc.events = {event("Preempt", "other"), event("Freeze"), event("Terminate")};
  doc.events[2].id = "E-3";
  const auto* e = first_drain(doc, "vmss_1");
  REQUIRE(e != nullptr);
  CHECK(e->id == "E-3");
  CHECK(first_drain(doc, "nobody") == nullptr);
  CHECK(first_drain(scheduled_events_doc{}, "vmss_1") == nullptr);
}

TEST_CASE("a drain's budget: min(NotBefore - now, grace); Preempt 30 s at most") {
  auto now = at(1649716018 - 120);  // two minutes before the NotBefore below
  auto grace = milliseconds{25'000};
  auto terminate = event("Terminate");
  terminate.not_before = "Mon, 11 Apr 2022 22:26:58 GMT";
  CHECK(drain_budget(terminate, now, grace) == grace);
  CHECK(drain_budget(terminate, now, milliseconds{600'000}) == seconds{120});
  CHECK(drain_budget(terminate, now + seconds{110}, grace) == seconds{10});
  CHECK(drain_budget(terminate, now + seconds{200}, grace) == milliseconds{0});  // past NotBefore
  auto preempt = event("Preempt");
  preempt.not_before = terminate.not_before;
  CHECK(drain_budget(preempt, now, milliseconds{600'000}) == preempt_notice);
  CHECK(drain_budget(preempt, now, grace) == grace);
  CHECK(drain_budget(preempt, now + seconds{100}, grace) == seconds{20});
  auto started = terminate;
  started.status = "Started";
  started.not_before.clear();
  CHECK(drain_budget(started, now, grace) == milliseconds{0});
  auto unknown = terminate;
  unknown.not_before = "soon";
  CHECK(drain_budget(unknown, now, grace) == grace);
  unknown.type = "Preempt";
  CHECK(drain_budget(unknown, now, milliseconds{600'000}) == preempt_notice);
}
