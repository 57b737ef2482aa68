#pragma once

/// RQ's `rq.serializers.JSONSerializer`: `json.dumps(obj).encode('utf-8')` and
/// `json.loads(s.decode('utf-8'))`, with Python's default settings.

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "transport/py_value.hpp"

namespace pqrt::transport {

/// Python's `json.dumps(value)` byte for byte: `", "` and `": "` separators, ensure_ascii (`\uXXXX`
/// in lower-case hex, surrogate pairs above U+FFFF), floats as `repr()` (`NaN`, `Infinity`,
/// `-Infinity`), tuples as arrays, dict keys converted as Python does (int/float/bool/None keys
/// become strings). `unsupported` for bytes and for tuple or bytes keys (Python's TypeError);
/// `bad_format` for str that is not UTF-8.
caf::expected<std::string> json_dumps(const py_value& value);

/// Python's `json.loads(text)`: objects become dicts (a repeated key takes the last value), arrays
/// lists, numbers ints of any size (up to `max_int_digits`) or floats, and `NaN`, `Infinity`,
/// `-Infinity` are accepted. Unlike Python, numbers with more than 308 integer digits or a decimal
/// exponent above 308 (`1e400`) are refused as `unsupported` (RapidJSON's number scanner).
/// `bad_format` for invalid JSON or UTF-8 (lone surrogates included), `unsupported` for nesting
/// deeper than `max_depth` or more than `max_values` values in all.
caf::expected<py_value> json_loads(std::string_view text, size_t max_depth = 1000,
                                   size_t max_values = SIZE_MAX);

}  // namespace pqrt::transport
