#include "crypto/key_wrap.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/detail/gcm.hpp"
#include "crypto/random.hpp"
#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::crypto {

namespace {

template <class T, void (*Free)(T*)>
struct openssl_deleter {
  void operator()(T* p) const { Free(p); }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY, EVP_PKEY_free>>;
using pkey_ctx_ptr =
    std::unique_ptr<EVP_PKEY_CTX, openssl_deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO, BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BIGNUM, BN_free>>;
using param_bld_ptr =
    std::unique_ptr<OSSL_PARAM_BLD, openssl_deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using param_ptr = std::unique_ptr<OSSL_PARAM, openssl_deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using decoder_ptr =
    std::unique_ptr<OSSL_DECODER_CTX, openssl_deleter<OSSL_DECODER_CTX, OSSL_DECODER_CTX_free>>;

constexpr int min_wrap_bits = 2048;
constexpr off_t max_key_file_size = 1024 * 1024;

// The reason OpenSSL gives for its last failure; clears the queue so it cannot leak into the
// next call's diagnosis.
std::string openssl_reason() {
  auto code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "no reason given";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Never prompt on a terminal for a passphrase.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

bio_ptr memory_bio(std::string_view bytes) {
  return bio_ptr{BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()))};
}

// An RSA public key in PKCS#1 form ("RSA PUBLIC KEY"), which PEM_read_bio_PUBKEY does not read.
EVP_PKEY* decode_pkcs1_public(std::string_view pem) {
  EVP_PKEY* pkey = nullptr;
  decoder_ptr dctx{OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", "type-specific", "RSA",
                                                 EVP_PKEY_PUBLIC_KEY, nullptr, nullptr)};
  auto bio = memory_bio(pem);
  if (dctx && bio && OSSL_DECODER_from_bio(dctx.get(), bio.get()) == 1) return pkey;
  EVP_PKEY_free(pkey);
  return nullptr;
}

bool set_oaep(EVP_PKEY_CTX* ctx, wrap_alg alg) {
  const auto* md = alg == wrap_alg::rsa_oaep_256 ? EVP_sha256() : EVP_sha1();
  return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
}

caf::error io_failure(const std::string& what, const std::string& path) {
  return make_error(errc::io_error, what + " " + path + ": " + std::strerror(errno));
}

// The PEM text of a private key is as secret as the key: it goes straight into a secure_buffer.
caf::expected<secure_buffer> read_secret_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_failure("cannot read key file", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size > max_key_file_size) {
    ::close(fd);
    return make_error(errc::key_error, path + ": not a key file (larger than 1 MiB)");
  }
  secure_buffer text{static_cast<size_t>(st.st_size)};
  size_t have = 0;
  while (have < text.size()) {
    auto got = ::read(fd, text.data() + have, text.size() - have);
    if (got <= 0) break;
    have += static_cast<size_t>(got);
  }
  ::close(fd);
  if (have != text.size()) return make_error(errc::io_error, "cannot read key file " + path);
  return text;
}

}  // namespace

// --- algorithms and data keys ----------------------------------------------------------------

const char* to_string(wrap_alg alg) {
  return alg == wrap_alg::rsa_oaep_256 ? "RSA-OAEP-256" : "RSA-OAEP";
}

caf::expected<wrap_alg> parse_wrap_alg(std::string_view name) {
  if (name == "RSA-OAEP-256") return wrap_alg::rsa_oaep_256;
  if (name == "RSA-OAEP") return wrap_alg::rsa_oaep;
  return make_error(errc::unsupported, "key wrapping algorithm \"" + std::string{name} +
                                           "\": pqrt knows RSA-OAEP-256 and RSA-OAEP");
}

caf::expected<secure_buffer> generate_data_key() {
  secure_buffer key{data_key_size};
  if (auto err = random_bytes(key.data(), key.size())) return err;
  return key;
}

// --- rsa_key ---------------------------------------------------------------------------------

struct rsa_key::impl {
  pkey_ptr pkey;
  bool has_private = false;

