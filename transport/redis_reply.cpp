#include "transport/redis_reply.hpp"

namespace pqrt::transport {

namespace {

constexpr size_t max_shown = 64;

std::string abbreviate(const std::string& text) {
  if (text.size() <= max_shown) return text;
  return text.substr(0, max_shown) + "...(" + std::to_string(text.size()) + " bytes)";
}

}  // namespace

std::string to_string(const redis_reply& reply) {
  using kind = redis_reply::kind;
  switch (reply.type) {
    case kind::nil: return "nil";
    case kind::status: return "+" + abbreviate(reply.str);
    case kind::error: return "-" + abbreviate(reply.str);
    case kind::integer: return ":" + std::to_string(reply.integer);
    case kind::string: return "\"" + abbreviate(reply.str) + "\"";
    case kind::array: break;
  }
  std::string out = "[";
  for (size_t i = 0; i < reply.elements.size() && i < 8; ++i)
    out += (i ? ", " : "") + to_string(reply.elements[i]);
  if (reply.elements.size() > 8) out += ", ...(" + std::to_string(reply.elements.size()) + ")";
  return out + "]";
}

const char* kind_name(redis_reply::kind k) {
  using kind = redis_reply::kind;
  switch (k) {
    case kind::nil: return "nil";
    case kind::status: return "status";
    case kind::error: return "error";
    case kind::integer: return "integer";
    case kind::string: return "string";
    case kind::array: return "array";
  }
  return "unknown";
}

std::string wrong_kind(const redis_reply& reply, std::initializer_list<redis_reply::kind> kinds) {
  std::string wanted;
  for (auto k : kinds) {
    if (k == reply.type) return {};
    wanted += (wanted.empty() ? "" : " or ") + std::string{kind_name(k)};
  }
  // Strings are not shown: they may be job data.
  auto got =
      reply.is_string() || reply.is_array() ? std::string{kind_name(reply.type)} : to_string(reply);
  return "expected " + wanted + ", got " + got;
}

}  // namespace pqrt::transport
