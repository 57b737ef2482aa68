#pragma once

/// Files (scripts, results, any blob): chunked AES-256-GCM in the STREAM construction, streamed
/// in constant memory.
///
/// Layout: header | chunk 0 | chunk 1 | ... | final chunk
///   header (24 bytes) = magic "PQRTFILE" (8) | version 0x01 (1) | key check (4) |
///                       chunk size (4, big endian) | nonce prefix (7, random)
///   chunk i = AES-256-GCM(plaintext_i) | tag (16); every chunk but the last holds exactly
///             `chunk size` plaintext bytes, the last holds at most that (possibly none). A writer
///             emits a non-final chunk only once more plaintext follows it.
///   nonce_i = nonce prefix (7) | i (4, big endian) | 0x01 for the final chunk, else 0x00
///   associated data = header | context
/// Chunks cannot be reordered (index in the nonce), dropped or truncated (the final flag) and the
/// file cannot be moved to another purpose (the context, e.g. a blob name) without detection.

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "crypto/secure_buffer.hpp"

namespace pqrt::crypto {

constexpr size_t file_header_size = 24;
constexpr uint32_t default_chunk_size = 64 * 1024;

/// Encrypts a stream piece by piece: `update` as data arrives, `finish` once.
class file_encryptor {
public:
  /// `key` must hold 32 bytes; `chunk_size` from 1 byte to 16 MiB.
  static caf::expected<file_encryptor> make(shared_secret key, std::string context = {},
                                            uint32_t chunk_size = default_chunk_size);
  ~file_encryptor();
  file_encryptor(file_encryptor&&) noexcept;
  file_encryptor& operator=(file_encryptor&&) noexcept;

  /// Appends the ciphertext for `size` more plaintext bytes to `out` (the header first time).
  caf::error update(const uint8_t* data, size_t size, std::string& out);
  /// Appends the final chunk to `out`. No update after it.
  caf::error finish(std::string& out);

private:
  struct impl;
  explicit file_encryptor(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Decrypts a stream piece by piece. Plaintext is released only after its chunk authenticated.
class file_decryptor {
public:
  static caf::expected<file_decryptor> make(shared_secret key, std::string context = {});
  ~file_decryptor();
  file_decryptor(file_decryptor&&) noexcept;
  file_decryptor& operator=(file_decryptor&&) noexcept;

  /// Appends the plaintext of every chunk completed by these bytes to `out`. Errors: `bad_format`
  /// (no header), `unsupported` (version), `auth_failed` (wrong key; or chunk N changed, reordered
  /// or from another file or context), data after the final chunk.
  caf::error update(const uint8_t* data, size_t size, std::string& out);
  /// Checks that the final chunk arrived; `truncated` names the last good chunk otherwise.
  caf::error finish(std::string& out);

private:
  struct impl;
  explicit file_decryptor(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Encrypts all of `in` into `out` with a fixed-size buffer.
caf::error encrypt_stream(shared_secret key, std::istream& in, std::ostream& out,
                          std::string context = {});
/// Decrypts all of `in` into `out`. On error, `out` may hold the plaintext of the chunks that
/// authenticated before it; callers writing files remove them.
caf::error decrypt_stream(shared_secret key, std::istream& in, std::ostream& out,
                          std::string context = {});

}  // namespace pqrt::crypto
