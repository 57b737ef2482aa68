#include "crypto/legacy.hpp"

#include <memory>
#include <vector>

#include <openssl/evp.h>

#include "crypto/base64.hpp"
#include "crypto/detail/legacy.hpp"
#include "crypto/random.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::crypto {

namespace {

constexpr size_t block_size = 16;
constexpr size_t key_size = 32;

struct ctx_deleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, ctx_deleter>;

caf::error check_key(const secure_buffer& key) {
  if (key.size() == key_size) return {};
  return make_error(errc::key_error,
                    "legacy cipher: the key must be 32 bytes, got " + std::to_string(key.size()));
}

// AES-256-CBC without padding over whole blocks; `in` and `out` may alias.
bool cbc(const secure_buffer& key, const uint8_t* iv, int enc, const uint8_t* in, size_t size,
         uint8_t* out) {
  ctx_ptr ctx{EVP_CIPHER_CTX_new()};
  int len = 0;
  int last = 0;
  return ctx &&
         EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv, enc) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
         EVP_CipherUpdate(ctx.get(), out, &len, in, static_cast<int>(size)) == 1 &&
         EVP_CipherFinal_ex(ctx.get(), out + len, &last) == 1;
}

}  // namespace

caf::expected<std::string> legacy_decrypt_line(const secure_buffer& key, std::string_view line) {
  if (auto err = check_key(key)) return err;
  auto bytes = base64_decode(line);
  if (!bytes) return make_error(errc::bad_format, "legacy line: not base64");
  if (bytes->size() < block_size || bytes->size() % block_size != 0)
    return make_error(errc::bad_format, "legacy line: " + std::to_string(bytes->size()) +
                                            " bytes, not a 16-byte IV and whole AES blocks");
  auto size = bytes->size() - block_size;
  std::string record(size, '\0');
  auto* out = reinterpret_cast<uint8_t*>(record.data());
  if (size > 0 && !cbc(key, bytes->data(), 0, bytes->data() + block_size, size, out))
    return make_error(errc::crypto_failure, "legacy line: AES-256-CBC decryption failed");
  auto end = record.find_last_not_of('\0');
  record.resize(end == std::string::npos ? 0 : end + 1);
  return record;
}

caf::expected<std::string> legacy_encrypt_line(const secure_buffer& key, std::string_view record) {
  uint8_t iv[block_size];
  if (auto err = random_bytes(iv, sizeof(iv))) return err;
  return detail::legacy_encrypt_with_iv(key, iv, record);
}

namespace detail {

caf::expected<std::string> legacy_encrypt_with_iv(const secure_buffer& key, const uint8_t* iv,
                                                  std::string_view record) {
  if (auto err = check_key(key)) return err;
  // As the Python solution padded: NUL bytes up to the next block, a whole block when aligned.
  auto padded = (record.size() / block_size + 1) * block_size;
  std::vector<uint8_t> bytes(block_size + padded, 0);
  std::copy(iv, iv + block_size, bytes.begin());
  std::copy(record.begin(), record.end(), bytes.begin() + block_size);
  auto* body = bytes.data() + block_size;
  if (!cbc(key, iv, 1, body, padded, body))
    return make_error(errc::crypto_failure, "legacy line: AES-256-CBC encryption failed");
  return base64_encode(bytes.data(), bytes.size());
}

}  // namespace detail

}  // namespace pqrt::crypto
