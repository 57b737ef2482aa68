#pragma once

/// A private redis-server for `pqrt --role=local` when no Redis is given: started from PATH on a
/// unix socket (mode 0700) in a fresh temporary folder, without persistence and without TCP, and
/// stopped (its folder removed) when this object goes. It dies with pqrt if pqrt is killed.

#include <memory>
#include <string>

#include <caf/expected.hpp>

namespace pqrt {

class private_redis {
public:
  /// Starts redis-server and waits until it answers; `unavailable` naming the cause otherwise.
  static caf::expected<std::unique_ptr<private_redis>> start();
  ~private_redis();
  private_redis(const private_redis&) = delete;
  private_redis& operator=(const private_redis&) = delete;

  /// `unix:///tmp/pqrt-redis-XXXXXX/redis.sock`.
  std::string url() const { return "unix://" + socket_; }

private:
  private_redis() = default;
  std::string dir_, socket_;
  int pid_ = -1;
};

}  // namespace pqrt
