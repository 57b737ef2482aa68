#pragma once

// What several actor suites share: a temporary directory for local storage, a key source that
// hands out one known data key, and a request answered on the deterministic scheduler.

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <caf/all.hpp>

#include "crypto/key_wrap.hpp"
#include "crypto/record_cipher.hpp"
#include "crypto/secure_buffer.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::test {

/// A fresh directory under /tmp, removed with its contents at the end of its scope.
struct temp_dir {
  std::string path;
  explicit temp_dir(const std::string& label) {
    std::string pattern = "/tmp/pqrt-" + label + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// Hands out a copy of one data key, counting how often it is asked.
class fixed_key_source : public crypto::key_source {
public:
  fixed_key_source(crypto::shared_secret key, std::shared_ptr<int> unwraps)
      : key_(std::move(key)), unwraps_(std::move(unwraps)) {}
  caf::expected<crypto::secure_buffer> unwrap(const crypto::wrapped_key&) override {
    ++*unwraps_;
    return crypto::secure_buffer{key_->data(), key_->size()};
  }
  std::string describe() const override { return "test key"; }

private:
  crypto::shared_secret key_;
  std::shared_ptr<int> unwraps_;
};

/// A fresh data key (a test fails if none can be made).
inline crypto::shared_secret fresh_data_key() {
  auto k = crypto::generate_data_key();
  if (!k) throw std::runtime_error("no data key");
  return std::make_shared<const crypto::secure_buffer>(std::move(*k));
}

/// A wrapped-key file naming `key`'s key check (its wrapped bytes mean nothing: the key source
/// above does not read them).
inline std::string wrapped_key_file(const crypto::shared_secret& key) {
  crypto::wrapped_key wrapped;
  wrapped.kid = "test";
  wrapped.key_check = crypto::key_check_hex(*key);
  wrapped.wrapped = {1, 2, 3};
  return crypto::to_json(wrapped);
}

/// Sends `xs` to `to` as a request, runs the scheduler (`run`) until it is idle, and returns the
/// answer, or its error.
template <class T, class Run, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, Run run, const caf::actor& to, Ts... xs) {
  caf::expected<T> out{make_error(errc::timeout, "no answer")};
  sys.spawn([&](caf::event_based_actor* a) {
    a->request(to, caf::infinite, xs...)
        .then([&](T& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
  });
  run();
  return out;
}

}  // namespace pqrt::test
