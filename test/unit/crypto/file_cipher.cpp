#include "crypto/file_cipher.hpp"

#include <sstream>

#include <doctest/doctest.h>

#include "crypto/record_cipher.hpp"
#include "unit/crypto/util.hpp"

using namespace pqrt::crypto;
using namespace pqrt::crypto::test;
using pqrt::errc;

namespace {

constexpr size_t tag = 16;

const uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// Feeds `input` in pieces of the given sizes, cycling through them.
template <class Cipher>
caf::error feed(Cipher& cipher, const std::string& input, std::vector<size_t> pieces,
                std::string& out) {
  size_t at = 0;
  for (size_t i = 0; at < input.size(); ++i) {
    auto take = std::min(pieces[i % pieces.size()], input.size() - at);
    if (auto err = cipher.update(bytes(input) + at, take, out)) return err;
    at += take;
  }
  return cipher.finish(out);
}

std::string encrypt(const shared_secret& key, const std::string& plaintext,
                    uint32_t chunk = default_chunk_size, std::string context = {},
                    std::vector<size_t> pieces = {1 << 20}) {
  auto enc = file_encryptor::make(key, std::move(context), chunk);
  REQUIRE(enc);
  std::string out;
  REQUIRE(!feed(*enc, plaintext, std::move(pieces), out));
  return out;
}

caf::expected<std::string> decrypt(const shared_secret& key, const std::string& ciphertext,
                                   std::string context = {},
                                   std::vector<size_t> pieces = {1 << 20}) {
  auto dec = file_decryptor::make(key, std::move(context));
  REQUIRE(dec);
  std::string out;
  if (auto err = feed(*dec, ciphertext, std::move(pieces), out)) return err;
  return out;
}

size_t chunks_for(size_t size, size_t chunk) {
  return size == 0 ? 1 : (size + chunk - 1) / chunk;
}

// The byte range of chunk `i` in a file with chunks of `chunk` plaintext bytes.
std::string chunk_at(const std::string& file, size_t i, size_t chunk) {
  return file.substr(file_header_size + i * (chunk + tag), chunk + tag);
}

}  // namespace

