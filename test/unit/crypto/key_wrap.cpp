#include "crypto/key_wrap.hpp"

#include <sys/stat.h>

#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto/record_cipher.hpp"
#include "unit/crypto/util.hpp"

using namespace pqrt::crypto;
using namespace pqrt::crypto::test;
using pqrt::errc;

namespace {

secure_buffer data_key() {
  auto key = generate_data_key();
  REQUIRE(key);
  return std::move(*key);
}

std::vector<uint8_t> bn_param(const rsa_key& key, const char* name) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(static_cast<EVP_PKEY*>(key.native_handle()), name, &bn) == 1);
  std::vector<uint8_t> out(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  BN_free(bn);
  return out;
}

rsa_key pem_key(const std::string& path) {
  auto key = rsa_key::load_pem_file(path);
  INFO(pqrt::render(error_of(key)));
  REQUIRE(key);
  return std::move(*key);
}

// rsa_key is move-only: a second owner goes through a PEM file.
rsa_key copy_of(const rsa_key& key, const temp_dir& dir) {
  static int copies = 0;
  auto path = dir.file("copy-" + std::to_string(copies++) + ".pem");
  REQUIRE(!key.write_private_pem(path));
  return pem_key(path);
}

wrapped_key sample_wrapped(const secure_buffer& key) {
  const auto& rsa = test_rsa_key();
  auto blob = rsa.wrap(key, wrap_alg::rsa_oaep_256);
  REQUIRE(blob);
  return wrapped_key{wrap_alg::rsa_oaep_256, rsa.key_id(), key_check_hex(key), *blob, false};
}

const char* const oaep256 =
    " -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256";

}  // namespace

