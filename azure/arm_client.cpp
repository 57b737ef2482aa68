// ARM listings and Azure Monitor metrics over REST (see arm_client.hpp).
#include "azure/arm_client.hpp"

#include <algorithm>
#include <iterator>

#include <rapidjson/document.h>

#include "azure/encoding.hpp"
#include "azure/responses.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::azure {

namespace {

constexpr const char* compute_api = "2024-07-01";
constexpr const char* monitor_api = "2023-10-01";

std::string str(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::optional<double> number(const rapidjson::Value& obj, const char* name) {
  auto v = member(obj, name);
  if (!v || !v->IsNumber()) return std::nullopt;
  return v->GetDouble();
}

caf::expected<rapidjson::Document> parse(const std::string& what, const std::string& body) {
  rapidjson::Document doc;
  // Iterative: deep nesting costs heap, not stack (1 MB of "[" overflowed it).
  doc.Parse<rapidjson::kParseIterativeFlag>(body.c_str(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return make_error(errc::bad_format, what + ": the answer is not a JSON object");
  return doc;
}

/// The query of a nextLink as decoded pairs (the client encodes them again).
header_list parse_query(const std::string& query) {
  header_list out;
  size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    auto part = query.substr(start, end - start);
    if (!part.empty()) {
      auto eq = part.find('=');
      out.emplace_back(url_decode(part.substr(0, eq), true),
                       eq == std::string::npos ? "" : url_decode(part.substr(eq + 1), true));
    }
    start = end + 1;
  }
  return out;
}

}  // namespace

arm_client::arm_client(arm_options options, url_parts parts)
    : options_(std::move(options)),
      base_(parts.base),
      prefix_(parts.path),
      client_(parts.base, options_.http) {
  // nop
}

caf::expected<std::shared_ptr<arm_client>> arm_client::make(arm_options options) {
  if (!options.credential)
    return make_error(errc::config_invalid,
                      "ARM needs a credential: tenant_id, service_principal_client_id and "
                      "service_principal_secret, or use_managed_identity");
  auto parts = endpoint_parts("arm_endpoint", options.endpoint);
  if (!parts) return parts.error();
  return std::make_shared<arm_client>(std::move(options), std::move(*parts));
}

caf::expected<http_response> arm_client::get(const std::string& operation,
                                             const std::string& resource, http_request req) {
  req.method = "GET";
  req.set_header("Accept", "application/json");
  return send_authorized(client_, *options_.credential, resources::management, operation, resource,
                         req);
}

caf::expected<std::vector<arm_resource>> arm_client::list_pages(const std::string& path,
                                                                const std::string& kind,
                                                                const std::string& scale_set) {
  std::vector<arm_resource> out;
  http_request req;
  req.path = prefix_ + path;
  req.query = {{"api-version", compute_api}};
  for (int page = 0; page < 10000; ++page) {
    auto resp = get("list " + kind + "s", path, req);
    if (!resp) return resp.error();
    auto listed = detail::parse_arm_page("list " + path, resp->body, kind, scale_set);
    if (!listed) return listed.error();
    std::move(listed->items.begin(), listed->items.end(), std::back_inserter(out));
    const auto& next = listed->next_link;
    if (next.empty()) return out;
    // Follow the link as it is, but only on the ARM endpoint: the token goes with it.
    auto parts = split_url(next);
    if (!parts || parts->base != base_)
      return make_error(errc::bad_format,
                        "list " + path + ": nextLink '" + next + "' leaves " + base_);
    req.path = parts->path;
    req.query = parse_query(parts->query);
  }
  return make_error(errc::bad_format, "list " + path + ": more than 10,000 pages");
}

caf::expected<std::vector<arm_resource>> arm_client::list_resources(
    const std::string& subscription, const std::string& resource_group) {
  auto group = "/subscriptions/" + url_encode(subscription) + "/resourceGroups/" +
               url_encode(resource_group) + "/providers/Microsoft.Compute";
  auto vms = list_pages(group + "/virtualMachines", "virtualMachine", "");
  if (!vms) return vms.error();
  auto sets = list_pages(group + "/virtualMachineScaleSets", "virtualMachineScaleSet", "");
  if (!sets) return sets.error();
  auto out = std::move(*vms);
  for (auto& set : *sets) {
    auto instances =
        list_pages(group + "/virtualMachineScaleSets/" + url_encode(set.name) + "/virtualMachines",
                   "virtualMachineScaleSetInstance", set.name);
    if (!instances) return instances.error();
    out.push_back(set);
    for (auto& i : *instances)
      out.push_back(std::move(i));
  }
  return out;
}

caf::expected<metrics_answer> arm_client::get_metrics(const std::string& resource_id,
                                                      const std::vector<std::string>& metrics,
                                                      std::chrono::system_clock::time_point start,
                                                      std::chrono::system_clock::time_point end,
                                                      const std::string& interval,
                                                      bool split_by_vm) {
  std::string names;
  for (auto& m : metrics) {
    if (!names.empty()) names += ',';
    names += m;
  }
  http_request req;
  req.path = prefix_ + url_encode(resource_id, true) + "/providers/Microsoft.Insights/metrics";
  req.query = {{"api-version", monitor_api},
               {"metricnames", names},
               {"timespan", iso8601(start) + "/" + iso8601(end)},
               {"interval", interval},
               {"aggregation", "average,maximum,total"}};
  if (split_by_vm) req.query.emplace_back("$filter", "VMName eq '*'");
  auto resp = get("get metrics", resource_id, req);
  if (!resp) return resp.error();
  return detail::parse_metrics_answer("get metrics " + resource_id, resp->body);
}

namespace {

/// The segments of a scale set's resource id, or empty when it is not one.
std::vector<std::string> scale_set_segments(const std::string& id) {
  // /subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachineScaleSets/N
  std::vector<std::string> segs;
  if (id.empty() || id[0] != '/') return {};
  for (size_t start = 1; start <= id.size();) {
    auto end = id.find('/', start);
    if (end == std::string::npos) end = id.size();
    segs.push_back(id.substr(start, end - start));
    start = end + 1;
  }
  auto is = [&](size_t i, const char* want) { return lower(segs[i]) == lower(want); };
  if (segs.size() != 8 || !is(0, "subscriptions") || !is(2, "resourceGroups") ||
      !is(4, "providers") || !is(5, "Microsoft.Compute") || !is(6, "virtualMachineScaleSets") ||
      std::any_of(segs.begin(), segs.end(), [](const std::string& x) { return x.empty(); }))
    return {};
  return segs;
}

}  // namespace

caf::error check_scale_set_id(const std::string& id) {
  if (!scale_set_segments(id).empty()) return {};
  return make_error(errc::config_invalid,
                    "autoscale_scale_set_id: '" + id +
                        "' is not a scale set's resource id (/subscriptions/S/resourceGroups/G/"
                        "providers/Microsoft.Compute/virtualMachineScaleSets/NAME)");
}

caf::expected<http_request> arm_client::scale_set_request(const std::string& id) const {
  auto segs = scale_set_segments(id);
  if (segs.empty()) return check_scale_set_id(id);
  http_request req;
  req.path = prefix_;
  for (auto& x : segs)
    req.path += "/" + url_encode(x);
  req.query = {{"api-version", compute_api}};
  req.set_header("Accept", "application/json");
  return req;
}

caf::expected<int64_t> arm_client::get_capacity(const std::string& scale_set_id) {
  auto req = scale_set_request(scale_set_id);
  if (!req) return req.error();
  auto resp = get("get scale set", scale_set_id, std::move(*req));
  if (!resp) return resp.error();
  return detail::parse_scale_set_capacity("get scale set " + scale_set_id, resp->body);
}

caf::error arm_client::set_capacity(const std::string& scale_set_id, int64_t capacity) {
  auto req = scale_set_request(scale_set_id);
  if (!req) return req.error();
  req->method = "PATCH";
  req->set_header("Content-Type", "application/json");
  req->body = "{\"sku\":{\"capacity\":" + std::to_string(capacity) + "}}";
  auto resp = send_authorized(client_, *options_.credential, resources::management,
                              "set scale set capacity", scale_set_id, *req);
  if (!resp) return resp.error();
  return {};
}

// --- answers --------------------------------------------------------------------------------

caf::expected<detail::arm_page> detail::parse_arm_page(const std::string& what,
                                                       const std::string& body,
                                                       const std::string& kind,
                                                       const std::string& scale_set) {
  auto doc = parse(what, body);
  if (!doc) return doc.error();
  auto value = member(*doc, "value");
  if (!value || !value->IsArray())
    return make_error(errc::bad_format, what + ": the answer has no 'value' array");
  arm_page page;
  for (auto& item : value->GetArray()) {
    arm_resource r;
    r.id = str(item, "id");
    r.name = str(item, "name");
    r.location = str(item, "location");
    r.kind = kind;
    r.scale_set = scale_set;
    if (auto props = member(item, "properties"))
      if (auto os = member(*props, "osProfile")) r.computer_name = str(*os, "computerName");
    if (r.id.empty() || r.name.empty())
      return make_error(errc::bad_format, what + ": an item without id or name");
    page.items.push_back(std::move(r));
  }
  page.next_link = str(*doc, "nextLink");
  return page;
}

caf::expected<metrics_answer> detail::parse_metrics_answer(const std::string& what,
                                                           const std::string& body) {
  auto doc = parse(what, body);
  if (!doc) return doc.error();
  metrics_answer out;
  out.timespan = str(*doc, "timespan");
  out.interval = str(*doc, "interval");
  auto value = member(*doc, "value");
  if (!value || !value->IsArray())
    return make_error(errc::bad_format, what + ": the answer has no 'value' array");
  for (auto& entry : value->GetArray()) {
    metric_series base;
    if (auto name = member(entry, "name")) base.name = str(*name, "value");
    base.unit = str(entry, "unit");
    auto code = str(entry, "errorCode");
    if (!code.empty() && code != "Success") {
      base.error = code;
      auto message = str(entry, "errorMessage");
      if (!message.empty()) base.error += ": " + message;
    }
    auto series = member(entry, "timeseries");
    if (!series || !series->IsArray() || series->GetArray().Empty()) {
      out.series.emplace_back("", std::move(base));
      continue;
    }
    for (auto& ts : series->GetArray()) {
      metric_series s = base;
      std::string owner;
      if (auto meta = member(ts, "metadatavalues"); meta && meta->IsArray())
        for (auto& mv : meta->GetArray())
          if (auto n = member(mv, "name"); n && lower(str(*n, "value")) == "vmname")
            owner = str(mv, "value");
      if (auto data = member(ts, "data"); data && data->IsArray())
        for (auto& p : data->GetArray())
          s.points.push_back({str(p, "timeStamp"), number(p, "average"), number(p, "maximum"),
                              number(p, "total")});
      out.series.emplace_back(std::move(owner), std::move(s));
    }
  }
  return out;
}

caf::expected<int64_t> detail::parse_scale_set_capacity(const std::string& what,
                                                        const std::string& body) {
  auto doc = parse(what, body);
  if (!doc) return doc.error();
  auto sku = member(*doc, "sku");
  auto cap = sku ? member(*sku, "capacity") : nullptr;
  if (!cap || !cap->IsInt64() || cap->GetInt64() < 0)
    return make_error(errc::bad_format, what + ": the answer has no whole sku.capacity");
  return cap->GetInt64();
}

}  // namespace pqrt::azure
