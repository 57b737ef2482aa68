#include "runtime/base/error.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace pqrt {

const char* to_string(errc code) {
  switch (code) {
    case errc::ok: return "ok";
    case errc::invalid_argument: return "invalid_argument";
    case errc::config_invalid: return "config_invalid";
    case errc::io_error: return "io_error";
    case errc::bad_format: return "bad_format";
    case errc::auth_failed: return "auth_failed";
    case errc::wrong_binding: return "wrong_binding";
    case errc::truncated: return "truncated";
    case errc::key_error: return "key_error";
    case errc::unsupported: return "unsupported";
    case errc::crypto_failure: return "crypto_failure";
    case errc::restart_limit: return "restart_limit";
    case errc::not_available: return "not_available";
    case errc::timeout: return "timeout";
    case errc::unavailable: return "unavailable";
    case errc::job_failed: return "job_failed";
    case errc::redis_error: return "redis_error";
    case errc::tls_failed: return "tls_failed";
    case errc::not_found: return "not_found";
    case errc::conflict: return "conflict";
    case errc::too_large: return "too_large";
    case errc::denied: return "denied";
    case errc::protocol_error: return "protocol_error";
  }
  return "unknown";
}

caf::error make_error(errc code, std::string context) {
  if (context.empty()) return caf::error{static_cast<uint8_t>(code), error_category};
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(context))};
}

bool is(const caf::error& err, errc code) {
  // No error is no code (CAF 0.17's category() of an empty error reads through a null pointer).
  return err && err.category() == error_category && err.code() == static_cast<uint8_t>(code);
}

bool is_permanent(const caf::error& err) {
  return is(err, errc::not_found) || is(err, errc::denied) || is(err, errc::invalid_argument) ||
         is(err, errc::key_error) || is(err, errc::bad_format) || is(err, errc::config_invalid);
}

std::string context_of(const caf::error& err) {
  if (err.category() != error_category) return {};
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) return ctx.get_as<std::string>(0);
  return {};
}

std::string render(const caf::error& err) {
  if (!err) return "ok";
  if (err.category() != error_category) return caf::to_string(err);
  auto text = std::string{to_string(static_cast<errc>(err.code()))};
  auto ctx = context_of(err);
  if (!ctx.empty()) text += ": " + ctx;
  return text;
}

}  // namespace pqrt
