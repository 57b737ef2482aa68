#pragma once

/// The RESP wire format: pqrt's own command encoder, and hiredis's reply parser (`redisReader`)
/// behind a pqrt interface. The only place that includes hiredis.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <caf/expected.hpp>

#include "transport/redis_reply.hpp"

namespace pqrt::transport::detail {

/// Appends `cmd` as a RESP array of bulk strings (binary-safe) to `out`.
void append_command(std::string& out, const redis_command& cmd);

/// Parses replies from bytes fed in any split. One per connection; not thread-safe.
class reply_reader {
public:
  reply_reader();
  ~reply_reader();
  reply_reader(const reply_reader&) = delete;
  reply_reader& operator=(const reply_reader&) = delete;

  /// Hands received bytes to the parser (copied).
  void feed(const char* data, size_t size);

  /// The next complete reply, `nullopt` when more bytes are needed, or `bad_format` when the
  /// bytes are not RESP (the stream is then unusable).
  caf::expected<std::optional<redis_reply>> next();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace pqrt::transport::detail
