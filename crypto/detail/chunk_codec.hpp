#pragma once

/// The layout of an encrypted file (see file_cipher.hpp) and the chunk sealing both directions
/// share. Internal to `crypto/`.

#include <cstdint>
#include <cstring>
#include <string>

#include "crypto/detail/gcm.hpp"
#include "crypto/file_cipher.hpp"

namespace pqrt::crypto::detail {

constexpr char file_magic[] = "PQRTFILE";
constexpr size_t file_magic_size = 8;
constexpr uint8_t file_version = 1;
constexpr size_t file_check_offset = file_magic_size + 1;
constexpr size_t file_chunk_size_offset = file_check_offset + key_check_size;
constexpr size_t file_prefix_offset = file_chunk_size_offset + 4;
constexpr size_t file_prefix_size = 7;
constexpr uint32_t max_chunk_size = 16 * 1024 * 1024;
constexpr uint64_t max_chunks = uint64_t{1} << 32;  ///< the index in the nonce has 4 bytes

static_assert(file_prefix_offset + file_prefix_size == file_header_size);

/// What encryptor and decryptor share: the key, the header (the associated data with the
/// context) and the index of the next chunk.
struct chunk_codec {
  gcm_context gcm;
  uint8_t header[file_header_size] = {};
  std::string context;
  uint32_t chunk_size = 0;
  uint64_t index = 0;

  /// nonce = prefix (7) | index (4, big endian) | final flag (1).
  void nonce(bool final, uint8_t* out) const {
    std::memcpy(out, header + file_prefix_offset, file_prefix_size);
    store_be32(out + file_prefix_size, static_cast<uint32_t>(index));
    out[file_prefix_size + 4] = final ? 1 : 0;
  }

  bytes_view context_view() const {
    return {reinterpret_cast<const uint8_t*>(context.data()), context.size()};
  }

  /// Appends chunk `index` of `size` plaintext bytes, tag included, to `out`.
  bool seal(const uint8_t* data, size_t size, bool final, std::string& out) {
    uint8_t iv[gcm_nonce_size];
    nonce(final, iv);
    auto old = out.size();
    out.resize(old + size + gcm_tag_size);
    auto* dst = reinterpret_cast<uint8_t*>(out.data()) + old;
    return gcm.seal(iv, {header, file_header_size}, context_view(), data, size, dst, dst + size);
  }

  /// Appends the plaintext of chunk `index` (`size` bytes, tag included) to `out` if it
  /// authenticates as that chunk; leaves `out` as it was otherwise.
  bool open(const uint8_t* data, size_t size, bool final, std::string& out) {
    uint8_t iv[gcm_nonce_size];
    nonce(final, iv);
    auto old = out.size();
    auto plain = size - gcm_tag_size;
    out.resize(old + plain);
    auto* dst = reinterpret_cast<uint8_t*>(out.data()) + old;
    if (gcm.open(iv, {header, file_header_size}, context_view(), data, plain, dst, data + plain))
      return true;
    cleanse(dst, plain);
    out.resize(old);
    return false;
  }
};

}  // namespace pqrt::crypto::detail