TEST_SUITE("crypto.key_wrap") {
  TEST_CASE("algorithm names") {
    CHECK(std::string{to_string(wrap_alg::rsa_oaep_256)} == "RSA-OAEP-256");
    CHECK(std::string{to_string(wrap_alg::rsa_oaep)} == "RSA-OAEP");
    CHECK(*parse_wrap_alg("RSA-OAEP-256") == wrap_alg::rsa_oaep_256);
    CHECK(*parse_wrap_alg("RSA-OAEP") == wrap_alg::rsa_oaep);
    PQRT_CHECK_ERROR_TEXT(parse_wrap_alg("RSA1_5"), errc::unsupported, "RSA1_5");
  }

  TEST_CASE("data keys are 32 random bytes") {
    auto a = data_key();
    auto b = data_key();
    CHECK(a.size() == data_key_size);
    CHECK_FALSE(a.equals(b));
  }

  TEST_CASE("a generated key") {
    const auto& key = test_rsa_key();
    CHECK(key.bits() == 2048);
    CHECK(key.has_private());
    CHECK(key.native_handle() != nullptr);
    auto kid = key.key_id();
    CHECK(kid.rfind("local:sha256:", 0) == 0);
    CHECK(kid.size() == 13 + 64);
    CHECK(kid != test_rsa_key(1).key_id());
    PQRT_CHECK_ERROR(rsa_key::generate(1024), errc::key_error);
    PQRT_CHECK_ERROR(rsa_key::generate(32768), errc::key_error);
  }

  TEST_CASE("an empty key fails cleanly") {
    rsa_key none;
    CHECK_FALSE(none.has_private());
    CHECK(none.bits() == 0);
    CHECK(none.key_id().empty());
    PQRT_CHECK_ERROR(none.wrap(data_key(), wrap_alg::rsa_oaep_256), errc::key_error);
    PQRT_CHECK_ERROR(none.unwrap({1, 2, 3}, wrap_alg::rsa_oaep_256), errc::key_error);
  }

  TEST_CASE("wrap and unwrap round-trip with RSA-OAEP-256 and RSA-OAEP") {
    const auto& rsa = test_rsa_key();
    for (auto alg : {wrap_alg::rsa_oaep_256, wrap_alg::rsa_oaep}) {
      CAPTURE(to_string(alg));
      auto key = data_key();
      auto wrapped = rsa.wrap(key, alg);
      REQUIRE(wrapped);
      CHECK(wrapped->size() == 256);
      auto unwrapped = rsa.unwrap(*wrapped, alg);
      REQUIRE(unwrapped);
      CHECK(unwrapped->equals(key));
    }
  }

  TEST_CASE("unwrap with another key, another algorithm or changed bytes is key_error") {
    auto key = data_key();
    auto wrapped = test_rsa_key().wrap(key, wrap_alg::rsa_oaep_256);
    REQUIRE(wrapped);
    PQRT_CHECK_ERROR_TEXT(test_rsa_key(1).unwrap(*wrapped, wrap_alg::rsa_oaep_256), errc::key_error,
                          test_rsa_key(1).key_id());
    PQRT_CHECK_ERROR(test_rsa_key().unwrap(*wrapped, wrap_alg::rsa_oaep), errc::key_error);
    auto changed = *wrapped;
    changed[100] ^= 1;
    PQRT_CHECK_ERROR(test_rsa_key().unwrap(changed, wrap_alg::rsa_oaep_256), errc::key_error);
    changed.pop_back();
    PQRT_CHECK_ERROR_TEXT(test_rsa_key().unwrap(changed, wrap_alg::rsa_oaep_256), errc::key_error,
                          "255 bytes");
  }

  TEST_CASE("PEM files: private PKCS#8 with mode 0600, public SPKI, never replaced") {
    temp_dir dir;
    const auto& rsa = test_rsa_key();
    REQUIRE(!rsa.write_private_pem(dir.file("key.pem")));
    REQUIRE(!rsa.write_public_pem(dir.file("pub.pem")));
    struct stat st {};
    REQUIRE(::stat(dir.file("key.pem").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(read_file(dir.file("key.pem")).rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
    CHECK(read_file(dir.file("pub.pem")).rfind("-----BEGIN PUBLIC KEY-----", 0) == 0);
    PQRT_CHECK_ERROR(rsa.write_private_pem(dir.file("key.pem")), errc::io_error);
    PQRT_CHECK_ERROR(rsa.write_public_pem(dir.file("pub.pem")), errc::io_error);
    auto priv = pem_key(dir.file("key.pem"));
    auto pub = pem_key(dir.file("pub.pem"));
    CHECK(priv.has_private());
    CHECK_FALSE(pub.has_private());
    CHECK(priv.key_id() == rsa.key_id());
    CHECK(pub.key_id() == rsa.key_id());
    PQRT_CHECK_ERROR(pub.write_private_pem(dir.file("pub-private.pem")), errc::key_error);
    auto key = data_key();
    auto wrapped = pub.wrap(key, wrap_alg::rsa_oaep_256);
    REQUIRE(wrapped);
    PQRT_CHECK_ERROR_TEXT(pub.unwrap(*wrapped, wrap_alg::rsa_oaep_256), errc::key_error,
                          "no private part");
    auto unwrapped = priv.unwrap(*wrapped, wrap_alg::rsa_oaep_256);
    REQUIRE(unwrapped);
    CHECK(unwrapped->equals(key));
  }

  TEST_CASE("PEM in PKCS#1 form, private and public") {
    temp_dir dir;
    REQUIRE(!test_rsa_key().write_private_pem(dir.file("key.pem")));
    REQUIRE(run("openssl pkey -in " + dir.file("key.pem") + " -traditional -out " +
                dir.file("rsa.pem")));
    REQUIRE(run("openssl rsa -in " + dir.file("key.pem") + " -RSAPublicKey_out -out " +
                dir.file("rsapub.pem")));
    CHECK(read_file(dir.file("rsa.pem")).find("BEGIN RSA PRIVATE KEY") != std::string::npos);
    CHECK(read_file(dir.file("rsapub.pem")).find("BEGIN RSA PUBLIC KEY") != std::string::npos);
    auto priv = pem_key(dir.file("rsa.pem"));
    auto pub = pem_key(dir.file("rsapub.pem"));
    CHECK(priv.has_private());
    CHECK_FALSE(pub.has_private());
    CHECK(priv.key_id() == test_rsa_key().key_id());
    CHECK(pub.key_id() == test_rsa_key().key_id());
  }

  TEST_CASE("PEM errors") {
    temp_dir dir;
    PQRT_CHECK_ERROR_TEXT(rsa_key::load_pem_file(dir.file("missing.pem")), errc::io_error,
                          "missing.pem");
    PQRT_CHECK_ERROR(rsa_key::from_pem("not a key"), errc::key_error);
    PQRT_CHECK_ERROR(rsa_key::from_pem(""), errc::key_error);
    REQUIRE(!test_rsa_key().write_private_pem(dir.file("key.pem")));
    REQUIRE(run("openssl pkey -in " + dir.file("key.pem") + " -aes256 -passout pass:x -out " +
                dir.file("enc.pem")));
    PQRT_CHECK_ERROR_TEXT(rsa_key::load_pem_file(dir.file("enc.pem")), errc::key_error,
                          "passphrase");
    REQUIRE(run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                dir.file("ec.pem")));
    PQRT_CHECK_ERROR_TEXT(rsa_key::load_pem_file(dir.file("ec.pem")), errc::key_error,
                          "not an RSA key");
  }

  TEST_CASE("a public key from modulus and exponent") {
    const auto& rsa = test_rsa_key();
    auto pub = rsa_key::from_modulus_exponent(bn_param(rsa, OSSL_PKEY_PARAM_RSA_N),
                                              bn_param(rsa, OSSL_PKEY_PARAM_RSA_E));
    REQUIRE(pub);
    CHECK_FALSE(pub->has_private());
    CHECK(pub->bits() == 2048);
    CHECK(pub->key_id() == rsa.key_id());
    auto key = data_key();
    auto wrapped = pub->wrap(key, wrap_alg::rsa_oaep);
    REQUIRE(wrapped);
    auto unwrapped = rsa.unwrap(*wrapped, wrap_alg::rsa_oaep);
    REQUIRE(unwrapped);
    CHECK(unwrapped->equals(key));
    PQRT_CHECK_ERROR(rsa_key::from_modulus_exponent({}, {1, 0, 1}), errc::key_error);
    // A zero modulus (a key of 0 bits, found by fuzz_azure_key_vault), an even one, and exponents
    // an RSA key cannot have.
    PQRT_CHECK_ERROR_TEXT(rsa_key::from_modulus_exponent({0}, {1, 0, 1}), errc::key_error,
                          "not an RSA modulus");
    PQRT_CHECK_ERROR_TEXT(rsa_key::from_modulus_exponent({0xc5, 0x3b, 0x01, 0x4e}, {3}),
                          errc::key_error, "not an RSA modulus");
    PQRT_CHECK_ERROR_TEXT(rsa_key::from_modulus_exponent({0xc5, 0x3b, 0x01, 0x4f}, {1}),
                          errc::key_error, "not an RSA exponent");
    PQRT_CHECK_ERROR_TEXT(rsa_key::from_modulus_exponent({0xc5, 0x3b, 0x01, 0x4f}, {0}),
                          errc::key_error, "not an RSA exponent");
    PQRT_CHECK_ERROR_TEXT(rsa_key::from_modulus_exponent({0xc5, 0x3b, 0x01, 0x4f}, {4}),
                          errc::key_error, "not an RSA exponent");
    auto tiny = rsa_key::from_modulus_exponent({0xc5, 0x3b, 0x01, 0x4f}, {3});
    REQUIRE(tiny);
    PQRT_CHECK_ERROR_TEXT(tiny->wrap(key, wrap_alg::rsa_oaep_256), errc::key_error, "too small");
  }

  TEST_CASE("wrapped key JSON round-trips") {
    auto key = data_key();
    auto original = sample_wrapped(key);
    auto json = to_json(original);
    CHECK(json.back() == '\n');
    CHECK(json.find("\"format\":\"pqrt-wrapped-key\"") != std::string::npos);
    CHECK(json.find("\"alg\":\"RSA-OAEP-256\"") != std::string::npos);
    auto parsed = parse_wrapped_key(json);
    REQUIRE(parsed);
    CHECK(parsed->alg == original.alg);
    CHECK(parsed->kid == original.kid);
    CHECK(parsed->key_check == original.key_check);
    CHECK(parsed->wrapped == original.wrapped);
    CHECK_FALSE(parsed->legacy);
  }

  TEST_CASE("wrapped key JSON is ASCII whatever the kid holds, and reads back") {
    auto original = sample_wrapped(data_key());
    original.kid = "https://kv.vault.azure.net/keys/cl\xc3\xa9/\xe4\xb8\x80\x01";
    auto json = to_json(original);
    CHECK(json.find("cl\\u00E9/\\u4E00\\u0001") != std::string::npos);
    auto parsed = parse_wrapped_key(json);
    REQUIRE(parsed);
    CHECK_FALSE(parsed->legacy);
    CHECK(parsed->kid == original.kid);
    // A \u escape can still make invalid UTF-8, which no file could hold: an error on reading.
    auto lone = json;
    lone.replace(lone.find("\\u00E9"), 6, "\\udf5e");
    PQRT_CHECK_ERROR_TEXT(parse_wrapped_key(lone), errc::bad_format, "lone surrogate");
    // Nor a NUL, which C strings downstream would cut the id at (found by fuzz_wrapped_key).
    auto nul = json;
    nul.replace(nul.find("\\u00E9"), 6, "\\u0000");
    PQRT_CHECK_ERROR_TEXT(parse_wrapped_key(nul), errc::bad_format, "NUL");
    // DEL is written unescaped, and the file it makes is still JSON (found by fuzz_wrapped_key).
    auto del = original;
    del.kid = "local:sha256:ab\x7f";
    auto del_json = to_json(del);
    CHECK(del_json.find('\x7f') != std::string::npos);
    auto del_parsed = parse_wrapped_key(del_json);
    REQUIRE(del_parsed);
    CHECK_FALSE(del_parsed->legacy);
    CHECK(del_parsed->kid == del.kid);
  }

  TEST_CASE("a deeply nested wrapped key file is an error, not a stack overflow") {
    PQRT_CHECK_ERROR(parse_wrapped_key(std::string(1000000, '[')), errc::bad_format);
  }

  TEST_CASE("wrapped key JSON errors") {
    auto json = to_json(sample_wrapped(data_key()));
    auto replaced = [&](const std::string& from, const std::string& to) {
      auto text = json;
      auto at = text.find(from);
      REQUIRE(at != std::string::npos);
      return text.replace(at, from.size(), to);
    };
    PQRT_CHECK_ERROR(parse_wrapped_key(json.substr(0, json.size() / 2)), errc::bad_format);
    PQRT_CHECK_ERROR(parse_wrapped_key("[1, 2]"), errc::bad_format);
    PQRT_CHECK_ERROR(parse_wrapped_key(""), errc::bad_format);
    PQRT_CHECK_ERROR_TEXT(parse_wrapped_key(replaced("pqrt-wrapped-key", "other")),
                          errc::bad_format, "format");
    PQRT_CHECK_ERROR(parse_wrapped_key(replaced("\"version\":1", "\"version\":2")),
                     errc::unsupported);
    PQRT_CHECK_ERROR(parse_wrapped_key(replaced("RSA-OAEP-256", "A256KW")), errc::unsupported);
    PQRT_CHECK_ERROR(parse_wrapped_key(replaced("\"wrapped_key\":\"", "\"wrapped_key\":\"!")),
                     errc::bad_format);
    PQRT_CHECK_ERROR(parse_wrapped_key(replaced("\"key_check\":\"", "\"key_check\":\"x")),
                     errc::bad_format);
    PQRT_CHECK_ERROR_TEXT(parse_wrapped_key(replaced("\"kid\"", "\"id\"")), errc::bad_format,
                          "no \"kid\" field");
  }

  TEST_CASE("a raw blob is read as a legacy RSA-OAEP wrapped key") {
    auto key = data_key();
    auto blob = test_rsa_key().wrap(key, wrap_alg::rsa_oaep);
    REQUIRE(blob);
    (*blob)[0] = 0;  // make sure it reads as binary (a real ciphertext almost always does)
    auto parsed = parse_wrapped_key({reinterpret_cast<const char*>(blob->data()), blob->size()});
    REQUIRE(parsed);
    CHECK(parsed->legacy);
    CHECK(parsed->alg == wrap_alg::rsa_oaep);
    CHECK(parsed->kid.empty());
    CHECK(parsed->key_check.empty());
    CHECK(parsed->wrapped == *blob);
    std::string small(10, '\0');
    PQRT_CHECK_ERROR(parse_wrapped_key(small), errc::bad_format);
  }

  TEST_CASE("wrapped key files and the local key source") {
    temp_dir dir;
    auto key = data_key();
    auto wrapped = sample_wrapped(key);
    REQUIRE(!write_wrapped_key_file(dir.file("data.key"), wrapped));
    PQRT_CHECK_ERROR(write_wrapped_key_file(dir.file("data.key"), wrapped), errc::io_error);
    auto read = read_wrapped_key_file(dir.file("data.key"));
    REQUIRE(read);
    auto source = make_local_key_source(copy_of(test_rsa_key(), dir), "/keys/k.pem");
    CHECK(source->describe() == "local key /keys/k.pem");
    auto unwrapped = source->unwrap(*read);
    REQUIRE(unwrapped);
    CHECK(unwrapped->equals(key));
    auto bad_check = *read;
    bad_check.key_check = "00000000";
    PQRT_CHECK_ERROR_TEXT(source->unwrap(bad_check), errc::key_error, "key check");
    auto other = make_local_key_source(copy_of(test_rsa_key(1), dir), "/keys/other.pem");
    PQRT_CHECK_ERROR_TEXT(other->unwrap(*read), errc::key_error, "the data key was wrapped by");
    PQRT_CHECK_ERROR_TEXT(read_wrapped_key_file(dir.file("none.key")), errc::io_error, "none.key");
    write_file(dir.file("broken.key"), "{\"format\":");
    PQRT_CHECK_ERROR_TEXT(read_wrapped_key_file(dir.file("broken.key")), errc::bad_format,
                          "broken.key: wrapped key file: not valid JSON");
  }

  TEST_CASE("interop: unwraps what openssl pkeyutl wrapped, and the reverse") {
    temp_dir dir;
    const auto& rsa = test_rsa_key();
    REQUIRE(!rsa.write_public_pem(dir.file("pub.pem")));
    REQUIRE(!rsa.write_private_pem(dir.file("key.pem")));
    auto key = data_key();
    write_file(dir.file("key.bin"), {reinterpret_cast<const char*>(key.data()), key.size()});
    auto encrypt = "openssl pkeyutl -encrypt -pubin -inkey " + dir.file("pub.pem") + " -in " +
                   dir.file("key.bin");
    REQUIRE(run(encrypt + " -out " + dir.file("oaep256.bin") + oaep256));
    REQUIRE(run(encrypt + " -out " + dir.file("oaep.bin") + " -pkeyopt rsa_padding_mode:oaep"));
    auto blob = read_file(dir.file("oaep256.bin"));
    auto unwrapped = rsa.unwrap({blob.begin(), blob.end()}, wrap_alg::rsa_oaep_256);
    REQUIRE(unwrapped);
    CHECK(unwrapped->equals(key));
    // SHA-1 OAEP in a raw file: the Python solution's wrapped-key file.
    auto legacy = read_wrapped_key_file(dir.file("oaep.bin"));
    REQUIRE(legacy);
    CHECK(legacy->legacy);
    auto source = make_local_key_source(pem_key(dir.file("key.pem")), dir.file("key.pem"));
    auto from_legacy = source->unwrap(*legacy);
    REQUIRE(from_legacy);
    CHECK(from_legacy->equals(key));
    auto ours = rsa.wrap(key, wrap_alg::rsa_oaep_256);
    REQUIRE(ours);
    write_file(dir.file("ours.bin"), {reinterpret_cast<const char*>(ours->data()), ours->size()});
    REQUIRE(run("openssl pkeyutl -decrypt -inkey " + dir.file("key.pem") + " -in " +
                dir.file("ours.bin") + " -out " + dir.file("back.bin") + oaep256));
    CHECK(read_file(dir.file("back.bin")) == read_file(dir.file("key.bin")));
  }
}
