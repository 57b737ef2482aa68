#include "transport/detail/py_int.hpp"

#include <cstdint>
#include <vector>

#include "runtime/base/error.hpp"

namespace pqrt::transport::detail {

namespace {

using bytes_le = std::vector<uint8_t>;

/// The magnitude of a decimal digit string, little-endian, without high zero bytes.
bytes_le magnitude_of(std::string_view digits) {
  bytes_le mag;
  for (char digit : digits) {
    unsigned carry = static_cast<unsigned>(digit - '0');
    for (auto& byte : mag) {
      carry += byte * 10u;
      byte = static_cast<uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    if (carry != 0) mag.push_back(static_cast<uint8_t>(carry));
  }
  return mag;
}

bytes_le magnitude_of(uint64_t value) {
  bytes_le mag;
  for (; value != 0; value >>= 8)
    mag.push_back(static_cast<uint8_t>(value & 0xff));
  return mag;
}

/// Negates `bytes` in place in two's complement over its width.
void negate(bytes_le& bytes) {
  unsigned carry = 1;
  for (auto& byte : bytes) {
    carry += static_cast<uint8_t>(~byte);
    byte = static_cast<uint8_t>(carry & 0xff);
    carry >>= 8;
  }
}

/// Decimal text of a little-endian magnitude (destroyed on the way).
std::string decimal_of(bytes_le mag) {
  std::string digits;
  while (!mag.empty()) {
    uint64_t rest = 0;
    for (size_t i = mag.size(); i-- > 0;) {
      rest = (rest << 8) | mag[i];
      mag[i] = static_cast<uint8_t>(rest / 1000000000u);
      rest %= 1000000000u;
    }
    while (!mag.empty() && mag.back() == 0)
      mag.pop_back();
    for (int k = 0; k < 9 && (rest != 0 || !mag.empty()); ++k, rest /= 10)
      digits.push_back(static_cast<char>('0' + rest % 10));
  }
  if (digits.empty()) digits = "0";
  return {digits.rbegin(), digits.rend()};
}

}  // namespace

std::string int_to_le_bytes(const py_value& integer) {
  bool negative = false;
  bytes_le mag;
  if (const auto* big = integer.get_if<py_bigint>()) {
    negative = big->decimal[0] == '-';
    mag = magnitude_of(std::string_view{big->decimal}.substr(negative ? 1 : 0));
  } else if (const auto* small = integer.get_if<int64_t>()) {
    negative = *small < 0;
    mag =
        magnitude_of(negative ? 0 - static_cast<uint64_t>(*small) : static_cast<uint64_t>(*small));
  }
  if (mag.empty()) return {};
  if (negative) {
    negate(mag);
    if ((mag.back() & 0x80) == 0) mag.push_back(0xff);
  } else if ((mag.back() & 0x80) != 0) {
    mag.push_back(0x00);
  }
  return {mag.begin(), mag.end()};
}

caf::expected<py_value> int_from_le_bytes(std::string_view bytes) {
  if (bytes.empty()) return py_value{0};
  bool negative = (static_cast<uint8_t>(bytes.back()) & 0x80) != 0;
  if (bytes.size() <= 8) {
    uint64_t value = negative ? ~uint64_t{0} : 0;
    for (size_t i = bytes.size(); i-- > 0;)
      value = (value << 8) | static_cast<uint8_t>(bytes[i]);
    return py_value{static_cast<int64_t>(value)};
  }
  if (bytes.size() > max_int_digits / 2)  // 8 bits are at least 2.4 digits
    return make_error(errc::unsupported, "an int of " + std::to_string(bytes.size()) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(max_int_digits) + " digits");
  bytes_le mag(bytes.begin(), bytes.end());
  if (negative) negate(mag);
  while (!mag.empty() && mag.back() == 0)
    mag.pop_back();
  return py_value::integer((negative ? "-" : "") + decimal_of(std::move(mag)));
}

}  // namespace pqrt::transport::detail
