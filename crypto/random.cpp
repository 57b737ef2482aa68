#include "crypto/random.hpp"

#include <algorithm>
#include <climits>
#include <random>
#include <vector>

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

std::string random_name(size_t digits) {
  static constexpr char hex[] = "0123456789abcdef";
  std::vector<uint8_t> bytes((digits + 1) / 2);
  if (random_bytes(bytes.data(), bytes.size())) {
    std::random_device rd;
    for (auto& b : bytes)
      b = static_cast<uint8_t>(rd());
  }
  std::string out;
  out.reserve(digits);
  for (size_t i = 0; i < digits; ++i) {
    auto b = bytes[i / 2];
    out += hex[i % 2 == 0 ? b >> 4 : b & 0xf];
  }
  return out;
}

}  // namespace pqrt::crypto
