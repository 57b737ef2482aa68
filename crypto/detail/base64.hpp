#pragma once

/// Allocation-free base64 for the record hot path: encode and decode into buffers the caller
/// reuses. The public `base64_encode` / `base64_decode` are thin wrappers over these.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pqrt::crypto::detail {

/// Replaces the contents of `out` with the padded base64 of `size` bytes at `data`.
void base64_encode_into(const uint8_t* data, size_t size, std::string& out);

/// Replaces the contents of `out` with the bytes of `text` (surrounding white space ignored).
/// Returns false, with `out` unspecified, if `text` is not canonical padded base64.
bool base64_decode_into(std::string_view text, std::vector<uint8_t>& out);

}  // namespace pqrt::crypto::detail
