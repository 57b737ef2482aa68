#pragma once

/// Memory for key material: zeroized (OPENSSL_cleanse) when freed or resized, locked against swap
/// where the system allows it, never copied implicitly.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace pqrt::crypto {

/// A fixed-size buffer of secret bytes. Move-only; zeroized on destruction.
class secure_buffer {
public:
  secure_buffer() = default;
  /// Allocates `size` zero bytes.
  explicit secure_buffer(size_t size);
  /// Copies `size` bytes from `data`.
  secure_buffer(const uint8_t* data, size_t size);
  ~secure_buffer();

  secure_buffer(secure_buffer&& other) noexcept;
  secure_buffer& operator=(secure_buffer&& other) noexcept;
  secure_buffer(const secure_buffer&) = delete;
  secure_buffer& operator=(const secure_buffer&) = delete;

  /// An explicit deep copy (keys handed to another owner).
  secure_buffer clone() const;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// Constant-time comparison.
  bool equals(const secure_buffer& other) const;

private:
  void release() noexcept;

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

/// A shared, immutable secret (a data key handed to many actors). Zeroized when the last owner
/// goes.
using shared_secret = std::shared_ptr<const secure_buffer>;

/// Overwrites `size` bytes at `data` with zeros in a way the optimizer keeps.
void cleanse(void* data, size_t size);

}  // namespace pqrt::crypto
