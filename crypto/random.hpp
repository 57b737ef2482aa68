#pragma once

/// Cryptographically secure random bytes (OpenSSL's DRBG).

#include <cstddef>
#include <cstdint>

#include <caf/error.hpp>

namespace pqrt::crypto {

/// Fills `size` bytes at `out`; `errc::crypto_failure` if the generator fails.
caf::error random_bytes(uint8_t* out, size_t size);

}  // namespace pqrt::crypto
