// Scheduled Events through IMDS: the document parser, the drain decision and the REST client.
#include "azure/scheduled_events.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "azure/encoding.hpp"
#include "azure/http.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::azure {

namespace {

using json = rapidjson::Value;

caf::error bad(const std::string& what) {
  return make_error(errc::bad_format, "scheduled events: " + what);
}

/// An optional string member into `out`; false when present but not a string.
bool read_string(const json& obj, const char* name, std::string& out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return true;
  if (!it->value.IsString()) return false;
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return true;
}

bool read_resources(const json& obj, std::vector<std::string>& out) {
  auto it = obj.FindMember("Resources");
  if (it == obj.MemberEnd() || !it->value.IsArray()) return false;
  for (const auto& r : it->value.GetArray()) {
    if (!r.IsString()) return false;
    out.emplace_back(r.GetString(), r.GetStringLength());
  }
  return true;
}

bool read_duration(const json& obj, int64_t& out) {
  auto it = obj.FindMember("DurationInSeconds");
  if (it == obj.MemberEnd() || it->value.IsNull()) return true;
  if (!it->value.IsInt64()) return false;
  out = it->value.GetInt64();
  return true;
}

caf::expected<scheduled_event> parse_event(const json& obj, size_t index) {
  auto where = "event " + std::to_string(index) + ": ";
  if (!obj.IsObject()) return bad(where + "not an object");
  scheduled_event e;
  if (!read_string(obj, "EventId", e.id) || e.id.empty()) return bad(where + "no EventId string");
  if (!read_string(obj, "EventType", e.type) || e.type.empty())
    return bad(where + "no EventType string");
  if (!read_resources(obj, e.resources)) return bad(where + "Resources is not a list of names");
  bool ok = read_string(obj, "ResourceType", e.resource_type) &&
            read_string(obj, "EventStatus", e.status) &&
            read_string(obj, "NotBefore", e.not_before) &&
            read_string(obj, "Description", e.description) &&
            read_string(obj, "EventSource", e.source) && read_duration(obj, e.duration_sec);
  if (!ok) return bad(where + "a field of the wrong type");
  return e;
}

bool iequals(std::string_view a, std::string_view b) {
  return lower(a) == lower(b);
}

bool names_vm(const scheduled_event& e, const std::string& vm_name) {
  return std::any_of(e.resources.begin(), e.resources.end(),
                     [&](const std::string& r) { return iequals(r, vm_name); });
}

int month_index(std::string_view name) {
  static constexpr const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec"};
  for (int i = 0; i < 12; ++i)
    if (lower(name) == months[i]) return i;
  return -1;
}

}  // namespace

caf::expected<scheduled_events_doc> parse_scheduled_events(std::string_view body) {
  rapidjson::Document doc;
  // Iterative: deep nesting costs heap, not stack (1 MB of "[" overflowed it).
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return bad("the answer is not a JSON object");
  auto inc = doc.FindMember("DocumentIncarnation");
  if (inc == doc.MemberEnd() || !inc->value.IsInt64()) return bad("no integer DocumentIncarnation");
  auto events = doc.FindMember("Events");
  if (events == doc.MemberEnd() || !events->value.IsArray()) return bad("no Events list");
  scheduled_events_doc out;
  out.incarnation = inc->value.GetInt64();
  for (const auto& item : events->value.GetArray()) {
    auto e = parse_event(item, out.events.size());
    if (!e) return e.error();
    out.events.push_back(std::move(*e));
  }
  return out;
}

