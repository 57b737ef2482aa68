#include "runtime/builtins.hpp"

#include <map>
#include <thread>

#include <openssl/sha.h>

#include "runtime/error.hpp"

namespace pqrt {

using transport::py_value;
using clock_type = std::chrono::steady_clock;

namespace {

using arg_list = std::vector<py_value>;
using builtin_fn = caf::expected<py_value> (*)(const arg_list&, const py_value&,
                                               clock_type::time_point);

caf::error bad_args(const std::string& func, const std::string& expected) {
  return make_error(errc::job_failed, "TypeError: " + func + "() takes " + expected);
}

caf::expected<py_value> echo(const arg_list& args, const py_value&, clock_type::time_point) {
  if (args.size() == 1) return args[0];
  return py_value::tuple(args);
}

caf::expected<py_value> upper(const arg_list& args, const py_value&, clock_type::time_point) {
  const auto* text = args.size() == 1 ? args[0].get_if<std::string>() : nullptr;
  if (text == nullptr) return bad_args("pqrt.upper", "one str argument");
  auto out = *text;
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return py_value{out};
}

caf::expected<py_value> sha256(const arg_list& args, const py_value&, clock_type::time_point) {
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

caf::error timed_out(const std::string& func) {
  return make_error(errc::timeout, "JobTimeoutException: " + func + " ran past the job timeout");
}

caf::expected<py_value> sleep_ms(const arg_list& args, const py_value&,
                                 clock_type::time_point deadline) {
  auto ms = millis_arg("pqrt.sleep_ms", args);
  if (!ms) return ms.error();
  auto until = clock_type::now() + std::chrono::milliseconds{*ms};
  std::this_thread::sleep_until(std::min(until, deadline));
  if (until > deadline) return timed_out("pqrt.sleep_ms");
  return py_value{*ms};
}

caf::expected<py_value> cpu_ms(const arg_list& args, const py_value&,
                               clock_type::time_point deadline) {
  auto ms = millis_arg("pqrt.cpu_ms", args);
  if (!ms) return ms.error();
  auto until = clock_type::now() + std::chrono::milliseconds{*ms};
  volatile uint64_t sink = 0;
  while (clock_type::now() < until) {
    for (int i = 0; i < 1000; ++i)
      sink = sink + static_cast<uint64_t>(i);
    if (clock_type::now() > deadline) return timed_out("pqrt.cpu_ms");
  }
  return py_value{*ms};
}

caf::expected<py_value> fail(const arg_list& args, const py_value& kwargs, clock_type::time_point) {
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

caf::expected<py_value> run_builtin(const std::string& func, const py_value& args,
                                    const py_value& kwargs, clock_type::time_point deadline) {
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
  return fn->second(list, kwargs, deadline);
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

}  // namespace pqrt
