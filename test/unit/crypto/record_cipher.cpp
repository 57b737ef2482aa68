#include "crypto/record_cipher.hpp"

#include <set>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "crypto/base64.hpp"
#include "crypto/detail/gcm.hpp"
#include "unit/crypto/util.hpp"

using namespace pqrt::crypto;
using namespace pqrt::crypto::test;
using pqrt::errc;

namespace {

struct gcm_vector {
  const char* name;
  const char* key;
  const char* iv;
  const char* aad;
  const char* plaintext;
  const char* ciphertext;
  const char* tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 13 to 16 (AES-256,
// 96-bit IV), as NIST published them with the GCM specification.
const gcm_vector nist_vectors[] = {
    {"test case 13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"test case 14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"test case 15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"test case 16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

shared_secret key_of(const std::vector<uint8_t>& bytes) {
  return std::make_shared<secure_buffer>(bytes.data(), bytes.size());
}

std::vector<uint8_t> unbase64(const std::string& line) {
  auto bytes = base64_decode(line);
  REQUIRE(bytes);
  return *bytes;
}

std::string rebase64(const std::vector<uint8_t>& bytes) {
  return base64_encode(bytes.data(), bytes.size());
}

}  // namespace

TEST_SUITE("crypto.record_cipher") {
  TEST_CASE("AES-256-GCM known answers (NIST GCM spec test cases 13-16)") {
    for (const auto& v : nist_vectors) {
      CAPTURE(v.name);
      auto sealed =
          detail::gcm_seal(from_hex(v.key), from_hex(v.iv), from_hex(v.aad), from_hex(v.plaintext));
      REQUIRE(sealed);
      CHECK(to_hex(*sealed) == std::string{v.ciphertext} + v.tag);
    }
  }

  TEST_CASE("the GCM core opens a known answer and rejects a changed tag") {
    const auto& v = nist_vectors[3];
    auto key = from_hex(v.key);
    auto iv = from_hex(v.iv);
    auto aad = from_hex(v.aad);
    auto ct = from_hex(v.ciphertext);
    auto tag = from_hex(v.tag);
    detail::gcm_context gcm;
    REQUIRE(gcm.init(key.data()));
    std::vector<uint8_t> out(ct.size());
    REQUIRE(gcm.open(iv.data(), {aad.data(), aad.size()}, {}, ct.data(), ct.size(), out.data(),
                     tag.data()));
    CHECK(to_hex(out) == v.plaintext);
    // The AAD given in two pieces is the same AAD.
    REQUIRE(gcm.open(iv.data(), {aad.data(), 7}, {aad.data() + 7, aad.size() - 7}, ct.data(),
                     ct.size(), out.data(), tag.data()));
    tag[15] ^= 1;
    CHECK_FALSE(gcm.open(iv.data(), {aad.data(), aad.size()}, {}, ct.data(), ct.size(), out.data(),
                         tag.data()));
  }

  TEST_CASE("key check is HMAC-SHA256(key, \"pqrt key check v1\"), first 4 bytes") {
    temp_dir dir;
    auto key = from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    auto out = dir.file("mac");
    REQUIRE(run("printf 'pqrt key check v1' | openssl dgst -sha256 -mac HMAC -macopt hexkey:" +
                to_hex(key) + " -r -out " + out));
    CHECK(key_check_hex(*key_of(key)) == read_file(out).substr(0, 8));
  }

  TEST_CASE("records round-trip") {
    record_cipher cipher{random_key()};
    for (size_t size : {0, 1, 15, 16, 17, 1000, 70000}) {
      CAPTURE(size);
      auto plaintext = random_text(size);
      auto line = cipher.seal("ds-1", 42, plaintext);
      REQUIRE(line);
      CHECK(line->find('\n') == std::string::npos);
      CHECK(unbase64(*line).size() == size + record_overhead);
      auto opened = cipher.open("ds-1", 42, *line);
      REQUIRE(opened);
      CHECK(*opened == plaintext);
    }
  }

  TEST_CASE("a line with a trailing CR opens") {
    record_cipher cipher{random_key()};
    auto line = cipher.seal("ds", 0, "payload");
    REQUIRE(line);
    auto opened = cipher.open("ds", 0, *line + "\r");
    REQUIRE(opened);
    CHECK(*opened == "payload");
  }

  TEST_CASE("the sealed layout is version | key check | index | nonce | ciphertext | tag") {
    auto key = random_key();
    record_cipher cipher{key};
    auto line = cipher.seal("ds", 0x0102030405060708, "abc");
    REQUIRE(line);
    auto bytes = unbase64(*line);
    CHECK(bytes[0] == record_version);
    CHECK(to_hex({bytes.begin() + 1, bytes.begin() + 5}) == key_check_hex(*key));
    CHECK(cipher.key_check() == key_check_hex(*key));
    CHECK(to_hex({bytes.begin() + 5, bytes.begin() + 13}) == "0102030405060708");
  }

  TEST_CASE("every seal draws a fresh nonce") {
    record_cipher cipher{random_key()};
    std::set<std::string> nonces;
    for (int i = 0; i < 200; ++i) {
      auto bytes = unbase64(*cipher.seal("ds", 0, "same"));
      nonces.insert(to_hex({bytes.begin() + 13, bytes.begin() + 25}));
    }
    CHECK(nonces.size() == 200);
  }

  TEST_CASE("a cipher_set serves threads at once: records open, nonces never repeat") {
    auto key = random_key();
    cipher_set set{key};
    CHECK(set.key_check() == key_check_hex(*key));
    constexpr int threads = 4, per_thread = 300;
    std::vector<std::vector<std::string>> sealed(threads);
    std::vector<int> opened(threads, 0);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          auto index = static_cast<uint64_t>(t * per_thread + i);
          auto line = set.seal("ds", index, "record " + std::to_string(index));
          if (!line) continue;
          auto back = set.open("ds", index, *line);
          if (back && *back == "record " + std::to_string(index)) ++opened[t];
          sealed[t].push_back(std::move(*line));
        }
      });
    for (auto& th : pool)
      th.join();
    std::set<std::string> nonces;
    record_cipher other{key};  // one key: a plain cipher opens what the set sealed
    for (int t = 0; t < threads; ++t) {
      CHECK(opened[t] == per_thread);
      REQUIRE(sealed[t].size() == per_thread);
      for (int i = 0; i < per_thread; ++i) {
        auto bytes = unbase64(sealed[t][i]);
        nonces.insert(to_hex({bytes.begin() + 13, bytes.begin() + 25}));
        CHECK(other.open("ds", static_cast<uint64_t>(t * per_thread + i), sealed[t][i]));
      }
    }
    CHECK(nonces.size() == threads * per_thread);
    CHECK(set.made() >= 1);
    CHECK(set.made() <= threads);  // one per thread at most, kept between calls
  }

