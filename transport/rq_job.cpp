#include "transport/rq_job.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

#include "runtime/base/error.hpp"

namespace pqrt::transport {

namespace {

std::string cut_repr(const py_value& value) {
  auto text = value.repr();
  if (text.size() > 75) text = text.substr(0, 75) + "...";
  return text;
}

std::string json_int_list(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

}  // namespace

const std::string& rq_job::field(const std::string& name) const {
  static const std::string empty;
  auto i = fields.find(name);
  return i == fields.end() ? empty : i->second;
}

int64_t rq_job::timeout_seconds() const {
  const auto& text = field("timeout");
  if (text.empty()) return 180;
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return 180;
  }
}

int64_t rq_job::retries_left() const {
  try {
    return field("retries_left").empty() ? 0 : std::stoll(field("retries_left"));
  } catch (const std::exception&) {
    return 0;
  }
}

std::vector<int64_t> rq_job::retry_intervals() const {
  std::vector<int64_t> out;
  const auto& text = field("retry_intervals");
  const char* p = text.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    auto value = std::strtoll(p, &end, 10);
    if (end != p) {
      out.push_back(value);
      p = end;
    } else {
      ++p;
    }
  }
  return out;
}

std::string make_job_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

std::string call_string(const job_call& call) {
  std::vector<std::string> parts;
  std::vector<py_value> args;
  if (const auto* t = call.args.get_if<py_tuple>())
    args = t->items;
  else if (const auto* l = call.args.get_if<py_list>())
    args = l->items;
  for (const auto& a : args)
    parts.push_back(cut_repr(a));
  std::vector<std::string> kw;
  for (const auto& [k, v] : call.kwargs.items) {
    const auto* key = k.get_if<std::string>();
    kw.push_back((key ? *key : k.repr()) + "=" + cut_repr(v));
  }
  std::sort(kw.begin(), kw.end());
  parts.insert(parts.end(), kw.begin(), kw.end());
  std::string out = call.func_name + "(";
  for (size_t i = 0; i < parts.size(); ++i)
    out += (i ? ", " : "") + parts[i];
  return out + ")";
}

caf::error check_job_spec(const job_spec& spec) {
  if (spec.timeout == 0) return make_error(errc::invalid_argument, "job timeout 0 (RQ rejects it)");
  return caf::none;
}

caf::expected<std::vector<std::string>> job_fields(const job_spec& spec, rq_serializer serializer) {
  if (auto err = check_job_spec(spec)) return err;
  auto data = encode_job_data(spec.call, serializer, spec.compress);
  if (!data) return data.error();
  std::vector<std::string> f{"data",
                             std::move(*data),
                             "description",
                             spec.description.empty() ? call_string(spec.call) : spec.description,
                             "timeout",
                             std::to_string(spec.timeout),
                             "started_at",
                             "",
                             "ended_at",
                             "",
                             "last_heartbeat",
                             "",
                             "worker_name",
                             "",
                             "success_callback_name",
                             "",
                             "failure_callback_name",
                             ""};
  auto add = [&](const char* name, std::string value) {
    f.emplace_back(name);
    f.push_back(std::move(value));
  };
  if (spec.result_ttl) add("result_ttl", std::to_string(*spec.result_ttl));
  if (spec.failure_ttl) add("failure_ttl", std::to_string(*spec.failure_ttl));
  if (spec.ttl) add("ttl", std::to_string(*spec.ttl));
  // Without intervals a Python worker retries at once and a pqrt worker backs off exponentially.
  if (spec.retries > 0) add("retries_left", std::to_string(spec.retries));
  if (spec.retries > 0 && !spec.retry_intervals.empty())
    add("retry_intervals", json_int_list(spec.retry_intervals));
  if (spec.at_front) add("enqueue_at_front", "1");
  for (const auto& [name, value] : spec.extra_fields) {
    f.push_back(name);
    f.push_back(value);
  }
  return f;
}

rq_job make_rq_job(std::string id, const std::vector<std::string>& flat) {
  rq_job job{std::move(id), {}};
  for (size_t i = 0; i + 1 < flat.size(); i += 2)
    job.fields[flat[i]] = flat[i + 1];
  return job;
}

}  // namespace pqrt::transport
