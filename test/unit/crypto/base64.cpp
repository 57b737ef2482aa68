#include "crypto/base64.hpp"

#include <doctest/doctest.h>

#include <random>

#include "crypto/detail/base64.hpp"
#include "crypto/random.hpp"
#include "unit/crypto/util.hpp"

using namespace pqrt::crypto;
using pqrt::errc;

namespace {

std::string decoded(std::string_view text) {
  auto bytes = base64_decode(text);
  REQUIRE(bytes);
  return {bytes->begin(), bytes->end()};
}

// Fixed seed: a failure names a length and position that reproduce.
std::mt19937_64 rng{20181127};

std::vector<uint8_t> random_bytes_of(size_t size) {
  std::vector<uint8_t> out(size);
  for (auto& b : out)
    b = static_cast<uint8_t>(rng());
  return out;
}

std::string encoded_scalar(const std::vector<uint8_t>& bytes) {
  std::string out;
  detail::base64_encode_scalar(bytes.data(), bytes.size(), out);
  return out;
}

// Decodes with the dispatching (vector if available) and the scalar code and checks they agree
// on the verdict and the bytes. Returns the verdict.
bool decode_both(std::string_view text) {
  std::vector<uint8_t> fast, slow;
  bool fast_ok = detail::base64_decode_into(text, fast);
  bool slow_ok = detail::base64_decode_scalar(text, slow);
  REQUIRE(fast_ok == slow_ok);
  if (fast_ok) REQUIRE(fast == slow);
  return fast_ok;
}

// Encodes and decodes `bytes` both ways and checks that the vector path matches the scalar one.
void check_both_paths(const std::vector<uint8_t>& bytes) {
  CAPTURE(bytes.size());
  std::string fast;
  detail::base64_encode_into(bytes.data(), bytes.size(), fast);
  auto slow = encoded_scalar(bytes);
  REQUIRE(fast == slow);
  std::vector<uint8_t> back;
  REQUIRE(detail::base64_decode_into(fast, back));
  REQUIRE(back == bytes);
  REQUIRE(decode_both(fast));
}

void note_path() {
  if (!detail::simd_available())
    MESSAGE("this CPU has no AVX2: only the scalar base64 path is tested");
}

// Not in the alphabet; blanks are rejected too, as they only count at either end.
constexpr char bad_chars[] = {'!', '=', ' ', '\0',   '\n',   '-',    '_',    '@', '[', '`',
                              '{', ':', '.', '\x7f', '\x80', '\xc0', '\xff', '*', ','};

// Puts `c` at `pos` of a valid `text`; everything but '=' in the last two places must fail.
void check_rejected(std::string text, size_t pos, char c) {
  CAPTURE(text.size());
  CAPTURE(pos);
  CAPTURE(static_cast<int>(static_cast<uint8_t>(c)));
  text[pos] = c;
  bool accepted = decode_both(text);
  if (c != '=' || pos + 2 < text.size()) REQUIRE_FALSE(accepted);
}

}  // namespace

TEST_SUITE("crypto.base64") {
  TEST_CASE("RFC 4648 test vectors") {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : vectors) {
      CAPTURE(plain);
      CHECK(base64_encode(plain) == encoded);
      CHECK(decoded(encoded) == plain);
    }
  }

  TEST_CASE("every byte value and length round-trips") {
    std::string all;
    for (int i = 0; i < 256; ++i)
      all.push_back(static_cast<char>(i));
    CHECK(decoded(base64_encode(all)) == all);
    for (size_t size = 0; size < 100; ++size) {
      auto text = pqrt::crypto::test::random_text(size);
      CHECK(decoded(base64_encode(text)) == text);
    }
  }

  TEST_CASE("surrounding white space is ignored") {
    CHECK(decoded("Zm9v\r\n") == "foo");
    CHECK(decoded("  Zm9vYg==\t") == "foob");
    CHECK(decoded(" \r\n").empty());
  }

  TEST_CASE("anything else is bad_format") {
    const char* bad[] = {
        "Zm9",       // not a whole quantum
        "Zm9v!A==",  // not in the alphabet
        "Zm 9v",     // inner space
        "Zg==Zg==",  // padding in the middle
        "Z===",      // too much padding
        "=Zg=",      // padding first
        "AB=C",      // padding before data
        "Zh==",      // non-zero bits after the last byte: not canonical
        "Zm9=",      // the same with one pad character
        "Zm9v-_==",  // the URL alphabet
    };
    for (auto text : bad) {
      CAPTURE(text);
      PQRT_CHECK_ERROR(base64_decode(text), errc::bad_format);
    }
  }

  TEST_CASE("the error says what was expected without echoing the input") {
    auto bytes = base64_decode("secret!");
    REQUIRE_FALSE(bytes);
    auto text = pqrt::context_of(bytes.error());
    CHECK(text.find("base64") != std::string::npos);
    CHECK(text.find("secret") == std::string::npos);
  }

  TEST_CASE("the vector path matches the scalar path at every length up to 300") {
    note_path();
    for (size_t size = 0; size <= 300; ++size)
      for (int round = 0; round < 16; ++round)
        check_both_paths(random_bytes_of(size));
  }

  TEST_CASE("the vector path matches the scalar path on large inputs") {
    note_path();
    for (size_t size : {size_t{1024 + 41}, size_t{4096}, size_t{65536 + 41}, size_t{1} << 20,
                        (size_t{1} << 20) + 1, (size_t{1} << 20) + 2})
      check_both_paths(random_bytes_of(size));
    std::vector<uint8_t> all(3 * 256 * 8);  // every sextet value in every block position
    for (size_t i = 0; i < all.size(); ++i)
      all[i] = static_cast<uint8_t>(i * 7 + i / 256);
    check_both_paths(all);
  }

  TEST_CASE("an invalid character is rejected at every position") {
    note_path();
    for (size_t size = 1; size <= 300; ++size) {
      auto text = encoded_scalar(random_bytes_of(size));
      for (size_t pos = 0; pos < text.size(); ++pos)
        check_rejected(text, pos, bad_chars[(pos + size) % sizeof(bad_chars)]);
    }
    auto text = encoded_scalar(random_bytes_of(200));  // 268 characters: blocks and a tail
    for (size_t pos = 0; pos < text.size(); ++pos)
      for (char c : bad_chars)
        check_rejected(text, pos, c);
  }

  TEST_CASE("both paths agree on every byte value inside a block and in the tail") {
    note_path();
    std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    auto text = encoded_scalar(random_bytes_of(150));  // 200 characters, no padding
    for (size_t pos : {size_t{0}, size_t{5}, size_t{31}, size_t{32}, size_t{100}, size_t{190}}) {
      for (int c = 0; c < 256; ++c) {
        CAPTURE(pos);
        CAPTURE(c);
        auto mutated = text;
        mutated[pos] = static_cast<char>(c);
        // No padding, so no tail bits: every alphabet character is canonical anywhere.
        bool valid = alphabet.find(static_cast<char>(c)) != std::string_view::npos;
        CHECK(decode_both(mutated) == valid);
      }
    }
  }

  TEST_CASE("a large input with one bad character deep inside is rejected") {
    auto text = encoded_scalar(random_bytes_of(65536 + 41));
    for (size_t pos : {size_t{0}, size_t{1000}, text.size() / 2, text.size() - 45, text.size() - 3})
      for (char c : {'=', '*', '\xff'})
        check_rejected(text, pos, c);
  }
}