std::optional<std::chrono::system_clock::time_point> parse_not_before(std::string_view text) {
  auto comma = text.find(',');
  if (comma != std::string_view::npos) text.remove_prefix(comma + 1);
  std::string s{text};
  char month[4] = {0};
  char zone[4] = {0};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0, used = 0;
  if (std::sscanf(s.c_str(), " %2d %3s %4d %2d:%2d:%2d %3s%n", &day, month, &year, &hh, &mm, &ss,
                  zone, &used) != 7 ||
      static_cast<size_t>(used) != s.size() || std::strcmp(zone, "GMT") != 0)
    return std::nullopt;
  std::tm tm{};
  tm.tm_mon = month_index(month);
  // system_clock (nanoseconds in 64 bits) ends in 2262: later years would overflow it.
  if (tm.tm_mon < 0 || day < 1 || day > 31 || year < 1970 || year > 2200 || hh > 23 || mm > 59 ||
      ss > 60)
    return std::nullopt;
  tm.tm_mday = day;
  tm.tm_year = year - 1900;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string start_requests_body(const std::string& event_id) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  w.Key("StartRequests");
  w.StartArray();
  w.StartObject();
  w.Key("EventId");
  w.String(event_id.data(), static_cast<rapidjson::SizeType>(event_id.size()));
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

event_action decide(const scheduled_event& event, const std::string& vm_name) {
  if (!names_vm(event, vm_name)) return event_action::other_vm;
  if (event.type == "Preempt" || event.type == "Terminate") return event_action::drain;
  // A user's reboot or redeploy waits for our approval; the platform's comes at NotBefore with
  // its own notice, and the worker's SIGTERM at shutdown hands the jobs back then.
  if ((event.type == "Reboot" || event.type == "Redeploy") && event.source == "User")
    return event_action::drain;
  return event_action::log_only;
}

std::chrono::milliseconds drain_budget(const scheduled_event& event,
                                       std::chrono::system_clock::time_point now,
                                       std::chrono::milliseconds grace) {
  using std::chrono::milliseconds;
  if (event.status == "Started" || event.not_before.empty()) return milliseconds{0};
  auto budget = grace;
  if (event.type == "Preempt") budget = std::min<milliseconds>(budget, preempt_notice);
  if (auto at = parse_not_before(event.not_before)) {
    auto left = std::chrono::duration_cast<milliseconds>(*at - now);
    budget = std::min(budget, std::max(left, milliseconds{0}));
  }
  return budget;
}

const scheduled_event* first_drain(const scheduled_events_doc& doc, const std::string& vm_name) {
  for (const auto& e : doc.events)
    if (decide(e, vm_name) == event_action::drain) return &e;
  return nullptr;
}

// --- the client -----------------------------------------------------------------------------

namespace {

constexpr const char* events_api = "2020-07-01";
constexpr const char* instance_api = "2021-02-01";

http_options poll_options(const scheduled_events_timeouts& t) {
  http_options o;
  o.timeout = t.poll;
  o.retry.max_attempts = 1;  // the next poll is the retry
  return o;
}

http_options ack_options(const scheduled_events_timeouts& t) {
  http_options o;
  o.timeout = t.acknowledge;
  o.retry.max_attempts = 4;
  o.retry.base_delay = std::chrono::milliseconds{500};
  o.retry.max_delay = std::chrono::milliseconds{2'000};
  o.retry.total_budget = std::chrono::milliseconds{15'000};
  o.extra_retry_statuses = {404, 410};  // IMDS while it updates
  return o;
}

class imds_events_client : public scheduled_events_client {
public:
  imds_events_client(url_parts endpoint, scheduled_events_timeouts timeouts)
      : prefix_(endpoint.path),
        timeouts_(timeouts),
        poll_(endpoint.base, poll_options(timeouts)),
        ack_(endpoint.base, ack_options(timeouts)) {
    // nop
  }

  caf::expected<std::string> vm_name() override {
    auto req = imds_get("/metadata/instance/compute/name", instance_api);
    req.query.emplace_back("format", "text");
    auto resp = poll_.send("get", "IMDS compute/name", req, {}, timeouts_.poll);
    if (!resp) return resp.error();
    if (resp->status != 200) return response_error("get", "IMDS compute/name", *resp);
    auto name = resp->body;
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back())))
      name.pop_back();
    if (name.empty()) return bad("IMDS compute/name is empty");
    return name;
  }

  caf::expected<scheduled_events_doc> events() override {
    auto timeout = answered_ ? timeouts_.poll : timeouts_.first_poll;
    auto resp = poll_.send("get", "IMDS scheduled events",
                           imds_get("/metadata/scheduledevents", events_api), {}, timeout);
    if (!resp) return resp.error();
    if (resp->status != 200) return response_error("get", "IMDS scheduled events", *resp);
    answered_ = true;
    return parse_scheduled_events(resp->body);
  }

  caf::error acknowledge(const std::string& event_id) override {
    auto req = imds_get("/metadata/scheduledevents", events_api);
    req.method = "POST";
    req.set_header("Content-Type", "application/json");
    req.body = start_requests_body(event_id);
    auto what = "IMDS scheduled event " + event_id;
    auto resp = ack_.send("acknowledge", what, req, {});
    if (!resp) return resp.error();
    if (resp->status / 100 != 2) return response_error("acknowledge", what, *resp);
    return caf::none;
  }

private:
  http_request imds_get(const std::string& path, const char* api) const {
    http_request req;
    req.method = "GET";
    req.path = prefix_ + path;
    req.query = {{"api-version", api}};
    req.set_header("Metadata", "true");
    return req;
  }

  std::string prefix_;
  scheduled_events_timeouts timeouts_;
  http_client poll_;
  http_client ack_;
  bool answered_ = false;
};

}  // namespace

caf::expected<std::unique_ptr<scheduled_events_client>> make_scheduled_events_client(
    const std::string& endpoint, scheduled_events_timeouts timeouts) {
  auto parts = endpoint_parts("imds_endpoint", endpoint);
  if (!parts) return parts.error();
  return std::unique_ptr<scheduled_events_client>{
      std::make_unique<imds_events_client>(std::move(*parts), timeouts)};
}

}  // namespace pqrt::azure
