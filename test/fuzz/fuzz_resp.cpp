// The Redis reply path (transport/detail/resp.cpp): bytes a server sent, through hiredis's reader
// and pqrt's conversion. Fed at once and one byte at a time, they must give the same replies
// and fail at the same point.
#include <algorithm>
#include <initializer_list>
#include <vector>

#include "fuzz.hpp"
#include "transport/detail/resp.hpp"
#include "transport/redis_reply.hpp"

namespace {

using pqrt::transport::redis_reply;

struct outcome {
  std::vector<redis_reply> replies;
  bool failed = false;
};

// Takes every complete reply after each feed of `step` bytes.
outcome read_all(const uint8_t* data, size_t size, size_t step) {
  pqrt::transport::detail::reply_reader reader;
  outcome out;
  for (size_t at = 0; at < size && !out.failed; at += step) {
    reader.feed(reinterpret_cast<const char*>(data) + at, std::min(step, size - at));
    for (;;) {
      auto next = reader.next();
      if (!next) {
        out.failed = true;
        break;
      }
      if (!*next) break;
      out.replies.push_back(std::move(**next));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto whole = read_all(data, size, size);
  auto bytewise = read_all(data, size, 1);
  PQRT_FUZZ_CHECK(whole.failed == bytewise.failed);
  PQRT_FUZZ_CHECK(whole.replies == bytewise.replies);
  using kind = redis_reply::kind;
  for (const auto& reply : whole.replies) {
    (void)to_string(reply);
    (void)wrong_kind(reply, {kind::array, kind::nil});
    (void)reply.is_error_code("MOVED");
  }
  return 0;
}
