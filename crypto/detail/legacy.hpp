#pragma once

/// The legacy CBC encryption with a caller-chosen IV, exposed for known-answer tests.

#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "crypto/secure_buffer.hpp"

namespace pqrt::crypto::detail {

/// Encrypts `record` as `legacy_encrypt_line` does, under the 16-byte `iv`.
caf::expected<std::string> legacy_encrypt_with_iv(const secure_buffer& key, const uint8_t* iv,
                                                  std::string_view record);

}  // namespace pqrt::crypto::detail
