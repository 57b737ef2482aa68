#pragma once

/// Records: one AES-256-GCM envelope per data record, one base64 line each.
///
/// Sealed form (before base64):
///   version (1 byte, 0x01) | key check (4) | record index (8, big endian) | nonce (12) |
///   ciphertext | tag (16)
/// The associated data is the 25-byte header followed by the data set id, so a record opens only
/// under its key, at its index, in its data set. The key check (the first 4 bytes of
/// HMAC-SHA256(key, "pqrt key check v1")) and the index in the header let `open` tell a wrong key
/// and a swapped record apart from changed bytes; both are authenticated, so forging them fails
/// too.
///
/// An encrypted records file starts with one header line (see `records_header`), then one sealed
/// record per line; record index i is the i-th line after the header, counting from 0.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "crypto/secure_buffer.hpp"

namespace pqrt::crypto {

/// Version byte of the record envelope.
constexpr uint8_t record_version = 1;
/// Bytes a sealed record adds to its plaintext (before base64).
constexpr size_t record_overhead = 1 + 4 + 8 + 12 + 16;

/// The 4-byte key check of a 32-byte key, as 8 lower-case hex digits (safe to log).
std::string key_check_hex(const secure_buffer& key);

/// Seals and opens records under one data key. Holds reusable cipher contexts: one instance per
/// thread; cheap to create.
class record_cipher {
public:
  /// `key` must hold 32 bytes.
  explicit record_cipher(shared_secret key);
  ~record_cipher();
  record_cipher(record_cipher&&) noexcept;
  record_cipher& operator=(record_cipher&&) noexcept;
  record_cipher(const record_cipher&) = delete;
  record_cipher& operator=(const record_cipher&) = delete;

  /// Seals one record into its base64 line (no newline).
  caf::expected<std::string> seal(std::string_view dataset_id, uint64_t index,
                                  std::string_view plaintext);

  /// Opens one base64 line. Errors: `bad_format` (not base64, too short), `unsupported` (version),
  /// `auth_failed` ("wrong key" when the key check differs; changed bytes or another data set
  /// otherwise), `wrong_binding` (the record was sealed for another index: swapped or reordered).
  caf::expected<std::string> open(std::string_view dataset_id, uint64_t index,
                                  std::string_view line);

  /// The key check of this cipher's key (8 hex digits).
  const std::string& key_check() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The ciphers of one data key, for any number of threads at once: each call borrows a
/// `record_cipher` (made at the first need, kept for the next call), so concurrent calls never
/// share a context or a nonce pool. A run has one: the decryptor makes it with the unwrapped key,
/// the executors open records with it and result_encryptor seals their results with it.
class cipher_set {
public:
  /// `key` must hold 32 bytes (otherwise every call fails with `key_error`).
  explicit cipher_set(shared_secret key);
  cipher_set(const cipher_set&) = delete;
  cipher_set& operator=(const cipher_set&) = delete;

  /// As `record_cipher::seal`.
  caf::expected<std::string> seal(std::string_view dataset_id, uint64_t index,
                                  std::string_view plaintext);
  /// As `record_cipher::open`.
  caf::expected<std::string> open(std::string_view dataset_id, uint64_t index,
                                  std::string_view line);
  /// The key check of the key (8 hex digits).
  const std::string& key_check() const { return check_; }
  /// Ciphers made so far (at most one per thread that used the set at the same time).
  size_t made() const;

private:
  template <class F>
  auto borrowed(F&& f);

  shared_secret key_;
  std::string check_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<record_cipher>> free_;
  size_t made_ = 0;
};

/// The record index a sealed line claims (from its header, without the key). Only `open`
/// authenticates it: use this to find a line, never to trust one.
caf::expected<uint64_t> sealed_index(std::string_view line);

/// The header line of an encrypted records file: `#pqrt-records v1 dataset=<id> key=<check>`.
std::string records_header(std::string_view dataset_id, std::string_view key_check);

/// What a records header line says.
struct records_header_info {
  std::string dataset_id;
  std::string key_check;
};

/// Parses a header line; `bad_format` if `line` is not one.
caf::expected<records_header_info> parse_records_header(std::string_view line);

}  // namespace pqrt::crypto
