#include "runtime/jobs/builtins.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>

#include <openssl/sha.h>

#include "runtime/base/error.hpp"

namespace pqrt {

using transport::py_value;
using clock_type = std::chrono::steady_clock;

namespace {

using arg_list = std::vector<py_value>;

/// What a built-in knows of its job: when it must end and whether it was asked to stop.
struct job_ctx {
  const std::string& id;
  clock_type::time_point deadline;
};

using builtin_fn = caf::expected<py_value> (*)(const arg_list&, const py_value&, const job_ctx&);

struct control_state {
  std::mutex mtx;
  std::map<std::string, int> running;  // job id -> 0 running, 1 stop requested, 2 killed
};

control_state& control() {
  static control_state instance;
  return instance;
}

/// Slices of long waits, so a stop request or the deadline is seen promptly.
constexpr auto check_interval = std::chrono::milliseconds{10};

/// timeout or stopped, when the job must end now.
caf::error must_end(const std::string& func, const job_ctx& job) {
  if (job_control::stop_requested(job.id))
    return make_error(errc::job_failed, "stopped: " + func + " was asked to stop");
  if (clock_type::now() > job.deadline)
    return make_error(errc::timeout, "JobTimeoutException: " + func + " ran past the job timeout");
  return caf::none;
}

caf::error bad_args(const std::string& func, const std::string& expected) {
  return make_error(errc::job_failed, "TypeError: " + func + "() takes " + expected);
}

caf::expected<py_value> echo(const arg_list& args, const py_value&, const job_ctx&) {
  if (args.size() == 1) return args[0];
  return py_value::tuple(args);
}

caf::expected<py_value> upper(const arg_list& args, const py_value&, const job_ctx&) {
  const auto* text = args.size() == 1 ? args[0].get_if<std::string>() : nullptr;
  if (text == nullptr) return bad_args("pqrt.upper", "one str argument");
  auto out = *text;
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return py_value{out};
}

caf::expected<py_value> sha256(const arg_list& args, const py_value&, const job_ctx&) {
  const std::string* data = nullptr;
  if (args.size() == 1) {
    data = args[0].get_if<std::string>();
    if (const auto* b = args[0].get_if<transport::py_bytes>()) data = &b->data;
  }
  if (data == nullptr) return bad_args("pqrt.sha256", "one str or bytes argument");
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data->data()), data->size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 15];
  }
  return py_value{out};
}

/// The milliseconds argument of sleep_ms/cpu_ms.
caf::expected<int64_t> millis_arg(const std::string& func, const arg_list& args) {
  const auto* n = args.size() == 1 ? args[0].get_if<int64_t>() : nullptr;
  if (n == nullptr || *n < 0) return bad_args(func, "one int argument >= 0 (milliseconds)");
  return *n;
}

caf::expected<py_value> sleep_ms(const arg_list& args, const py_value&, const job_ctx& job) {
  auto ms = millis_arg("pqrt.sleep_ms", args);
  if (!ms) return ms.error();
  auto until = clock_type::now() + std::chrono::milliseconds{*ms};
  while (clock_type::now() < until) {
    if (auto err = must_end("pqrt.sleep_ms", job)) return err;
    std::this_thread::sleep_until(std::min(until, clock_type::now() + check_interval));
  }
  return py_value{*ms};
}

caf::expected<py_value> cpu_ms(const arg_list& args, const py_value&, const job_ctx& job) {
  auto ms = millis_arg("pqrt.cpu_ms", args);
  if (!ms) return ms.error();
  auto until = clock_type::now() + std::chrono::milliseconds{*ms};
  volatile uint64_t sink = 0;
  while (clock_type::now() < until) {
    for (int i = 0; i < 1000; ++i)
      sink = sink + static_cast<uint64_t>(i);
    if (auto err = must_end("pqrt.cpu_ms", job)) return err;
  }
  return py_value{*ms};
}

caf::expected<py_value> fail(const arg_list& args, const py_value& kwargs, const job_ctx&) {
  std::string message = "pqrt.fail was called";
  if (!args.empty() && args[0].is<std::string>()) message = *args[0].get_if<std::string>();
  if (const auto* d = kwargs.get_if<transport::py_dict>()) {
    for (const auto& [k, v] : d->items)
      if (k == py_value{"message"} && v.is<std::string>()) message = *v.get_if<std::string>();
  }
  return make_error(errc::job_failed, "Exception: " + message);
}

const std::map<std::string, builtin_fn>& registry() {
  static const std::map<std::string, builtin_fn> table{
      {"pqrt.echo", echo},         {"pqrt.upper", upper},   {"pqrt.sha256", sha256},
      {"pqrt.sleep_ms", sleep_ms}, {"pqrt.cpu_ms", cpu_ms}, {"pqrt.fail", fail},
  };
  return table;
}

}  // namespace

caf::expected<py_value> run_builtin(const std::string& job_id, const std::string& func,
                                    const py_value& args, const py_value& kwargs,
                                    clock_type::time_point deadline) {
  auto fn = registry().find(func);
  if (fn == registry().end())
    return make_error(errc::job_failed, "AttributeError: pqrt has no function '" + func +
                                            "' (built-in: pqrt.echo, pqrt.upper, pqrt.sha256, "
                                            "pqrt.sleep_ms, pqrt.cpu_ms, pqrt.fail)");
  arg_list list;
  if (const auto* t = args.get_if<transport::py_tuple>())
    list = t->items;
  else if (const auto* l = args.get_if<transport::py_list>())
    list = l->items;
  else if (!args.is_none())
    return bad_args(func, "positional arguments as a tuple or list");
  return fn->second(list, kwargs, job_ctx{job_id, deadline});
}

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : registry())
      out.push_back(entry.first);
    return out;
  }();
  return names;
}

namespace job_control {

void begin(const std::string& job_id) {
  std::lock_guard<std::mutex> guard{control().mtx};
  control().running[job_id] = 0;
}

void end(const std::string& job_id) {
  std::lock_guard<std::mutex> guard{control().mtx};
  control().running.erase(job_id);
}

bool request_stop(const std::string& job_id) {
  std::lock_guard<std::mutex> guard{control().mtx};
  auto i = control().running.find(job_id);
  if (i == control().running.end()) return false;
  i->second = 1;
  return true;
}

size_t request_stop_all() {
  std::lock_guard<std::mutex> guard{control().mtx};
  for (auto& entry : control().running)
    entry.second = 2;
  return control().running.size();
}

bool stop_requested(const std::string& job_id) {
  std::lock_guard<std::mutex> guard{control().mtx};
  auto i = control().running.find(job_id);
  return i != control().running.end() && i->second != 0;
}

bool killed(const std::string& job_id) {
  std::lock_guard<std::mutex> guard{control().mtx};
  auto i = control().running.find(job_id);
  return i != control().running.end() && i->second == 2;
}

}  // namespace job_control

}  // namespace pqrt