  // Takes ownership of `pkey`; only RSA keys are accepted.
  static caf::expected<rsa_key> make(EVP_PKEY* pkey, bool has_private) {
    pkey_ptr owned{pkey};
    if (EVP_PKEY_is_a(pkey, "RSA") != 1) {
      const char* type = EVP_PKEY_get0_type_name(pkey);
      return make_error(errc::key_error, std::string{"not an RSA key but "} +
                                             (type != nullptr ? type : "another type"));
    }
    rsa_key key;
    key.impl_ = std::make_unique<impl>();
    key.impl_->pkey = std::move(owned);
    key.impl_->has_private = has_private;
    return key;
  }
};

rsa_key::rsa_key() = default;
rsa_key::~rsa_key() = default;
rsa_key::rsa_key(rsa_key&&) noexcept = default;
rsa_key& rsa_key::operator=(rsa_key&&) noexcept = default;

caf::expected<rsa_key> rsa_key::generate(int bits) {
  if (bits < min_wrap_bits || bits > 16384)
    return make_error(errc::key_error, "RSA key size " + std::to_string(bits) +
                                           " bits out of range (2048 to 16384)");
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)};
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) <= 0 ||
      EVP_PKEY_generate(ctx.get(), &pkey) <= 0)
    return make_error(errc::key_error, "RSA key generation failed: " + openssl_reason());
  return impl::make(pkey, true);
}

caf::expected<rsa_key> rsa_key::load_pem_file(const std::string& path) {
  auto text = read_secret_file(path);
  if (!text) return text.error();
  auto key = from_pem({reinterpret_cast<const char*>(text->data()), text->size()});
  if (!key) return make_error(errc::key_error, path + ": " + context_of(key.error()));
  return key;
}

caf::expected<rsa_key> rsa_key::from_pem(std::string_view pem) {
  if (pem.find("ENCRYPTED") != std::string_view::npos)
    return make_error(errc::key_error,
                      "the private key is protected by a passphrase; pqrt reads "
                      "unencrypted keys (openssl pkey -in k.pem -out plain.pem)");
  auto bio = memory_bio(pem);
  if (auto* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr))
    return impl::make(pkey, true);
  bio = memory_bio(pem);
  if (auto* pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr))
    return impl::make(pkey, false);
  if (auto* pkey = decode_pkcs1_public(pem)) return impl::make(pkey, false);
  ERR_clear_error();
  return make_error(errc::key_error,
                    "no RSA key in the PEM text (expected PRIVATE KEY, "
                    "RSA PRIVATE KEY, PUBLIC KEY or RSA PUBLIC KEY)");
}

caf::expected<rsa_key> rsa_key::from_modulus_exponent(const std::vector<uint8_t>& n,
                                                      const std::vector<uint8_t>& e) {
  if (n.empty() || e.empty())
    return make_error(errc::key_error, "RSA public key: empty modulus or exponent");
  bn_ptr bn_n{BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr)};
  bn_ptr bn_e{BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr)};
  // OpenSSL takes any number as a modulus (zero included, whose key has 0 bits); an RSA modulus
  // is an odd product of two primes and a public exponent is odd and at least 3.
  if (bn_n && bn_e && (!BN_is_odd(bn_n.get()) || BN_num_bits(bn_n.get()) < 16))
    return make_error(errc::key_error, "RSA public key: the modulus is not an RSA modulus (" +
                                           std::to_string(BN_num_bits(bn_n.get())) + " bits, " +
                                           (BN_is_odd(bn_n.get()) ? "odd" : "even") + ")");
  if (bn_e && bn_n &&
      (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get()) || BN_cmp(bn_e.get(), bn_n.get()) >= 0))
    return make_error(errc::key_error,
                      "RSA public key: the exponent is not an RSA exponent (odd, 3 or more, "
                      "below the modulus)");
  param_bld_ptr bld{OSSL_PARAM_BLD_new()};
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return make_error(errc::key_error, "RSA public key: " + openssl_reason());
  param_ptr params{OSSL_PARAM_BLD_to_param(bld.get())};
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)};
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return make_error(errc::key_error,
                      "RSA public key from modulus and exponent: " + openssl_reason());
  return impl::make(pkey, false);
}

bool rsa_key::has_private() const {
  return impl_ && impl_->has_private;
}

