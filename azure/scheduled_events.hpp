#pragma once

/// Azure Scheduled Events through the Instance Metadata Service (IMDS, link-local): the events
/// document (`GET /metadata/scheduledevents`, api-version 2020-07-01), the acknowledgement that
/// lets an event start now (`POST` with `StartRequests`), and the VM's own name
/// (`GET /metadata/instance/compute/name`), which events name in their `Resources`. Every request
/// carries `Metadata: true` and a short timeout; only the acknowledgement is retried (a poller
/// asks again a second later anyway). A document that does not parse is an error value.
///
/// What a worker does about an event is decided here too, by plain functions (`decide`,
/// `drain_budget`, `first_drain`) that the unit tests drive.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace pqrt::azure {

/// One event as IMDS lists it.
struct scheduled_event {
  std::string id;                      ///< EventId
  std::string type;                    ///< EventType: Freeze, Reboot, Redeploy, Preempt, Terminate
  std::string resource_type;           ///< ResourceType: VirtualMachine
  std::vector<std::string> resources;  ///< Resources: the VM names it applies to
  std::string status;                  ///< EventStatus: Scheduled or Started
  std::string not_before;              ///< NotBefore as sent (RFC 1123 GMT); empty once Started
  std::string description;             ///< Description (api 2019-04-01 on)
  std::string source;                  ///< EventSource: Platform or User (api 2019-08-01 on)
  int64_t duration_sec = -1;           ///< DurationInSeconds: -1 unknown, 0 no impact
};

/// The document: `DocumentIncarnation` changes whenever `Events` does.
struct scheduled_events_doc {
  int64_t incarnation = 0;
  std::vector<scheduled_event> events;
};

/// Parses a GET answer. `bad_format` naming what is wrong (not JSON, a missing or mistyped
/// DocumentIncarnation, Events, EventId, EventType or Resources); optional fields may be absent.
caf::expected<scheduled_events_doc> parse_scheduled_events(std::string_view body);

/// An RFC 1123 GMT date ("Mon, 11 Apr 2022 22:26:58 GMT"; the weekday may be left out);
/// nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_not_before(std::string_view text);

/// The `StartRequests` body that acknowledges `event_id` (JSON, escaped).
std::string start_requests_body(const std::string& event_id);

/// What a worker does about one event.
enum class event_action {
  other_vm,  ///< `Resources` does not name this VM: ignored
  log_only,  ///< Freeze, a platform Reboot or Redeploy, an unknown type: logged only
  drain,     ///< Preempt, Terminate, a user Reboot or Redeploy: drain, then acknowledge
};

/// The action for `event` on the VM named `vm_name` (names compare case-insensitively, as
/// Azure's do).
event_action decide(const scheduled_event& event, const std::string& vm_name);

/// The notice a Preempt gives ("you will have 30 seconds").
inline constexpr std::chrono::seconds preempt_notice{30};

/// How long a drain for `event` may take from `now`: min(NotBefore − now, grace), at most
/// `preempt_notice` for a Preempt, zero once NotBefore has passed or the event has Started; a
/// NotBefore that does not parse counts as unknown (grace).
std::chrono::milliseconds drain_budget(const scheduled_event& event,
                                       std::chrono::system_clock::time_point now,
                                       std::chrono::milliseconds grace);

/// The first event of `doc` to drain for on `vm_name`; null when none.
const scheduled_event* first_drain(const scheduled_events_doc& doc, const std::string& vm_name);

/// Timeouts of the IMDS calls. IMDS is link-local: an answer takes milliseconds, except the very
/// first events request after boot (it enables the service), which may take long.
struct scheduled_events_timeouts {
  std::chrono::milliseconds first_poll{10'000};
  std::chrono::milliseconds poll{3'000};
  std::chrono::milliseconds acknowledge{5'000};
};

/// A client of one IMDS endpoint (tests point it at a fixture). Not thread-safe: one poller.
class scheduled_events_client {
public:
  virtual ~scheduled_events_client() = default;
  /// The VM's name (`compute/name`, as text).
  virtual caf::expected<std::string> vm_name() = 0;
  /// The current events document.
  virtual caf::expected<scheduled_events_doc> events() = 0;
  /// Acknowledges `event_id` (StartRequests), retried a few times on 404/410/429/5xx and
  /// connection failures.
  virtual caf::error acknowledge(const std::string& event_id) = 0;
};

/// `config_invalid` naming `imds_endpoint` for a bad URL.
caf::expected<std::unique_ptr<scheduled_events_client>> make_scheduled_events_client(
    const std::string& endpoint, scheduled_events_timeouts timeouts = {});

}  // namespace pqrt::azure
