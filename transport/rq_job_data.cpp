#include "transport/rq_job_data.hpp"

#include "crypto/base64.hpp"
#include "runtime/base/error.hpp"
#include "transport/pickle.hpp"
#include "transport/rq_json.hpp"
#include "transport/rq_zlib.hpp"

namespace pqrt::transport {

namespace {

caf::error with_prefix(const caf::error& err, const std::string& prefix) {
  auto code = is(err, errc::unsupported) ? errc::unsupported : errc::bad_format;
  return make_error(code, prefix + ": " + context_of(err));
}

/// The cap on the inflated data bounds the value read from it too: a value costs some 64 bytes
/// however few it takes serialized (a pickle memo reference is 2 bytes, JSON's `0,` is 2), and a
/// shared str is copied per reference. So a pickle or JSON bomb inside the cap fails as well.
caf::expected<py_value> loads_job_value(std::string_view bytes, rq_serializer serializer,
                                        size_t max_size) {
  auto limits = job_data_limits(max_size);
  if (serializer == rq_serializer::pickle) return pickle_loads(bytes, limits);
  return json_loads(bytes, limits.max_depth, limits.max_values);
}

/// Checks the shape of the loaded 4-tuple and moves its items into a job_call.
caf::expected<job_call> to_job_call(py_value value) {
  std::vector<py_value>* items = nullptr;
  if (auto* tuple = value.get_if<py_tuple>()) items = &tuple->items;
  if (auto* list = value.get_if<py_list>()) items = &list->items;
  if (items == nullptr || items->size() != 4)
    return make_error(errc::bad_format,
                      "job data: expected (func_name, instance, args, kwargs), "
                      "got " +
                          value.repr().substr(0, 200));
  auto& func = (*items)[0];
  auto& instance = (*items)[1];
  auto& args = (*items)[2];
  auto& kwargs = (*items)[3];
  if (!func.is<std::string>())
    return make_error(errc::bad_format, std::string{"job data: func_name is a "} +
                                            type_name(func.kind()) + ", not a str");
  if (!args.is<py_tuple>() && !args.is<py_list>())
    return make_error(errc::bad_format, std::string{"job data: args is a "} +
                                            type_name(args.kind()) + ", not a tuple or list");
  if (!kwargs.is<py_dict>())
    return make_error(errc::bad_format, std::string{"job data: kwargs is a "} +
                                            type_name(kwargs.kind()) + ", not a dict");
  return job_call{std::move(*func.get_if<std::string>()), std::move(instance), std::move(args),
                  std::move(*kwargs.get_if<py_dict>())};
}

}  // namespace

caf::expected<std::string> rq_dumps(const py_value& value, rq_serializer serializer) {
  if (serializer == rq_serializer::pickle) return pickle_dumps(value);
  return json_dumps(value);
}

caf::expected<py_value> rq_loads(std::string_view bytes, rq_serializer serializer) {
  if (serializer == rq_serializer::pickle) return pickle_loads(bytes);
  return json_loads(bytes);
}

caf::expected<std::string> encode_job_data(const job_call& call, rq_serializer serializer,
                                           bool compress) {
  if (!call.args.is<py_tuple>() && !call.args.is<py_list>())
    return make_error(
        errc::invalid_argument,
        std::string{"job args must be a tuple or list, not "} + type_name(call.args.kind()));
  auto tuple = py_value::tuple({call.func_name, call.instance, call.args, call.kwargs});
  auto bytes = rq_dumps(tuple, serializer);
  if (!bytes) return with_prefix(bytes.error(), "job data");
  if (!compress) return std::move(*bytes);
  return zlib_compress(*bytes);
}

pickle_limits job_data_limits(size_t max_size) {
  pickle_limits limits;
  limits.max_values = max_size / 64;
  limits.max_bytes = max_size;
  return limits;
}

caf::expected<job_call> decode_job_data(std::string_view data, rq_serializer serializer,
                                        size_t max_size) {
  auto inflated = zlib_decompress(data, max_size);
  if (!inflated && is(inflated.error(), errc::unsupported))
    return with_prefix(inflated.error(), "job data");
  auto value = loads_job_value(inflated ? std::string_view{*inflated} : data, serializer, max_size);
  if (!value) {
    auto what = inflated ? "job data" : "job data (not zlib, read as-is)";
    return with_prefix(value.error(), what);
  }
  return to_job_call(std::move(*value));
}

caf::expected<std::optional<std::string>> encode_return_value(const py_value& value,
                                                              rq_serializer serializer) {
  if (value.is_none()) return std::optional<std::string>{};
  auto bytes = rq_dumps(value, serializer);
  if (!bytes) return with_prefix(bytes.error(), "return value");
  return std::optional<std::string>{crypto::base64_encode(*bytes)};
}

caf::expected<py_value> decode_return_value(std::string_view field, rq_serializer serializer) {
  auto bytes = crypto::base64_decode(field);
  if (!bytes) return with_prefix(bytes.error(), "return_value");
  auto value = rq_loads({reinterpret_cast<const char*>(bytes->data()), bytes->size()}, serializer);
  if (!value) return with_prefix(value.error(), "return_value");
  return value;
}

std::string encode_exc_string(std::string_view text) {
  return crypto::base64_encode(zlib_compress(text));
}

caf::expected<std::string> decode_exc_string(std::string_view field) {
  auto bytes = crypto::base64_decode(field);
  if (!bytes) return with_prefix(bytes.error(), "exc_string");
  auto text = zlib_decompress({reinterpret_cast<const char*>(bytes->data()), bytes->size()});
  if (!text) return with_prefix(text.error(), "exc_string");
  return text;
}

std::string encode_exc_info(std::string_view text) {
  return zlib_compress(text);
}

std::string decode_exc_info(std::string_view raw) {
  auto text = zlib_decompress(raw);
  return text ? std::move(*text) : std::string{raw};
}

}  // namespace pqrt::transport
