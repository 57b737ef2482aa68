#include "crypto/base64.hpp"

#include <array>
#include <cstring>

#include "crypto/detail/base64.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::crypto {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t invalid = 0xff;

constexpr std::array<uint8_t, 256> make_decode_table() {
  std::array<uint8_t, 256> table{};
  for (auto& entry : table)
    entry = invalid;
  for (uint8_t i = 0; i < 64; ++i)
    table[static_cast<uint8_t>(alphabet[i])] = i;
  return table;
}

constexpr auto decode_table = make_decode_table();

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

size_t padding_of(std::string_view text) {
  if (text.back() != '=') return 0;
  return text[text.size() - 2] == '=' ? 2 : 1;
}

// Two output characters per 12 bits: halves the table lookups of the encoder.
constexpr size_t pair_count = 4096;

std::array<char, 2 * pair_count> make_pair_table() {
  std::array<char, 2 * pair_count> table{};
  for (size_t i = 0; i < pair_count; ++i) {
    table[2 * i] = alphabet[i >> 6];
    table[2 * i + 1] = alphabet[i & 63];
  }
  return table;
}

const auto pair_table = make_pair_table();

// Decodes one full quantum; the invalid marker has the high bit set, so one test covers all four.
bool decode_full(const char* in, uint8_t* out) {
  uint32_t a = decode_table[static_cast<uint8_t>(in[0])];
  uint32_t b = decode_table[static_cast<uint8_t>(in[1])];
  uint32_t c = decode_table[static_cast<uint8_t>(in[2])];
  uint32_t d = decode_table[static_cast<uint8_t>(in[3])];
  if (((a | b | c | d) & 0x80) != 0) return false;
  uint32_t bits = a << 18 | b << 12 | c << 6 | d;
  out[0] = static_cast<uint8_t>(bits >> 16);
  out[1] = static_cast<uint8_t>(bits >> 8);
  out[2] = static_cast<uint8_t>(bits);
  return true;
}

// Decodes the last, padded quantum into `count` (1 or 2) bytes. Rejects non-zero bits in the
// unused tail so that every byte string has exactly one accepted encoding.
bool decode_last(const char* in, size_t count, uint8_t* out) {
  uint32_t bits = 0;
  for (size_t i = 0; i < count + 1; ++i) {
    auto v = decode_table[static_cast<uint8_t>(in[i])];
    if (v == invalid) return false;
    bits |= uint32_t{v} << (18 - 6 * i);
  }
  if ((bits & (0xffffffU >> (8 * count))) != 0) return false;
  for (size_t i = 0; i < count; ++i)
    out[i] = static_cast<uint8_t>(bits >> (16 - 8 * i));
  return true;
}

// Encodes whole groups of three bytes, then the padded tail. `simd` lets the AVX2 kernel take the
// bulk first.
void encode(const uint8_t* data, size_t size, std::string& out, bool simd) {
  out.resize((size + 2) / 3 * 4);
  auto* dst = out.data();
  size_t i = simd ? detail::base64_encode_avx2(data, size, dst) : 0;
  dst += i / 3 * 4;
  for (; i + 3 <= size; i += 3, dst += 4) {
    uint32_t bits = uint32_t{data[i]} << 16 | uint32_t{data[i + 1]} << 8 | data[i + 2];
    std::memcpy(dst, &pair_table[size_t{2} * (bits >> 12)], 2);
    std::memcpy(dst + 2, &pair_table[size_t{2} * (bits & 4095)], 2);
  }
  if (i == size) return;
  uint32_t bits = uint32_t{data[i]} << 16;
  if (i + 1 < size) bits |= uint32_t{data[i + 1]} << 8;
  dst[0] = alphabet[bits >> 18];
  dst[1] = alphabet[(bits >> 12) & 63];
  dst[2] = i + 1 < size ? alphabet[(bits >> 6) & 63] : '=';
  dst[3] = '=';
}

// The unpadded quanta go to the AVX2 kernel first if `simd`; the scalar loop finishes them (and
// rejects the character that stopped the kernel, if any), then the padded last quantum.
bool decode(std::string_view text, std::vector<uint8_t>& out, bool simd) {
  text = trim(text);
  out.clear();
  if (text.empty()) return true;
  if (text.size() % 4 != 0) return false;
  auto pad = padding_of(text);
  out.resize(text.size() / 4 * 3 - pad);
  auto* dst = out.data();
  const auto* src = text.data();
  auto full = text.size() / 4 - (pad > 0 ? 1 : 0);
  auto done = simd ? detail::base64_decode_avx2(src, 4 * full, dst) / 4 : 0;
  src += 4 * done;
  dst += 3 * done;
  for (size_t q = done; q < full; ++q, src += 4, dst += 3)
    if (!decode_full(src, dst)) return false;
  return pad == 0 || decode_last(src, 3 - pad, dst);
}

bool use_simd() {
  static const bool yes = detail::simd_available();
  return yes;
}

}  // namespace

namespace detail {

void base64_encode_into(const uint8_t* data, size_t size, std::string& out) {
  encode(data, size, out, use_simd());
}

bool base64_decode_into(std::string_view text, std::vector<uint8_t>& out) {
  return decode(text, out, use_simd());
}

void base64_encode_scalar(const uint8_t* data, size_t size, std::string& out) {
  encode(data, size, out, false);
}

bool base64_decode_scalar(std::string_view text, std::vector<uint8_t>& out) {
  return decode(text, out, false);
}

}  // namespace detail

std::string base64_encode(const uint8_t* data, size_t size) {
  std::string out;
  detail::base64_encode_into(data, size, out);
  return out;
}

caf::expected<std::vector<uint8_t>> base64_decode(std::string_view text) {
  std::vector<uint8_t> out;
  if (!detail::base64_decode_into(text, out))
    return make_error(errc::bad_format, "not base64: " + std::to_string(trim(text).size()) +
                                            " characters, expected padded RFC 4648 base64");
  return out;
}

}  // namespace pqrt::crypto
