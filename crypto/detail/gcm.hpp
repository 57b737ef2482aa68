#pragma once

/// The AES-256-GCM core shared by records and files, exposed for known-answer tests, plus the
/// key check and big-endian helpers both formats use. Internal to `crypto/`.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "crypto/secure_buffer.hpp"

namespace pqrt::crypto::detail {

constexpr size_t gcm_key_size = 32;
constexpr size_t gcm_nonce_size = 12;
constexpr size_t gcm_tag_size = 16;
constexpr size_t key_check_size = 4;

/// A read-only byte range (C++17 has no std::span).
struct bytes_view {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

/// One AES-256-GCM key in two reusable OpenSSL contexts (seal and open). The key schedule is
/// computed once; each message only sets its nonce, which keeps small records cheap.
class gcm_context {
public:
  gcm_context() = default;
  ~gcm_context();
  gcm_context(gcm_context&& other) noexcept;
  gcm_context& operator=(gcm_context&& other) noexcept;
  gcm_context(const gcm_context&) = delete;
  gcm_context& operator=(const gcm_context&) = delete;

  /// Sets the 32-byte key; false if OpenSSL fails.
  bool init(const uint8_t* key);

  /// Encrypts `size` bytes from `in` to `out` (same size, may alias) under `nonce` (12 bytes)
  /// with the associated data `aad` followed by `aad2`, and writes the 16-byte tag.
  bool seal(const uint8_t* nonce, bytes_view aad, bytes_view aad2, const uint8_t* in, size_t size,
            uint8_t* out, uint8_t* tag);

  /// Decrypts and verifies. On false, `out` holds unauthenticated bytes the caller must discard.
  bool open(const uint8_t* nonce, bytes_view aad, bytes_view aad2, const uint8_t* in, size_t size,
            uint8_t* out, const uint8_t* tag);

private:
  void release() noexcept;

  void* seal_ctx_ = nullptr;  ///< EVP_CIPHER_CTX*, kept out of this header
  void* open_ctx_ = nullptr;
};

/// One-shot seal through `gcm_context`: returns ciphertext followed by the tag.
caf::expected<std::vector<uint8_t>> gcm_seal(const std::vector<uint8_t>& key,
                                             const std::vector<uint8_t>& nonce,
                                             const std::vector<uint8_t>& aad,
                                             const std::vector<uint8_t>& plaintext);

/// The first 4 bytes of HMAC-SHA256(key, "pqrt key check v1"): names a key without revealing it.
void key_check(const uint8_t* key, size_t size, uint8_t* out);

/// True for 8 lower-case hex digits, the printed form of a key check.
bool is_key_check_hex(std::string_view text);

/// Lower-case hex of `size` bytes.
std::string to_hex(const uint8_t* data, size_t size);

inline void store_be32(uint8_t* out, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8)
    out[i] = static_cast<uint8_t>(v);
}

inline void store_be64(uint8_t* out, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[i] = static_cast<uint8_t>(v);
}

inline uint32_t load_be32(const uint8_t* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v = v << 8 | in[i];
  return v;
}

inline uint64_t load_be64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = v << 8 | in[i];
  return v;
}

}  // namespace pqrt::crypto::detail
