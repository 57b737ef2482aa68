#pragma once

/// Conversions between Python ints and the little-endian two's-complement bytes of pickle's LONG1
/// and LONG4 opcodes.

#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "transport/py_value.hpp"

namespace pqrt::transport::detail {

/// The shortest two's-complement little-endian bytes of an int, as CPython writes them after
/// LONG1 (empty for 0). `integer` must hold an int64 or a `py_bigint`.
std::string int_to_le_bytes(const py_value& integer);

/// Reads two's-complement little-endian bytes back; `unsupported` beyond `max_int_digits`.
caf::expected<py_value> int_from_le_bytes(std::string_view bytes);

}  // namespace pqrt::transport::detail