int rsa_key::bits() const {
  return impl_ ? EVP_PKEY_get_bits(impl_->pkey.get()) : 0;
}

void* rsa_key::native_handle() const {
  return impl_ ? impl_->pkey.get() : nullptr;
}

std::string rsa_key::key_id() const {
  if (!impl_) return {};
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(impl_->pkey.get(), &der);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  bool ok = size > 0 && EVP_Digest(der, size, digest, &digest_size, EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  if (!ok) return {};
  return "local:sha256:" + detail::to_hex(digest, digest_size);
}

namespace {

// Creates `path` (never replacing a file) and writes PEM into it; removes it on failure.
template <class Write>
caf::error write_pem_file(const std::string& path, mode_t mode, Write write) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return io_failure("cannot create", path);
  bio_ptr bio{BIO_new_fd(fd, BIO_CLOSE)};
  if (!bio) ::close(fd);
  bool ok = bio && write(bio.get()) == 1 && BIO_flush(bio.get()) == 1;
  bio.reset();
  if (ok) return {};
  ::unlink(path.c_str());
  return make_error(errc::io_error, "cannot write " + path + ": " + openssl_reason());
}

}  // namespace

caf::error rsa_key::write_private_pem(const std::string& path) const {
  if (!has_private())
    return make_error(errc::key_error,
                      "cannot write " + path + ": this RSA key has no private part");
  auto* pkey = impl_->pkey.get();
  return write_pem_file(path, 0600, [pkey](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

caf::error rsa_key::write_public_pem(const std::string& path) const {
  if (!impl_) return make_error(errc::key_error, "cannot write " + path + ": no RSA key");
  auto* pkey = impl_->pkey.get();
  return write_pem_file(path, 0644, [pkey](BIO* bio) { return PEM_write_bio_PUBKEY(bio, pkey); });
}

caf::expected<std::vector<uint8_t>> rsa_key::wrap(const secure_buffer& key, wrap_alg alg) const {
  if (!impl_) return make_error(errc::key_error, "wrap: no RSA key");
  if (bits() < min_wrap_bits)
    return make_error(errc::key_error, "RSA key of " + std::to_string(bits()) +
                                           " bits is too small to wrap a data key (2048 at least)");
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr)};
  size_t size = 0;
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 || !set_oaep(ctx.get(), alg) ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &size, key.data(), key.size()) <= 0)
    return make_error(errc::key_error,
                      std::string{"wrap with "} + to_string(alg) + ": " + openssl_reason());
  std::vector<uint8_t> wrapped(size);
  if (EVP_PKEY_encrypt(ctx.get(), wrapped.data(), &size, key.data(), key.size()) <= 0)
    return make_error(errc::key_error,
                      std::string{"wrap with "} + to_string(alg) + ": " + openssl_reason());
  wrapped.resize(size);
  return wrapped;
}

caf::expected<secure_buffer> rsa_key::unwrap(const std::vector<uint8_t>& wrapped,
                                             wrap_alg alg) const {
  if (!has_private())
    return make_error(errc::key_error, "unwrap: the RSA key " + key_id() + " has no private part");
  auto modulus = static_cast<size_t>(EVP_PKEY_get_size(impl_->pkey.get()));
  if (wrapped.size() != modulus)
    return make_error(errc::key_error, "unwrap: the wrapped key has " +
                                           std::to_string(wrapped.size()) +
                                           " bytes, this RSA key's ciphertexts have " +
                                           std::to_string(modulus) + ": wrapped by another key");
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr)};
  secure_buffer out{modulus};
  size_t size = out.size();
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 || !set_oaep(ctx.get(), alg) ||
      EVP_PKEY_decrypt(ctx.get(), out.data(), &size, wrapped.data(), wrapped.size()) <= 0) {
    ERR_clear_error();  // the OAEP detail would only help an attacker
    return make_error(errc::key_error, std::string{"cannot unwrap the data key with "} + key_id() +
                                           " (" + to_string(alg) +
                                           "): wrong key, wrong algorithm or changed bytes");
  }
  return secure_buffer{out.data(), size};
}

}  // namespace pqrt::crypto
