#include "crypto/secure_buffer.hpp"

#include <cstring>
#include <new>
#include <utility>

#include <openssl/crypto.h>
#include <sys/mman.h>

namespace pqrt::crypto {

void cleanse(void* data, size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

secure_buffer::secure_buffer(size_t size) : size_(size) {
  if (size_ == 0) return;
  data_ = new uint8_t[size_]();
  // Best effort: an unprivileged process may exceed RLIMIT_MEMLOCK; the key is still zeroized.
  static_cast<void>(::mlock(data_, size_));
}

secure_buffer::secure_buffer(const uint8_t* data, size_t size) : secure_buffer(size) {
  if (size > 0) std::memcpy(data_, data, size);
}

secure_buffer::~secure_buffer() {
  release();
}

secure_buffer::secure_buffer(secure_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {
  // nop
}

secure_buffer& secure_buffer::operator=(secure_buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

secure_buffer secure_buffer::clone() const {
  return secure_buffer{data_, size_};
}

bool secure_buffer::equals(const secure_buffer& other) const {
  return size_ == other.size_ && (size_ == 0 || CRYPTO_memcmp(data_, other.data_, size_) == 0);
}

void secure_buffer::release() noexcept {
  if (data_ == nullptr) return;
  cleanse(data_, size_);
  static_cast<void>(::munlock(data_, size_));
  delete[] data_;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace pqrt::crypto
