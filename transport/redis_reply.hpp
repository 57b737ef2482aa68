#pragma once

/// pqrt's own Redis reply value (RESP2): what hiredis parsed, copied out so that no hiredis type
/// leaves `transport/`. Plain data: copyable, comparable, cheap to move.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pqrt::transport {

/// One command: its name and arguments, each binary-safe.
using redis_command = std::vector<std::string>;

/// One reply.
struct redis_reply {
  /// The RESP2 reply kinds.
  enum class kind { nil, status, error, integer, string, array };

  kind type = kind::nil;
  std::string str;                    ///< status, error and bulk string text
  int64_t integer = 0;                ///< integer replies
  std::vector<redis_reply> elements;  ///< array replies

  /// A nil reply (missing key, aborted EXEC).
  static redis_reply nil() { return {}; }
  /// A status reply (`+OK`).
  static redis_reply status(std::string text) { return {kind::status, std::move(text), 0, {}}; }
  /// An error reply (`-ERR ...`).
  static redis_reply error(std::string text) { return {kind::error, std::move(text), 0, {}}; }
  /// An integer reply.
  static redis_reply number(int64_t value) { return {kind::integer, {}, value, {}}; }
  /// A bulk string reply.
  static redis_reply string(std::string text) { return {kind::string, std::move(text), 0, {}}; }
  /// An array reply.
  static redis_reply array(std::vector<redis_reply> items) {
    return {kind::array, {}, 0, std::move(items)};
  }

  /// Kind tests.
  bool is_nil() const { return type == kind::nil; }
  /// An error reply: `str` holds the server's text.
  bool is_error() const { return type == kind::error; }
  /// A bulk string: `str` holds the (binary) value.
  bool is_string() const { return type == kind::string; }
  /// An integer reply: `integer` holds it.
  bool is_integer() const { return type == kind::integer; }
  /// An array: `elements` holds the items.
  bool is_array() const { return type == kind::array; }

  /// True for the status reply `OK`.
  bool is_ok() const { return type == kind::status && str == "OK"; }

  /// True for an error reply whose first word is `code` (`NOSCRIPT`, `WRONGPASS`, `MOVED`).
  bool is_error_code(std::string_view code) const {
    return is_error() && std::string_view{str}.substr(0, code.size()) == code &&
           (str.size() == code.size() || str[code.size()] == ' ');
  }

  /// Deep equality (for tests).
  friend bool operator==(const redis_reply& a, const redis_reply& b) {
    return a.type == b.type && a.str == b.str && a.integer == b.integer && a.elements == b.elements;
  }
  /// Deep inequality.
  friend bool operator!=(const redis_reply& a, const redis_reply& b) { return !(a == b); }
};

/// A short, one-line rendering for tests and debug logs: `nil`, `+OK`, `-ERR x`, `:42`,
/// `"text"`, `[...]` (long strings and arrays abbreviated).
std::string to_string(const redis_reply& reply);

/// The name of a reply kind (`integer`, `array`, ...).
const char* kind_name(redis_reply::kind k);

/// Why `reply` is not one of `kinds` (empty when it is): a reply of another kind is a server that
/// does not speak this command's protocol, and must never be read as an empty result.
std::string wrong_kind(const redis_reply& reply, std::initializer_list<redis_reply::kind> kinds);

}  // namespace pqrt::transport
