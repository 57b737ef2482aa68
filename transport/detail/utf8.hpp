#pragma once

/// Small UTF-8 helpers shared by the repr and JSON writers.

#include <cstdint>
#include <string>
#include <string_view>

namespace pqrt::transport::detail {

/// Decodes the code point at `pos` and advances past it. Malformed input yields U+FFFD and advances
/// one byte, so callers never loop forever or read past the end.
uint32_t next_code_point(std::string_view text, size_t& pos);

/// Appends `code` (at most U+10FFFF) as UTF-8.
void append_utf8(std::string& out, uint32_t code);

/// Appends `code` as lower-case hex, zero-padded to `width` digits.
void append_hex(std::string& out, uint32_t code, int width);

}  // namespace pqrt::transport::detail
