#pragma once

/// Cryptographically secure random bytes (OpenSSL's DRBG).

#include <cstddef>
#include <cstdint>
#include <string>

#include <caf/error.hpp>

namespace pqrt::crypto {

/// Fills `size` bytes at `out`; `errc::crypto_failure` if the generator fails.
caf::error random_bytes(uint8_t* out, size_t size);

/// `digits` random lower-case hex digits, for names that must not collide (run ids, worker and
/// blob names, temporary files). Not a secret; falls back to std::random_device if the DRBG fails.
std::string random_name(size_t digits);

}  // namespace pqrt::crypto
