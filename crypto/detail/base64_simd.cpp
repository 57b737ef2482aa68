// AVX2 base64 kernels after Muła & Lemire, "Faster Base64 Encoding and Decoding using AVX2
// Instructions" (2018): 24 bytes <-> 32 characters per step. They only handle whole blocks well
// inside the buffers; base64.cpp runs the scalar code on what they leave. Compiled for any x86-64:
// only these functions are built for AVX2, and base64.cpp calls them after a CPU check.

#include "crypto/detail/base64.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#define PQRT_AVX2 __attribute__((target("avx2")))
#endif

namespace pqrt::crypto::detail {

#if defined(__x86_64__)

namespace {

// 24 input bytes, the first 12 at bytes 4..15 of lane 0 and the rest at bytes 0..11 of lane 1 (as
// one load from 4 bytes before them leaves them), to 32 six-bit values in output order.
PQRT_AVX2 __m256i split_sextets(__m256i in) {
  // Per 3-byte group b0 b1 b2 make the 32-bit word [b1 b0 b2 b1]: each 16-bit half then holds
  // two whole sextets that one multiply can move into place.
  const auto spread = _mm256_setr_epi8(5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14,  //
                                       1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  auto words = _mm256_shuffle_epi8(in, spread);
  // Sextets 0 and 2 sit at the top of their 16-bit halves: a high multiply shifts them down.
  auto ac = _mm256_mulhi_epu16(_mm256_and_si256(words, _mm256_set1_epi32(0x0fc0fc00)),
                               _mm256_set1_epi32(0x04000040));
  // Sextets 1 and 3 sit low: a low multiply shifts them up into the odd bytes.
  auto bd = _mm256_mullo_epi16(_mm256_and_si256(words, _mm256_set1_epi32(0x003f03f0)),
                               _mm256_set1_epi32(0x01000010));
  return _mm256_or_si256(ac, bd);
}

// Six-bit values to alphabet characters: the alphabet is five runs, each a constant offset away
// from its values; one table lookup picks the offset instead of a chain of compares.
PQRT_AVX2 __m256i to_ascii(__m256i values) {
  // 0..51 -> 0, 52..61 -> 1..10, 62 -> 11, 63 -> 12; then 0..25 are told apart as 13.
  auto run = _mm256_subs_epu8(values, _mm256_set1_epi8(51));
  auto upper = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), values);
  run = _mm256_or_si256(run, _mm256_and_si256(upper, _mm256_set1_epi8(13)));
  const auto offsets =
      _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0, 71, -4, -4,
                       -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
  return _mm256_add_epi8(values, _mm256_shuffle_epi8(offsets, run));
}

// Non-zero in the bytes of characters outside the alphabet. A character is rejected when the
// table of its low nibble and the table of its high nibble share a bit; each bit stands for one
// high-nibble class and is set, in the low table, for the low nibbles that class does not allow.
PQRT_AVX2 __m256i invalid_chars(__m256i chars, __m256i high) {
  // bit 0: high nibble 0, 1 or 8..f, nothing allowed; bit 1: 0x2_, only 'B' and 'F' ('+', '/');
  // bit 2: 0x3_, only 0..9; bit 3: 0x4_ and 0x6_, not 0; bit 4: 0x5_ and 0x7_, only 0..a.
  const auto by_low = _mm256_setr_epi8(0x0b, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
                                       0x07, 0x15, 0x17, 0x17, 0x17, 0x15,  //
                                       0x0b, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
                                       0x07, 0x15, 0x17, 0x17, 0x17, 0x15);
  const auto by_high = _mm256_setr_epi8(1, 1, 2, 4, 8, 16, 8, 16, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                        1, 1, 2, 4, 8, 16, 8, 16, 1, 1, 1, 1, 1, 1, 1, 1);
  auto low = _mm256_and_si256(chars, _mm256_set1_epi8(0x0f));
  return _mm256_and_si256(_mm256_shuffle_epi8(by_low, low), _mm256_shuffle_epi8(by_high, high));
}

// Valid characters to their six-bit values: one offset per high nibble, except that '/' shares
// 0x2_ with '+' and is moved to the unused slot 1.
PQRT_AVX2 __m256i to_values(__m256i chars, __m256i high) {
  const auto offsets =
      _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,  //
                       0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  auto slash = _mm256_cmpeq_epi8(chars, _mm256_set1_epi8('/'));
  return _mm256_add_epi8(chars, _mm256_shuffle_epi8(offsets, _mm256_add_epi8(high, slash)));
}

// 32 six-bit values to 24 bytes in the low 24 bytes of the result.
PQRT_AVX2 __m256i pack_sextets(__m256i values) {
  auto pairs = _mm256_maddubs_epi16(values, _mm256_set1_epi32(0x01400140));  // a << 6 | b
  auto words = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00011000));      // 24 bits per word
  const auto big_endian = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
                                           2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  auto bytes = _mm256_shuffle_epi8(words, big_endian);
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7));
}

}  // namespace

bool simd_available() {
  static const bool available = [] {
    __builtin_cpu_init();  // may run before the CPU model is set up by the runtime
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return available;
}

PQRT_AVX2 size_t base64_encode_avx2(const uint8_t* data, size_t size, char* out) {
  if (size < 28) return 0;
  // First block: two lane loads, as there is nothing before `data` to read.
  auto lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data));
  auto hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 12));
  auto first = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
  // Move lane 0 up by 4 bytes to match the single load used below.
  first = _mm256_blend_epi32(_mm256_slli_si256(first, 4), first, 0xf0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), to_ascii(split_sextets(first)));
  size_t done = 24;
  out += 32;
  // Then one load from 4 bytes before the block: lane 0 holds its first 12 bytes at 4..15 and
  // lane 1 its last 12 at 0..11.
  for (; size - done >= 28; done += 24, out += 32) {
    auto in = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + done - 4));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), to_ascii(split_sextets(in)));
  }
  return done;
}

// Decodes the 32 characters at `text` into 24 bytes at `out` (storing 32); returns the mask of
// invalid characters.
PQRT_AVX2 __m256i decode_block(const char* text, uint8_t* out) {
  auto chars = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text));
  auto high = _mm256_and_si256(_mm256_srli_epi32(chars, 4), _mm256_set1_epi8(0x0f));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), pack_sextets(to_values(chars, high)));
  return invalid_chars(chars, high);
}

PQRT_AVX2 size_t base64_decode_avx2(const char* text, size_t size, uint8_t* out) {
  size_t done = 0;
  // A store writes 32 bytes for 24: leave 12 characters (9 bytes) after each block. Unrolling
  // to test several blocks at once measured no faster. The bytes of a bad block are garbage that
  // the scalar code overwrites or the caller discards.
  for (; size - done >= 32 + 12; done += 32, out += 24) {
    auto bad = decode_block(text + done, out);
    if (!_mm256_testz_si256(bad, bad)) break;  // the scalar code finds and rejects the character
  }
  return done;
}

#else

bool simd_available() {
  return false;
}

size_t base64_encode_avx2(const uint8_t*, size_t, char*) {
  return 0;
}

size_t base64_decode_avx2(const char*, size_t, uint8_t*) {
  return 0;
}

#endif

}  // namespace pqrt::crypto::detail
