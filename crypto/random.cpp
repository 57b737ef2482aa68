#include "crypto/random.hpp"

#include <algorithm>
#include <climits>

#include <openssl/rand.h>

#include "runtime/base/error.hpp"

namespace pqrt::crypto {

caf::error random_bytes(uint8_t* out, size_t size) {
  // RAND_bytes takes an int length.
  while (size > 0) {
    auto piece = std::min<size_t>(size, INT_MAX);
    if (RAND_bytes(out, static_cast<int>(piece)) != 1)
      return make_error(errc::crypto_failure, "random generator failed (OpenSSL RAND_bytes)");
    out += piece;
    size -= piece;
  }
  return caf::none;
}

}  // namespace pqrt::crypto
