// The Redis reply path (transport/detail/resp.cpp): bytes a server sent, through hiredis's reader
// and pqrt's conversion. Each input is used twice:
// * as the bytes themselves: fed at once and one byte at a time, they must give the same
//   replies and fail at the same point;
// * as a description of replies (type, length, content bytes), encoded as well-formed RESP, so
//   every bulk length is one mutation away whatever the content: the replies read back must be
//   exactly the ones described, at once and byte by byte.
#include <algorithm>
#include <initializer_list>
#include <string>
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
outcome read_all(const char* data, size_t size, size_t step) {
  pqrt::transport::detail::reply_reader reader;
  outcome out;
  for (size_t at = 0; at < size && !out.failed; at += step) {
    reader.feed(data + at, std::min(step, size - at));
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

/// Reads a description of replies and writes them as RESP.
class describer {
public:
  describer(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool done() const { return at_ >= size_; }

  /// One reply, appended to `wire` in RESP; arrays nest at most 8 deep, as hiredis reads them.
  redis_reply next(std::string& wire, int depth = 0) {
    switch (byte() % 6) {
      case 0: return line('+', wire, redis_reply::status);
      case 1: return line('-', wire, redis_reply::error);
      case 2: {
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i)
          bits = bits << 8 | byte();
        auto value = static_cast<int64_t>(bits);
        wire += ':' + std::to_string(value) + "\r\n";
        return redis_reply::number(value);
      }
      case 3: {
        auto text = take(byte());  // any bytes, CR and LF included
        wire += '$' + std::to_string(text.size()) + "\r\n" + text + "\r\n";
        return redis_reply::string(text);
      }
      case 4: wire += depth % 2 == 0 ? "$-1\r\n" : "*-1\r\n"; return redis_reply::nil();
      default: {
        if (depth >= 8) return next(wire, depth);
        size_t count = byte() % 8;
        wire += '*' + std::to_string(count) + "\r\n";
        std::vector<redis_reply> items;
        for (size_t i = 0; i < count; ++i)
          items.push_back(next(wire, depth + 1));
        return redis_reply::array(std::move(items));
      }
    }
  }

private:
  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }

  std::string take(size_t count) {
    count = std::min(count, size_ - std::min(at_, size_));
    std::string out{reinterpret_cast<const char*>(data_) + at_, count};
    at_ += count;
    return out;
  }

  template <class Make>
  redis_reply line(char type, std::string& wire, Make make) {
    auto text = take(byte() % 64);
    std::replace(text.begin(), text.end(), '\r', ' ');
    std::replace(text.begin(), text.end(), '\n', ' ');
    wire += type + text + "\r\n";
    return make(text);
  }

  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

void check_raw(const uint8_t* data, size_t size) {
  const auto* text = reinterpret_cast<const char*>(data);
  auto whole = read_all(text, size, size);
  auto bytewise = read_all(text, size, 1);
  PQRT_FUZZ_CHECK(whole.failed == bytewise.failed);
  PQRT_FUZZ_CHECK(whole.replies == bytewise.replies);
  using kind = redis_reply::kind;
  for (const auto& reply : whole.replies) {
    (void)to_string(reply);
    (void)wrong_kind(reply, {kind::array, kind::nil});
    (void)reply.is_error_code("MOVED");
  }
}

void check_described(const uint8_t* data, size_t size) {
  describer description{data, size};
  std::string wire;
  std::vector<redis_reply> expected;
  while (!description.done() && expected.size() < 64)
    expected.push_back(description.next(wire));
  for (size_t step : {wire.size(), size_t{1}}) {
    auto got = read_all(wire.data(), wire.size(), std::max<size_t>(step, 1));
    PQRT_FUZZ_CHECK(!got.failed);
    PQRT_FUZZ_CHECK(got.replies == expected);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_raw(data, size);
  check_described(data, size);
  return 0;
}
