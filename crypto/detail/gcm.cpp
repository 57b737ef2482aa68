#include "crypto/detail/gcm.hpp"

#include <algorithm>
#include <climits>
#include <utility>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "runtime/base/error.hpp"

namespace pqrt::crypto::detail {

namespace {

EVP_CIPHER_CTX* ctx_of(void* p) {
  return static_cast<EVP_CIPHER_CTX*>(p);
}

EVP_CIPHER_CTX* make_ctx(const uint8_t* key, int enc) {
  auto* ctx = EVP_CIPHER_CTX_new();
  if (ctx != nullptr && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key, nullptr, enc) == 1)
    return ctx;
  EVP_CIPHER_CTX_free(ctx);
  return nullptr;
}

// EVP lengths are int: feed large buffers in pieces.
bool update(EVP_CIPHER_CTX* ctx, uint8_t* out, const uint8_t* in, size_t size) {
  constexpr size_t max_piece = size_t{1} << 30;
  do {
    auto piece = std::min(size, max_piece);
    int len = 0;
    if (EVP_CipherUpdate(ctx, out, &len, in, static_cast<int>(piece)) != 1) return false;
    if (out != nullptr) out += piece;
    in += piece;
    size -= piece;
  } while (size > 0);
  return true;
}

bool start(EVP_CIPHER_CTX* ctx, const uint8_t* nonce, bytes_view aad, bytes_view aad2) {
  if (ctx == nullptr || EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce, -1) != 1)
    return false;
  return (aad.size == 0 || update(ctx, nullptr, aad.data, aad.size)) &&
         (aad2.size == 0 || update(ctx, nullptr, aad2.data, aad2.size));
}

}  // namespace

gcm_context::~gcm_context() {
  release();
}

gcm_context::gcm_context(gcm_context&& other) noexcept
    : seal_ctx_(std::exchange(other.seal_ctx_, nullptr)),
      open_ctx_(std::exchange(other.open_ctx_, nullptr)) {
  // nop
}

gcm_context& gcm_context::operator=(gcm_context&& other) noexcept {
  if (this != &other) {
    release();
    seal_ctx_ = std::exchange(other.seal_ctx_, nullptr);
    open_ctx_ = std::exchange(other.open_ctx_, nullptr);
  }
  return *this;
}

void gcm_context::release() noexcept {
  // EVP_CIPHER_CTX_free cleanses the key schedule.
  EVP_CIPHER_CTX_free(ctx_of(seal_ctx_));
  EVP_CIPHER_CTX_free(ctx_of(open_ctx_));
  seal_ctx_ = open_ctx_ = nullptr;
}

bool gcm_context::init(const uint8_t* key) {
  release();
  seal_ctx_ = make_ctx(key, 1);
  open_ctx_ = make_ctx(key, 0);
  return seal_ctx_ != nullptr && open_ctx_ != nullptr;
}

bool gcm_context::seal(const uint8_t* nonce, bytes_view aad, bytes_view aad2, const uint8_t* in,
                       size_t size, uint8_t* out, uint8_t* tag) {
  auto* ctx = ctx_of(seal_ctx_);
  uint8_t none[gcm_tag_size];  // GCM's final step writes no bytes; give it somewhere anyway
  int len = 0;
  return start(ctx, nonce, aad, aad2) && (size == 0 || update(ctx, out, in, size)) &&
         EVP_CipherFinal_ex(ctx, none, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, gcm_tag_size, tag) == 1;
}

bool gcm_context::open(const uint8_t* nonce, bytes_view aad, bytes_view aad2, const uint8_t* in,
                       size_t size, uint8_t* out, const uint8_t* tag) {
  auto* ctx = ctx_of(open_ctx_);
  auto* tag_bytes = const_cast<uint8_t*>(tag);  // the ctrl API is not const-correct
  uint8_t none[gcm_tag_size];
  int len = 0;
  return start(ctx, nonce, aad, aad2) && (size == 0 || update(ctx, out, in, size)) &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, gcm_tag_size, tag_bytes) == 1 &&
         EVP_CipherFinal_ex(ctx, none, &len) == 1;
}

caf::expected<std::vector<uint8_t>> gcm_seal(const std::vector<uint8_t>& key,
                                             const std::vector<uint8_t>& nonce,
                                             const std::vector<uint8_t>& aad,
                                             const std::vector<uint8_t>& plaintext) {
  if (key.size() != gcm_key_size || nonce.size() != gcm_nonce_size)
    return make_error(errc::invalid_argument, "gcm_seal: key must be 32 bytes, nonce 12 bytes");
  gcm_context ctx;
  std::vector<uint8_t> out(plaintext.size() + gcm_tag_size);
  if (!ctx.init(key.data()) ||
      !ctx.seal(nonce.data(), {aad.data(), aad.size()}, {}, plaintext.data(), plaintext.size(),
                out.data(), out.data() + plaintext.size()))
    return make_error(errc::crypto_failure, "AES-256-GCM seal failed in OpenSSL");
  return out;
}

void key_check(const uint8_t* key, size_t size, uint8_t* out) {
  static constexpr char label[] = "pqrt key check v1";
  static constexpr uint8_t no_key = 0;
  uint8_t mac[EVP_MAX_MD_SIZE] = {};
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key != nullptr ? key : &no_key, static_cast<int>(size),
       reinterpret_cast<const uint8_t*>(label), sizeof(label) - 1, mac, &mac_len);
  std::copy(mac, mac + key_check_size, out);
  cleanse(mac, sizeof(mac));
}

bool is_key_check_hex(std::string_view text) {
  return text.size() == 2 * key_check_size && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string to_hex(const uint8_t* data, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

}  // namespace pqrt::crypto::detail
