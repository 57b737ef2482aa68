#include "runtime/jobs/record_job.hpp"

#include <openssl/sha.h>

#include <thread>

#include "crypto/base64.hpp"
#include "runtime/base/error.hpp"

namespace pqrt {

namespace {

using transport::py_value;

std::string hex_sha256(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : digest) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

/// `sleep:MS` / `cpu:MS`: the milliseconds, or -1 when `name` is not of that form.
int64_t timed_ms(const std::string& name, const std::string& kind) {
  if (name.compare(0, kind.size() + 1, kind + ":") != 0) return -1;
  auto digits = name.substr(kind.size() + 1);
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoll(digits);
}

const std::string* str_of(const py_value& v) {
  return v.get_if<std::string>();
}

}  // namespace

std::string record_job_id(const std::string& run_id, uint64_t index) {
  return run_id + "-" + std::to_string(index);
}

bool is_record_job(const std::string& func_name) {
  return func_name == record_job_func || func_name == records_job_func;
}

transport::job_call make_record_call(const record_call& rc) {
  transport::job_call call;
  if (rc.many) {
    call.func_name = records_job_func;
    std::vector<py_value> lines;
    lines.reserve(rc.records.size());
    for (const auto& line : rc.records) {
      if (rc.as_bytes) {
        auto raw = crypto::base64_decode(line);
        if (raw) {
          std::string bytes{raw->begin(), raw->end()};
          if (crypto::base64_encode(bytes) == line) {  // read back as the very same line
            lines.push_back(py_value::bytes(bytes));
            continue;
          }
        }
      }
      lines.emplace_back(line);
    }
    call.args = py_value::tuple({rc.run_id, rc.dataset_id, rc.first, py_value::list(lines)});
  } else {
    call.func_name = record_job_func;
    call.args = py_value::tuple(
        {rc.run_id, rc.dataset_id, rc.first, rc.records.empty() ? "" : rc.records.front()});
  }
  call.kwargs.items.emplace_back(py_value{"processor"}, py_value{rc.processor});
  return call;
}

caf::expected<record_call> parse_record_call(const transport::job_call& call) {
  if (!is_record_job(call.func_name))
    return make_error(errc::unsupported, "not a record job: " + call.func_name);
  const std::vector<py_value>* args = nullptr;
  if (const auto* t = call.args.get_if<transport::py_tuple>()) args = &t->items;
  if (const auto* l = call.args.get_if<transport::py_list>()) args = &l->items;
  auto bad = [](const std::string& what) {
    return make_error(errc::bad_format, "record job: " + what);
  };
  if (!args || args->size() != 4) return bad("expected 4 arguments");
  record_call rc;
  rc.many = call.func_name == records_job_func;
  const auto* run = str_of((*args)[0]);
  const auto* dataset = str_of((*args)[1]);
  const auto* index = (*args)[2].get_if<int64_t>();
  if (!run || !dataset || !index || *index < 0) return bad("arguments of wrong types");
  rc.run_id = *run;
  rc.dataset_id = *dataset;
  rc.first = static_cast<uint64_t>(*index);
  if (rc.many) {
    const auto* lines = (*args)[3].get_if<transport::py_list>();
    if (!lines || lines->items.empty()) return bad("no list of records");
    for (const auto& line : lines->items) {
      if (const auto* raw = line.get_if<transport::py_bytes>()) {
        rc.records.push_back(crypto::base64_encode(raw->data));
        continue;
      }
      const auto* sealed = str_of(line);
      if (!sealed) return bad("a record that is neither str nor bytes");
      rc.records.push_back(*sealed);
    }
  } else {
    const auto* sealed = str_of((*args)[3]);
    if (!sealed) return bad("arguments of wrong types");
    rc.records.push_back(*sealed);
  }
  for (const auto& [k, v] : call.kwargs.items)
    if (const auto* key = str_of(k); key && *key == "processor")
      if (const auto* name = str_of(v)) rc.processor = *name;
  if (rc.processor.empty()) return bad("no processor named");
  return rc;
}

std::string result_binding(const std::string& dataset_id, const std::string& run_id) {
  return dataset_id + "/results/" + run_id;
}

bool is_record_processor(const std::string& name) {
  return name == "echo" || name == "upper" || name == "sha256" || name == "fail" ||
         timed_ms(name, "sleep") >= 0 || timed_ms(name, "cpu") >= 0;
}

caf::error check_processor(const std::string& name) {
  if (name == "exec" || is_record_processor(name)) return caf::none;
  return make_error(
      errc::invalid_argument,
      "processor '" + name + "': expected exec, echo, upper, sha256, fail, sleep:MS or cpu:MS");
}

caf::expected<std::string> run_record_processor(const std::string& name, const std::string& record,
                                                std::chrono::steady_clock::time_point deadline) {
  using clock = std::chrono::steady_clock;
  if (name == "echo") return record;
  if (name == "sha256") return hex_sha256(record);
  if (name == "upper") {
    auto out = record;
    for (auto& c : out)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
  }
  if (name == "fail") return make_error(errc::job_failed, "the fail processor fails every record");
  if (auto ms = timed_ms(name, "sleep"); ms >= 0) {
    auto until = clock::now() + std::chrono::milliseconds{ms};
    if (until > deadline) {
      std::this_thread::sleep_until(deadline);
      return make_error(errc::timeout, "processor " + name + " ran out of time");
    }
    std::this_thread::sleep_until(until);
    return hex_sha256(record);
  }
  if (auto ms = timed_ms(name, "cpu"); ms >= 0) {
    auto until = clock::now() + std::chrono::milliseconds{ms};
    volatile uint64_t sink = 0;
    while (clock::now() < until) {
      if (clock::now() > deadline)
        return make_error(errc::timeout, "processor " + name + " ran out of time");
      for (int i = 0; i < 10000; ++i)
        sink = sink + static_cast<uint64_t>(i);
    }
    return hex_sha256(record);
  }
  return check_processor(name);
}

}  // namespace pqrt
