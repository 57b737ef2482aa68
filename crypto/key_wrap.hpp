#pragma once

/// Data keys and RSA key wrapping.
///
/// A data key is 32 random bytes (AES-256). It is wrapped with RSA-OAEP-256 (OAEP, SHA-256, MGF1
/// SHA-256) or RSA-OAEP (OAEP, SHA-1, MGF1 SHA-1; Key Vault's `RSA-OAEP`, the Python solution's
/// choice) by an RSA public key and unwrapped by its private key.
///
/// The wrapped-key file is one JSON object:
///   {"format": "pqrt-wrapped-key", "version": 1, "alg": "RSA-OAEP-256",
///    "kid": "local:sha256:<hex of the public key's DER>", "key_check": "<8 hex>",
///    "wrapped_key": "<base64>"}
/// `kid` names the wrapping key (a Key Vault key URL when Key Vault wrapped it). A file that is
/// not such JSON is read as the Python solution's raw RSA-OAEP (SHA-1) ciphertext.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "crypto/secure_buffer.hpp"

namespace pqrt::crypto {

/// Length of a data key in bytes.
constexpr size_t data_key_size = 32;

/// Wrapping algorithms, by their Key Vault names.
enum class wrap_alg { rsa_oaep_256, rsa_oaep };

/// "RSA-OAEP-256" or "RSA-OAEP".
const char* to_string(wrap_alg alg);
/// Parses a Key Vault algorithm name; `unsupported` for any other.
caf::expected<wrap_alg> parse_wrap_alg(std::string_view name);

/// A fresh random data key.
caf::expected<secure_buffer> generate_data_key();

/// An RSA key pair in memory (opaque, wraps an EVP_PKEY).
class rsa_key {
public:
  rsa_key();
  ~rsa_key();
  rsa_key(rsa_key&&) noexcept;
  rsa_key& operator=(rsa_key&&) noexcept;

  /// Generates a key of `bits` (2048 to 16384).
  static caf::expected<rsa_key> generate(int bits);
  /// Reads a PEM file: a private key (PKCS#8 or PKCS#1) or a public key (SPKI or PKCS#1).
  static caf::expected<rsa_key> load_pem_file(const std::string& path);
  /// Parses PEM text, as `load_pem_file`.
  static caf::expected<rsa_key> from_pem(std::string_view pem);
  /// A public key from its modulus and exponent (big-endian bytes, as a JWK carries them).
  static caf::expected<rsa_key> from_modulus_exponent(const std::vector<uint8_t>& n,
                                                      const std::vector<uint8_t>& e);

  bool has_private() const;
  int bits() const;
  /// "local:sha256:<hex>" of the DER public key: names the key without revealing anything.
  std::string key_id() const;

  /// Writes the private key as PKCS#8 PEM, created with mode 0600 (fails if it exists).
  caf::error write_private_pem(const std::string& path) const;
  /// Writes the public key as SPKI PEM (fails if it exists).
  caf::error write_public_pem(const std::string& path) const;

  /// Encrypts `key` for this public key.
  caf::expected<std::vector<uint8_t>> wrap(const secure_buffer& key, wrap_alg alg) const;
  /// Decrypts a wrapped key with the private key; `key_error` on a wrong key or a changed blob.
  caf::expected<secure_buffer> unwrap(const std::vector<uint8_t>& wrapped, wrap_alg alg) const;

  /// For the Azure module: the underlying EVP_PKEY*.
  void* native_handle() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The contents of a wrapped-key file.
struct wrapped_key {
  wrap_alg alg = wrap_alg::rsa_oaep_256;
  std::string kid;        ///< the wrapping key's id
  std::string key_check;  ///< key check of the data key (8 hex), empty for legacy files
  std::vector<uint8_t> wrapped;
  bool legacy = false;  ///< true when read from a raw (Python solution) file
};

/// Serializes to the JSON form above (with a trailing newline).
std::string to_json(const wrapped_key& key);
/// Parses the JSON form, or a raw legacy blob (RSA-OAEP, no kid).
caf::expected<wrapped_key> parse_wrapped_key(std::string_view bytes);
/// Reads and parses a wrapped-key file.
caf::expected<wrapped_key> read_wrapped_key_file(const std::string& path);
/// Writes a wrapped-key file; fails if it exists.
caf::error write_wrapped_key_file(const std::string& path, const wrapped_key& key);

/// Where data keys are unwrapped: a local RSA private key, or Key Vault (azure/key_vault.hpp).
class key_source {
public:
  virtual ~key_source() = default;
  /// Unwraps a data key; checks its key check when the file has one.
  virtual caf::expected<secure_buffer> unwrap(const wrapped_key& key) = 0;
  /// Names the source for logs ("local key /path/key.pem").
  virtual std::string describe() const = 0;
};

/// Checks an unwrapped data key: 32 bytes, and the file's key check when it has one
/// (`key_error` naming `source` otherwise).
caf::error check_unwrapped_key(const secure_buffer& key, const wrapped_key& wrapped,
                               const std::string& source);

/// Unwraps with a local RSA private key file.
std::unique_ptr<key_source> make_local_key_source(rsa_key private_key, std::string path);

}  // namespace pqrt::crypto