TEST_SUITE("crypto.file_cipher") {
  TEST_CASE("round trip at the chunk boundaries, small chunks and the default") {
    auto key = random_key();
    for (size_t chunk : {size_t{16}, size_t{default_chunk_size}}) {
      for (size_t size : {size_t{0}, size_t{1}, chunk - 1, chunk, chunk + 1, 3 * chunk}) {
        CAPTURE(chunk);
        CAPTURE(size);
        auto plaintext = random_text(size);
        auto file = encrypt(key, plaintext, static_cast<uint32_t>(chunk));
        CHECK(file.size() == file_header_size + size + tag * chunks_for(size, chunk));
        auto opened = decrypt(key, file);
        REQUIRE(opened);
        CHECK(*opened == plaintext);
      }
    }
  }

  TEST_CASE("the header holds magic, version, key check and chunk size") {
    auto key = random_key();
    auto file = encrypt(key, "x", 0x00010203);
    CHECK(file.substr(0, 8) == "PQRTFILE");
    CHECK(file[8] == 1);
    CHECK(to_hex({file.begin() + 9, file.begin() + 13}) == key_check_hex(*key));
    CHECK(to_hex({file.begin() + 13, file.begin() + 17}) == "00010203");
  }

  TEST_CASE("two encryptions of the same data differ (random nonce prefix)") {
    auto key = random_key();
    CHECK(encrypt(key, "same") != encrypt(key, "same"));
  }

  TEST_CASE("streaming with odd piece sizes, both ways") {
    auto key = random_key();
    auto plaintext = random_text(5 * 1000 + 7);
    auto reference = decrypt(key, encrypt(key, plaintext, 1000));
    REQUIRE(reference);
    CHECK(*reference == plaintext);
    for (auto pieces : std::vector<std::vector<size_t>>{{1}, {7}, {999, 1, 1001}, {3, 2000, 13}}) {
      auto file = encrypt(key, plaintext, 1000, "ctx", pieces);
      CHECK(file.size() == file_header_size + plaintext.size() + 6 * tag);
      for (auto back : std::vector<std::vector<size_t>>{{1}, {1016}, {5, 1017, 2}, {1 << 20}}) {
        auto opened = decrypt(key, file, "ctx", back);
        REQUIRE(opened);
        CHECK(*opened == plaintext);
      }
    }
  }

  TEST_CASE("an exact multiple of the chunk, fed chunk by chunk, ends in a full final chunk") {
    auto key = random_key();
    auto plaintext = random_text(64);
    auto file = encrypt(key, plaintext, 16, {}, {16});
    CHECK(file.size() == file_header_size + 64 + 4 * tag);
    auto opened = decrypt(key, file, {}, {32});
    REQUIRE(opened);
    CHECK(*opened == plaintext);
  }

  TEST_CASE("reordered chunks fail at the first one out of place") {
    auto key = random_key();
    auto file = encrypt(key, random_text(64), 16);
    auto swapped = file.substr(0, file_header_size) + chunk_at(file, 1, 16) +
                   chunk_at(file, 0, 16) + chunk_at(file, 2, 16) + chunk_at(file, 3, 16);
    PQRT_CHECK_ERROR_TEXT(decrypt(key, swapped), errc::auth_failed,
                          "chunk 0: authentication failed: changed, reordered");
  }

  TEST_CASE("a dropped middle chunk fails") {
    auto key = random_key();
    auto file = encrypt(key, random_text(64), 16);
    auto dropped = file.substr(0, file_header_size) + chunk_at(file, 0, 16) +
                   chunk_at(file, 2, 16) + chunk_at(file, 3, 16);
    PQRT_CHECK_ERROR_TEXT(decrypt(key, dropped), errc::auth_failed, "chunk 1");
  }

  TEST_CASE("truncated at a chunk boundary is truncated and names the last good chunk") {
    auto key = random_key();
    auto file = encrypt(key, random_text(60), 16);  // chunks 0-2 full, 3 final with 12 bytes
    auto cut = file.substr(0, file_header_size + 2 * (16 + tag));
    PQRT_CHECK_ERROR_TEXT(decrypt(key, cut), errc::truncated, "after chunk 1, the last good one");
    PQRT_CHECK_ERROR_TEXT(decrypt(key, file.substr(0, file_header_size)), errc::truncated,
                          "before chunk 0");
  }

  TEST_CASE("truncated inside a chunk fails") {
    auto key = random_key();
    auto file = encrypt(key, random_text(60), 16);
    auto into_chunk_2 = file_header_size + 2 * (16 + tag);
    PQRT_CHECK_ERROR_TEXT(decrypt(key, file.substr(0, into_chunk_2 + 20)), errc::auth_failed,
                          "chunk 2 (the last)");
    PQRT_CHECK_ERROR_TEXT(decrypt(key, file.substr(0, into_chunk_2 + 5)), errc::truncated,
                          "5 bytes into chunk 2, after chunk 1");
    PQRT_CHECK_ERROR(decrypt(key, file.substr(0, file.size() - 1)), errc::auth_failed);
    PQRT_CHECK_ERROR(decrypt(key, file.substr(0, 10)), errc::bad_format);
  }

  TEST_CASE("appended data fails") {
    auto key = random_key();
    auto full = encrypt(key, random_text(48), 16);  // the final chunk is a full one
    PQRT_CHECK_ERROR_TEXT(decrypt(key, full + "x"), errc::auth_failed,
                          "chunk 2 is the final chunk, but more data follows it");
    PQRT_CHECK_ERROR(decrypt(key, full + full), errc::auth_failed);
    auto part = encrypt(key, random_text(40), 16);  // a short final chunk
    PQRT_CHECK_ERROR(decrypt(key, part + "x"), errc::auth_failed);
    PQRT_CHECK_ERROR(decrypt(key, part + std::string(100, 'x')), errc::auth_failed);
  }

  TEST_CASE("another key is auth_failed with both key checks") {
    auto key_a = random_key();
    auto key_b = random_key();
    auto file = encrypt(key_a, "secret script");
    PQRT_CHECK_ERROR_TEXT(decrypt(key_b, file), errc::auth_failed,
                          "wrong key: file encrypted under key " + key_check_hex(*key_a) +
                              ", this key is " + key_check_hex(*key_b));
  }

  TEST_CASE("another context is auth_failed") {
    auto key = random_key();
    auto file = encrypt(key, "result batch", default_chunk_size, "results/job-1");
    CHECK(decrypt(key, file, "results/job-1"));
    PQRT_CHECK_ERROR_TEXT(decrypt(key, file, "results/job-2"), errc::auth_failed, "chunk 0");
    PQRT_CHECK_ERROR(decrypt(key, file), errc::auth_failed);
  }

  TEST_CASE("any changed byte fails: header and every chunk") {
    auto key = random_key();
    auto file = encrypt(key, random_text(40), 16);
    for (size_t i = 0; i < file.size(); ++i) {
      CAPTURE(i);
      auto changed = file;
      changed[i] = static_cast<char>(changed[i] ^ 0x80);
      auto opened = decrypt(key, changed);
      REQUIRE_FALSE(opened);
      auto err = opened.error();
      CHECK((pqrt::is(err, errc::bad_format) || pqrt::is(err, errc::unsupported) ||
             pqrt::is(err, errc::auth_failed)));
    }
  }

  TEST_CASE("header errors are specific") {
    auto key = random_key();
    auto file = encrypt(key, "data");
    auto not_ours = file;
    not_ours[0] = 'X';
    PQRT_CHECK_ERROR_TEXT(decrypt(key, not_ours), errc::bad_format, "no PQRTFILE header");
    auto future = file;
    future[8] = 2;
    PQRT_CHECK_ERROR_TEXT(decrypt(key, future), errc::unsupported, "version 2");
    PQRT_CHECK_ERROR(decrypt(key, ""), errc::bad_format);
  }

  TEST_CASE("argument errors") {
    PQRT_CHECK_ERROR(file_encryptor::make(random_key(), {}, 0), errc::invalid_argument);
    PQRT_CHECK_ERROR(file_encryptor::make(random_key(), {}, 16 * 1024 * 1024 + 1),
                     errc::invalid_argument);
    PQRT_CHECK_ERROR(file_encryptor::make(std::make_shared<secure_buffer>(31)), errc::key_error);
    PQRT_CHECK_ERROR(file_decryptor::make(nullptr), errc::key_error);
    auto enc = file_encryptor::make(random_key());
    REQUIRE(enc);
    std::string out;
    REQUIRE(!enc->finish(out));
    PQRT_CHECK_ERROR(enc->update(bytes(out), 1, out), errc::invalid_argument);
  }

  TEST_CASE("a failed decryptor stays failed") {
    auto key = random_key();
    auto file = encrypt(key, random_text(100), 16);
    file[file_header_size] ^= 1;
    auto dec = file_decryptor::make(key);
    REQUIRE(dec);
    std::string out;
    PQRT_CHECK_ERROR(dec->update(bytes(file), file.size(), out), errc::auth_failed);
    CHECK(out.empty());
    PQRT_CHECK_ERROR(dec->update(bytes(file), 1, out), errc::auth_failed);
    PQRT_CHECK_ERROR(dec->finish(out), errc::auth_failed);
  }

  TEST_CASE("plaintext is released chunk by chunk, only once authenticated") {
    auto key = random_key();
    auto plaintext = random_text(48);
    auto file = encrypt(key, plaintext, 16);
    auto dec = file_decryptor::make(key);
    REQUIRE(dec);
    std::string out;
    // Header plus chunk 0 exactly: chunk 0 could still be the final one, so nothing yet.
    REQUIRE(!dec->update(bytes(file), file_header_size + 32, out));
    CHECK(out.empty());
    REQUIRE(!dec->update(bytes(file) + file_header_size + 32, 1, out));
    CHECK(out == plaintext.substr(0, 16));
  }

  TEST_CASE("encrypt_stream and decrypt_stream") {
    auto key = random_key();
    auto plaintext = random_text(700 * 1000 + 3);
    std::istringstream in{plaintext};
    std::ostringstream sealed;
    REQUIRE(!encrypt_stream(key, in, sealed, "blob"));
    std::istringstream sealed_in{sealed.str()};
    std::ostringstream opened;
    REQUIRE(!decrypt_stream(key, sealed_in, opened, "blob"));
    CHECK(opened.str() == plaintext);
    std::istringstream again{sealed.str()};
    std::ostringstream sink;
    PQRT_CHECK_ERROR(decrypt_stream(key, again, sink, "other blob"), errc::auth_failed);
    std::istringstream cut{
        sealed.str().substr(0, file_header_size + 2 * (default_chunk_size + tag))};
    PQRT_CHECK_ERROR(decrypt_stream(key, cut, sink, "blob"), errc::truncated);
  }
}
