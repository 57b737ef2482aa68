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

}  // namespace pqrt::transport
