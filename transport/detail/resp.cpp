#include "transport/detail/resp.hpp"

#include <new>

#include <hiredis/hiredis.h>

#include "runtime/base/error.hpp"

namespace pqrt::transport::detail {

namespace {

struct reader_deleter {
  void operator()(redisReader* reader) const { redisReaderFree(reader); }
};

struct reply_deleter {
  void operator()(void* reply) const { freeReplyObject(reply); }
};

// hiredis allocates an array's element pointers when it reads the header, before any element
// arrives: `*1420002000` alone took 11 GB. pqrt's largest replies hold thousands of elements.
constexpr int max_array_elements = 1 << 24;

redisReplyObjectFunctions* hiredis_functions = nullptr;

// hiredis's own array builder, for announced sizes up to the limit. Above it, the count goes to
// the reader's privdata (for the error text) and the null result stops the parse.
void* create_bounded_array(const redisReadTask* task, int elements) {
  if (elements <= max_array_elements) return hiredis_functions->createArray(task, elements);
  *static_cast<long long*>(task->privdata) = elements;
  return nullptr;
}

// hiredis's reply builders, with the array size bounded.
redisReplyObjectFunctions* bounded_functions() {
  static redisReplyObjectFunctions functions = [] {
    std::unique_ptr<redisReader, reader_deleter> probe{redisReaderCreate()};
    if (!probe) throw std::bad_alloc{};
    hiredis_functions = probe->fn;  // hiredis's static defaults: they outlive the probe
    auto bounded = *probe->fn;
    bounded.createArray = &create_bounded_array;
    return bounded;
  }();
  return &functions;
}

redis_reply convert(const redisReply& in) {
  switch (in.type) {
    case REDIS_REPLY_STATUS: return redis_reply::status({in.str, in.len});
    case REDIS_REPLY_ERROR: return redis_reply::error({in.str, in.len});
    case REDIS_REPLY_INTEGER: return redis_reply::number(in.integer);
    case REDIS_REPLY_STRING: return redis_reply::string({in.str, in.len});
    case REDIS_REPLY_ARRAY: break;
    default: return redis_reply::nil();
  }
  std::vector<redis_reply> items;
  items.reserve(in.elements);
  for (size_t i = 0; i < in.elements; ++i)
    items.push_back(convert(*in.element[i]));
  return redis_reply::array(std::move(items));
}

}  // namespace

void append_command(std::string& out, const redis_command& cmd) {
  out += '*';
  out += std::to_string(cmd.size());
  out += "\r\n";
  for (const auto& arg : cmd) {
    out += '$';
    out += std::to_string(arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
  }
}

struct reply_reader::impl {
  long long refused_array = -1;  ///< the size of an array header over the limit, once seen
  std::unique_ptr<redisReader, reader_deleter> reader{
      redisReaderCreateWithFunctions(bounded_functions())};
};

reply_reader::reply_reader() : impl_(std::make_unique<impl>()) {
  if (!impl_->reader) throw std::bad_alloc{};
  impl_->reader->privdata = &impl_->refused_array;
}

reply_reader::~reply_reader() = default;

void reply_reader::feed(const char* data, size_t size) {
  // Feed only fails on allocation failure or after a protocol error, which next() reports.
  if (redisReaderFeed(impl_->reader.get(), data, size) != REDIS_OK && impl_->reader->err == 0)
    throw std::bad_alloc{};
}

caf::expected<std::optional<redis_reply>> reply_reader::next() {
  void* raw = nullptr;
  if (redisReaderGetReply(impl_->reader.get(), &raw) != REDIS_OK) {
    if (impl_->refused_array >= 0)
      return make_error(errc::bad_format, "redis protocol error: an array reply of " +
                                              std::to_string(impl_->refused_array) +
                                              " elements, over the limit of " +
                                              std::to_string(max_array_elements));
    return make_error(errc::bad_format,
                      std::string{"redis protocol error: "} + impl_->reader->errstr);
  }
  if (raw == nullptr) return std::optional<redis_reply>{};
  std::unique_ptr<void, reply_deleter> owned{raw};
  return std::optional<redis_reply>{convert(*static_cast<redisReply*>(raw))};
}

}  // namespace pqrt::transport::detail
