#pragma once

/// The Python solution's data format, read so existing data sets migrate without re-encryption:
/// each line is base64 of a 16-byte random IV followed by the AES-256-CBC ciphertext of the record,
/// padded with NUL bytes to a multiple of 16 (no PKCS#7).

#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "crypto/secure_buffer.hpp"

namespace pqrt::crypto {

/// Decrypts one legacy line and strips the trailing NUL padding. `bad_format` if the line is not
/// base64 or not a whole number of blocks. CBC has no integrity: a wrong key shows only as garbage,
/// which callers catch when they parse the record.
caf::expected<std::string> legacy_decrypt_line(const secure_buffer& key, std::string_view line);

/// Encrypts one record the way the Python solution did (for tests and tooling that must produce
/// legacy input; pqrt never writes this format for its own data).
caf::expected<std::string> legacy_encrypt_line(const secure_buffer& key, std::string_view record);

}  // namespace pqrt::crypto
