#pragma once

/// zlib as RQ uses it: Python's `zlib.compress(data)` (zlib container, default level) and
/// `zlib.decompress(data)`.

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace pqrt::transport {

/// `zlib.compress(data)`: level 6 (Z_DEFAULT_COMPRESSION), 32 KiB window, memLevel 8; the same
/// bytes as Python when both use the same zlib.
std::string zlib_compress(std::string_view data);

/// `zlib.decompress(data)`: one complete zlib stream (bytes after its end are ignored, as in
/// Python). `bad_format` for anything else or a truncated stream; `unsupported` when the output
/// would exceed `max_size` (a decompression bomb), checked while inflating: the output never
/// holds more than `max_size` bytes of memory.
caf::expected<std::string> zlib_decompress(std::string_view data,
                                           size_t max_size = size_t{1} << 30);

}  // namespace pqrt::transport
