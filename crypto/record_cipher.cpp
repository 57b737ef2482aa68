#include "crypto/record_cipher.hpp"

#include <atomic>
#include <cstring>

#include <pthread.h>

#include "crypto/detail/base64.hpp"
#include "crypto/detail/gcm.hpp"
#include "crypto/random.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::crypto {

namespace {

constexpr size_t header_size = 1 + detail::key_check_size + 8;
constexpr size_t aad_size = header_size + detail::gcm_nonce_size;  // 25: all before the ciphertext
constexpr size_t check_offset = 1;
constexpr size_t index_offset = check_offset + detail::key_check_size;
constexpr size_t nonce_offset = header_size;
constexpr std::string_view header_prefix = "#pqrt-records v1 dataset=";
constexpr std::string_view header_key = " key=";

std::string record_context(uint64_t index) {
  return "record " + std::to_string(index);
}

detail::bytes_view view_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// RAND_bytes costs about 0.8 us a call in OpenSSL 3.0, as much as sealing 1 KiB, so nonces are
// drawn 64 at a time. A forked child must never reuse its parent's pool (same key, same nonce):
// a fork empties every pool by moving the generation on.
std::atomic<uint64_t> fork_generation{0};

uint64_t current_fork_generation() {
  static const bool registered = [] {
    return pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); }) == 0;
  }();
  static_cast<void>(registered);
  return fork_generation.load(std::memory_order_relaxed);
}

class nonce_pool {
public:
  caf::error next(uint8_t* out) {
    auto generation = current_fork_generation();
    if (used_ == sizeof(bytes_) || generation != generation_) {
      if (auto err = random_bytes(bytes_, sizeof(bytes_))) return err;
      used_ = 0;
      generation_ = generation;
    }
    std::memcpy(out, bytes_ + used_, detail::gcm_nonce_size);
    used_ += detail::gcm_nonce_size;
    return {};
  }

private:
  uint8_t bytes_[64 * detail::gcm_nonce_size] = {};
  size_t used_ = sizeof(bytes_);
  uint64_t generation_ = 0;
};

}  // namespace

std::string key_check_hex(const secure_buffer& key) {
  uint8_t check[detail::key_check_size];
  detail::key_check(key.data(), key.size(), check);
  return detail::to_hex(check, sizeof(check));
}

struct record_cipher::impl {
  detail::gcm_context gcm;
  size_t key_size = 0;
  bool ready = false;
  uint8_t check[detail::key_check_size] = {};
  std::string check_hex;
  std::vector<uint8_t> sealed;  ///< reused between calls: no allocation per record
  nonce_pool nonces;

  // The cheap checks before decryption: they name the likely cause (old version, wrong key).
  caf::error check_envelope(const std::vector<uint8_t>& buf, uint64_t index) const {
    if (buf.size() < record_overhead)
      return make_error(errc::bad_format, record_context(index) +
                                              ": too short: " + std::to_string(buf.size()) +
                                              " bytes, a sealed record has at least " +
                                              std::to_string(record_overhead));
    if (buf[0] != record_version)
      return make_error(errc::unsupported, record_context(index) + ": envelope version " +
                                               std::to_string(buf[0]) +
                                               ", this build reads version 1");
    if (std::memcmp(buf.data() + check_offset, check, detail::key_check_size) == 0) return {};
    return make_error(errc::auth_failed,
                      record_context(index) + ": wrong key: sealed under key " +
                          detail::to_hex(buf.data() + check_offset, detail::key_check_size) +
                          ", this key is " + check_hex);
  }

  caf::error not_ready() const {
    return make_error(errc::key_error, "record cipher: the data key must be 32 bytes, got " +
                                           std::to_string(key_size));
  }
};

record_cipher::record_cipher(shared_secret key) : impl_(std::make_unique<impl>()) {
  if (!key || key->size() != detail::gcm_key_size) {
    impl_->key_size = key ? key->size() : 0;
    return;
  }
  impl_->key_size = key->size();
  detail::key_check(key->data(), key->size(), impl_->check);
  impl_->check_hex = detail::to_hex(impl_->check, sizeof(impl_->check));
  impl_->ready = impl_->gcm.init(key->data());
}

record_cipher::~record_cipher() = default;
record_cipher::record_cipher(record_cipher&&) noexcept = default;
record_cipher& record_cipher::operator=(record_cipher&&) noexcept = default;

const std::string& record_cipher::key_check() const {
  return impl_->check_hex;
}