  TEST_CASE("a cipher_set with a short key fails every call, naming the key") {
    cipher_set set{key_of(std::vector<uint8_t>(16, 1))};
    PQRT_CHECK_ERROR(set.seal("ds", 0, "x"), errc::key_error);
    PQRT_CHECK_ERROR(set.open("ds", 0, "AAAA"), errc::key_error);
  }

  TEST_CASE("a forked child does not reuse its parent's nonces") {
    record_cipher cipher{random_key()};
    REQUIRE(cipher.seal("ds", 0, "fills the nonce pool"));
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto line = cipher.seal("ds", 1, "child");
      auto written = line ? ::write(fds[1], line->data(), line->size()) : 0;
      ::_exit(written > 0 ? 0 : 1);
    }
    ::close(fds[1]);
    std::string child_line;
    char buf[256];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;)
      child_line.append(buf, n);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    auto parent = unbase64(*cipher.seal("ds", 1, "child"));
    auto child = unbase64(child_line);
    CHECK(std::vector<uint8_t>(parent.begin() + 13, parent.begin() + 25) !=
          std::vector<uint8_t>(child.begin() + 13, child.begin() + 25));
  }

  TEST_CASE("one flipped byte anywhere fails: header, nonce, ciphertext, tag") {
    record_cipher cipher{random_key()};
    auto line = cipher.seal("ds", 7, "a record of some length");
    REQUIRE(line);
    auto bytes = unbase64(*line);
    for (size_t i = 0; i < bytes.size(); ++i) {
      CAPTURE(i);
      auto changed = bytes;
      changed[i] ^= 0x01;
      auto opened = cipher.open("ds", 7, rebase64(changed));
      REQUIRE_FALSE(opened);
      auto code = i == 0 ? errc::unsupported : errc::auth_failed;
      PQRT_CHECK_ERROR(opened, code);
      if (i >= 1 && i < 5)
        CHECK(pqrt::context_of(opened.error()).find("wrong key") != std::string::npos);
      if (i >= 5)
        CHECK(pqrt::context_of(opened.error()).find("record 7: authentication failed") !=
              std::string::npos);
    }
  }

  TEST_CASE("a record opened at another index is wrong_binding") {
    record_cipher cipher{random_key()};
    auto line = cipher.seal("ds", 21, "record twenty-one");
    REQUIRE(line);
    PQRT_CHECK_ERROR_TEXT(cipher.open("ds", 17, *line), errc::wrong_binding,
                          "record 17: sealed for index 21: records swapped or reordered");
  }

  TEST_CASE("another key is auth_failed and names both key checks") {
    auto key_a = random_key();
    auto key_b = random_key();
    record_cipher a{key_a};
    record_cipher b{key_b};
    auto line = a.seal("ds", 3, "data");
    REQUIRE(line);
    PQRT_CHECK_ERROR_TEXT(b.open("ds", 3, *line), errc::auth_failed,
                          "record 3: wrong key: sealed under key " + key_check_hex(*key_a) +
                              ", this key is " + key_check_hex(*key_b));
  }

  TEST_CASE("another data set is auth_failed") {
    record_cipher cipher{random_key()};
    auto line = cipher.seal("dataset-a", 0, "data");
    REQUIRE(line);
    PQRT_CHECK_ERROR_TEXT(cipher.open("dataset-b", 0, *line), errc::auth_failed,
                          "another data set");
    PQRT_CHECK_ERROR(cipher.open("", 0, *line), errc::auth_failed);
  }

  TEST_CASE("not base64, too short or an unknown version") {
    record_cipher cipher{random_key()};
    PQRT_CHECK_ERROR_TEXT(cipher.open("ds", 5, "not base64!"), errc::bad_format,
                          "record 5: not base64");
    PQRT_CHECK_ERROR(cipher.open("ds", 5, ""), errc::bad_format);
    std::vector<uint8_t> short_record(record_overhead - 1, 1);
    PQRT_CHECK_ERROR_TEXT(cipher.open("ds", 5, rebase64(short_record)), errc::bad_format,
                          "too short: 40 bytes");
    std::vector<uint8_t> future(record_overhead, 2);
    PQRT_CHECK_ERROR_TEXT(cipher.open("ds", 5, rebase64(future)), errc::unsupported, "version 2");
  }

  TEST_CASE("a key that is not 32 bytes is key_error") {
    record_cipher cipher{std::make_shared<secure_buffer>(16)};
    PQRT_CHECK_ERROR(cipher.seal("ds", 0, "x"), errc::key_error);
    PQRT_CHECK_ERROR(cipher.open("ds", 0, "AAAA"), errc::key_error);
    record_cipher none{nullptr};
    PQRT_CHECK_ERROR(none.seal("ds", 0, "x"), errc::key_error);
  }

  TEST_CASE("a moved cipher keeps working") {
    record_cipher a{random_key()};
    auto line = a.seal("ds", 1, "moved");
    REQUIRE(line);
    record_cipher b{std::move(a)};
    auto opened = b.open("ds", 1, *line);
    REQUIRE(opened);
    CHECK(*opened == "moved");
  }

  TEST_CASE("records header round-trips") {
    auto line = records_header("sales-2024", "1a2b3c4d");
    CHECK(line == "#pqrt-records v1 dataset=sales-2024 key=1a2b3c4d");
    auto info = parse_records_header(line + "\r\n");
    REQUIRE(info);
    CHECK(info->dataset_id == "sales-2024");
    CHECK(info->key_check == "1a2b3c4d");
  }

  TEST_CASE("records header errors") {
    for (auto bad : {"", "#pqrt-records v2 dataset=x key=1a2b3c4d", "dataset=x key=1a2b3c4d",
                     "#pqrt-records v1 dataset=x", "#pqrt-records v1 dataset=x key=1A2B3C4D",
                     "#pqrt-records v1 dataset=x key=1a2b3c"}) {
      CAPTURE(bad);
      PQRT_CHECK_ERROR(parse_records_header(bad), errc::bad_format);
    }
  }
}
