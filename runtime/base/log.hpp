#pragma once

/// Logging: one line per event on stderr, JSON when stderr is not a terminal (or when asked),
/// text otherwise; a level and a component on every line; secrets redacted.
///
/// Redaction has two layers: the values registered with `add_secret` (keys, SAS tokens,
/// passwords, client secrets, bearer tokens) are replaced wherever they appear, and the value of
/// any field whose name says it is secret (`password`, `secret`, `token`, `sas`, `account_key`)
/// or of a `sig=` URL parameter is replaced too.

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pqrt::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };
enum class format { text, json };

/// One `key=value` field of a line.
using field = std::pair<std::string_view, std::string>;

/// Sets the lowest level written and the line format. Thread-safe.
void configure(level min_level, format fmt);

/// JSON unless stderr is a terminal.
format default_format();

/// Parses "debug|info|warn|error"; false if it is none of them.
bool parse_level(std::string_view text, level& out);
/// Parses "json|text|auto" ("auto": default_format()); false otherwise.
bool parse_format(std::string_view text, format& out);

/// Registers a secret value: it never appears in a line (values shorter than 4 bytes ignored).
void add_secret(std::string value);

/// Replaces registered secrets and `sig=` parameters in `text` with "***".
std::string redact(std::string_view text);

/// Renders one line (without writing it): for tests and for the writer below.
std::string render(level lvl, std::string_view component, std::string_view message,
                   std::initializer_list<field> fields, format fmt);

/// A copy of every line written, as JSON (whatever the stderr format), already redacted: for a
/// log sink (runtime/log_shipper.hpp). It runs on the logging thread and must not block or log.
/// Lines written while `tap_muted` holds on the writing thread (the sink's own) are not tapped.
using tap_fn = std::function<void(const std::string& json_line)>;
/// Installs (or, with an empty function, removes) the tap. Thread-safe; a line being tapped
/// while the tap is removed finishes first.
void set_tap(tap_fn tap);
/// While an instance lives, the lines this thread writes are not tapped.
class tap_muted {
public:
  tap_muted();
  ~tap_muted();
  tap_muted(const tap_muted&) = delete;
  tap_muted& operator=(const tap_muted&) = delete;
};

/// Writes one line if `lvl` is at or above the configured level.
void write(level lvl, std::string_view component, std::string_view message,
           std::initializer_list<field> fields = {});

inline void debug(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  write(level::debug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  write(level::info, c, m, f);
}
inline void warn(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  write(level::warn, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  write(level::error, c, m, f);
}

/// `text` as a JSON string literal (quoted, escaped), for JSON that pqrt writes elsewhere.
std::string json_string(std::string_view text);

}  // namespace pqrt::log