caf::expected<std::string> record_cipher::seal(std::string_view dataset_id, uint64_t index,
                                               std::string_view plaintext) {
  if (!impl_->ready) return impl_->not_ready();
  auto& buf = impl_->sealed;
  buf.resize(record_overhead + plaintext.size());
  buf[0] = record_version;
  std::memcpy(buf.data() + check_offset, impl_->check, detail::key_check_size);
  detail::store_be64(buf.data() + index_offset, index);
  if (auto err = impl_->nonces.next(buf.data() + nonce_offset)) return err;
  auto* ct = buf.data() + aad_size;
  if (!impl_->gcm.seal(buf.data() + nonce_offset, {buf.data(), aad_size}, view_of(dataset_id),
                       reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext.size(), ct,
                       ct + plaintext.size()))
    return make_error(errc::crypto_failure, record_context(index) + ": AES-256-GCM seal failed");
  std::string line;
  detail::base64_encode_into(buf.data(), buf.size(), line);
  return line;
}

caf::expected<std::string> record_cipher::open(std::string_view dataset_id, uint64_t index,
                                               std::string_view line) {
  if (!impl_->ready) return impl_->not_ready();
  auto& buf = impl_->sealed;
  if (!detail::base64_decode_into(line, buf))
    return make_error(errc::bad_format, record_context(index) + ": not base64");
  if (auto err = impl_->check_envelope(buf, index)) return err;
  auto size = buf.size() - record_overhead;
  const auto* ct = buf.data() + aad_size;
  std::string plaintext(size, '\0');
  auto* out = reinterpret_cast<uint8_t*>(plaintext.data());
  if (!impl_->gcm.open(buf.data() + nonce_offset, {buf.data(), aad_size}, view_of(dataset_id), ct,
                       size, out, ct + size)) {
    cleanse(out, size);
    return make_error(errc::auth_failed, record_context(index) +
                                             ": authentication failed: "
                                             "bytes changed, or sealed for another data set");
  }
  // Authenticated, so the index in the header is the one the record was sealed for.
  auto sealed_index = detail::load_be64(buf.data() + index_offset);
  if (sealed_index == index) return plaintext;
  cleanse(out, size);
  return make_error(errc::wrong_binding, record_context(index) + ": sealed for index " +
                                             std::to_string(sealed_index) +
                                             ": records swapped or reordered");
}

cipher_set::cipher_set(shared_secret key)
    : key_(std::move(key)), check_(key_ ? key_check_hex(*key_) : std::string{}) {}

template <class F>
auto cipher_set::borrowed(F&& f) {
  std::unique_ptr<record_cipher> cipher;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!free_.empty()) {
      cipher = std::move(free_.back());
      free_.pop_back();
    } else {
      ++made_;
    }
  }
  if (!cipher) cipher = std::make_unique<record_cipher>(key_);
  auto result = f(*cipher);
  std::lock_guard<std::mutex> guard{mutex_};
  free_.push_back(std::move(cipher));
  return result;
}

caf::expected<std::string> cipher_set::seal(std::string_view dataset_id, uint64_t index,
                                            std::string_view plaintext) {
  return borrowed([&](record_cipher& c) { return c.seal(dataset_id, index, plaintext); });
}

caf::expected<std::string> cipher_set::open(std::string_view dataset_id, uint64_t index,
                                            std::string_view line) {
  return borrowed([&](record_cipher& c) { return c.open(dataset_id, index, line); });
}

size_t cipher_set::made() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return made_;
}

caf::expected<uint64_t> sealed_index(std::string_view line) {
  // Only the first 36 base64 characters (27 bytes) are needed: they hold the 25-byte header.
  std::vector<uint8_t> head;
  if (line.size() < 36 || !detail::base64_decode_into(line.substr(0, 36), head) ||
      head.size() < index_offset + 8 || head[0] != record_version)
    return make_error(errc::bad_format, "not a sealed record");
  return detail::load_be64(head.data() + index_offset);
}

std::string records_header(std::string_view dataset_id, std::string_view key_check) {
  std::string line{header_prefix};
  line.append(dataset_id).append(header_key).append(key_check);
  return line;
}

caf::expected<records_header_info> parse_records_header(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.remove_suffix(1);
  auto key_at = line.rfind(header_key);
  if (line.substr(0, header_prefix.size()) != header_prefix || key_at == std::string_view::npos ||
      key_at < header_prefix.size())
    return make_error(errc::bad_format, std::string{"not a records header: expected \""} +
                                            std::string{header_prefix} + "<id> key=<8 hex>\"");
  auto check = line.substr(key_at + header_key.size());
  if (!detail::is_key_check_hex(check))
    return make_error(errc::bad_format, "records header: key check \"" + std::string{check} +
                                            "\" is not 8 lower-case hex digits");
  auto id = line.substr(header_prefix.size(), key_at - header_prefix.size());
  return records_header_info{std::string{id}, std::string{check}};
}

}  // namespace pqrt::crypto
