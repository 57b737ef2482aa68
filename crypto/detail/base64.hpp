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

/// The same with the portable code only: the reference the vector kernels are tested against.
void base64_encode_scalar(const uint8_t* data, size_t size, std::string& out);
bool base64_decode_scalar(std::string_view text, std::vector<uint8_t>& out);

/// True if this CPU runs the AVX2 kernels, which `base64_*_into` then use.
bool simd_available();

/// AVX2 kernels (call only if `simd_available()`): they convert whole 24-byte / 32-character
/// blocks from the front and return how much input they consumed; the caller does the rest.
/// Encode stays within `size` bytes (its loads reach 4 bytes past a block, so it stops 28 short);
/// `out` needs size / 3 * 4 chars.
size_t base64_encode_avx2(const uint8_t* data, size_t size, char* out);
/// `text` must be whole unpadded quanta and `out` hold size / 4 * 3 bytes. Stops before the
/// first block holding a character outside the alphabet, leaving it for the scalar code to reject.
size_t base64_decode_avx2(const char* text, size_t size, uint8_t* out);

}  // namespace pqrt::crypto::detail
