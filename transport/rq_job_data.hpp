#pragma once

/// RQ 1.13's serialized job fields (reference: rq-1.13-protocol.md §2, §3, §7):
/// * hash `data` = `zlib.compress(serializer.dumps((func_name, instance, args, kwargs)))`;
/// * stream `return_value` = `base64(serializer.dumps(rv))`, absent when rv is None;
/// * stream `exc_string` = `base64(zlib.compress(text.encode()))`;
/// * hash `exc_info` = `zlib.compress(text)` (readers fall back to the raw text);
/// * hash `result` (Redis < 5 only) and `meta` = `serializer.dumps(value)`, no zlib.
/// The serializer is not stored in Redis: producer and workers agree on it out of band.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "transport/pickle.hpp"
#include "transport/py_value.hpp"

namespace pqrt::transport {

/// RQ's two built-in serializers.
enum class rq_serializer : uint8_t {
  pickle,  ///< `rq.serializers.DefaultSerializer`: pickle protocol 5
  json,    ///< `rq.serializers.JSONSerializer`: UTF-8 JSON text
};

/// `serializer.dumps(value)`; JSON fails (`unsupported`) on bytes and on non-scalar dict keys.
caf::expected<std::string> rq_dumps(const py_value& value, rq_serializer serializer);

/// `serializer.loads(bytes)`.
caf::expected<py_value> rq_loads(std::string_view bytes, rq_serializer serializer);

/// The call a job's `data` describes.
struct job_call {
  std::string func_name;                ///< dotted path (`tasks.add`)
  py_value instance;                    ///< None unless the job is a bound method
  py_value args = py_value::tuple({});  ///< a tuple (`enqueue(f, *args)`) or a list
  py_dict kwargs;                       ///< keyword arguments
};

/// The hash field `data`: zlib of the serialized 4-tuple (without `compress`, the serialized
/// tuple itself, which RQ and `decode_job_data` read as it is). `invalid_argument` when `args` is
/// not a tuple or list; otherwise as `rq_dumps`.
caf::expected<std::string> encode_job_data(const job_call& call, rq_serializer serializer,
                                           bool compress = true);

/// The default cap on a job's decompressed `data` (`job_data_max_mb`): far above the largest
/// legitimate job (a chunk of sealed records), far below what would hurt a worker.
constexpr size_t default_job_data_max = size_t{64} << 20;

/// Reads the hash field `data` as RQ does: zlib-decompressed, or used as-is when it is not zlib,
/// then deserialized; it must be a 4-item tuple or list (str, any, tuple or list, dict).
/// `bad_format`/`unsupported` from the layers below, with "job data" in the context;
/// `unsupported` when it inflates past `max_size` (checked while inflating), or when the value
/// would hold more than `max_size` / 64 values or `max_size` bytes of str/bytes (a pickle's
/// shared references and JSON's short values expand too).
caf::expected<job_call> decode_job_data(std::string_view data, rq_serializer serializer,
                                        size_t max_size = default_job_data_max);

/// The limits `decode_job_data` reads a value with, for data inflated to at most `max_size`.
pickle_limits job_data_limits(size_t max_size = default_job_data_max);

/// The results stream's `return_value` field for a job's return value; nullopt for None (RQ then
/// writes no such field).
caf::expected<std::optional<std::string>> encode_return_value(const py_value& value,
                                                              rq_serializer serializer);

/// Reads a `return_value` field (base64 of the serialized value).
caf::expected<py_value> decode_return_value(std::string_view field, rq_serializer serializer);

/// The results stream's `exc_string` field for a failure text (UTF-8).
std::string encode_exc_string(std::string_view text);

/// Reads an `exc_string` field back to text.
caf::expected<std::string> decode_exc_string(std::string_view field);

/// The legacy hash field `exc_info`: `zlib.compress(text)`.
std::string encode_exc_info(std::string_view text);

/// Reads `exc_info` as RQ does: decompressed, or the raw bytes when they are not zlib.
std::string decode_exc_info(std::string_view raw);

}  // namespace pqrt::transport
