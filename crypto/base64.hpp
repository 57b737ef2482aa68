#pragma once

/// Standard base64 (RFC 4648, with padding), as the data file lines and key files use it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace pqrt::crypto {

/// Encodes `size` bytes.
std::string base64_encode(const uint8_t* data, size_t size);
inline std::string base64_encode(std::string_view bytes) {
  return base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

/// Decodes padded base64; surrounding white space (a trailing "\r") is ignored. Anything else that
/// is not base64 gives `errc::bad_format`.
caf::expected<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace pqrt::crypto
