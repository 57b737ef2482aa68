// `load`: reads each source, weakest first (custom data, config file, environment, flags), into
// one `settings`, so a stronger source overwrites a weaker one. JSON values are type-checked
// strictly; text from the environment and the command line is converted per field type.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "runtime/base/log.hpp"

namespace pqrt::config {
namespace {

using detail::entry;
using detail::fail;
using detail::field_error;
using detail::value;

std::string lower(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Reads a whole file; a leading UTF-8 byte order mark is dropped.
caf::expected<std::string> read_file(const std::string& path, const std::string& where) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return fail("cannot read " + where + ": a directory");
  std::ifstream in{path, std::ios::binary};
  if (!in) return fail("cannot read " + where + ": " + std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return fail("cannot read " + where + ": " + std::strerror(errno));
  auto text = out.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  return text;
}

// --- values -----------------------------------------------------------------------------------

const char* json_type(const rapidjson::Value& v) {
  if (v.IsString()) return "a string";
  if (v.IsBool()) return "a boolean";
  if (v.IsObject()) return "an object";
  if (v.IsArray()) return "an array";
  if (v.IsNull()) return "null";
  if (v.IsInt64() || v.IsUint64()) return "an integer";
  return "a number with a fraction or exponent";
}

const char* expected_type(kind type) {
  switch (type) {
    case kind::integer: return "an integer";
    case kind::boolean: return "true or false";
    case kind::string:
    case kind::choice: break;
  }
  return "a string";
}

// The converters write into `out` rather than return caf::expected<value>: GCC 12 with the
// sanitizers reports a false -Wmaybe-uninitialized on an expected holding this variant.

/// Takes `v` if its JSON type is the field's; integers also must fit in 64 bits.
std::optional<value> json_value(kind type, const rapidjson::Value& v) {
  if ((type == kind::string || type == kind::choice) && v.IsString())
    return value{std::string{v.GetString(), v.GetStringLength()}};
  if (type == kind::integer && v.IsInt64()) return value{v.GetInt64()};
  if (type == kind::boolean && v.IsBool()) return value{v.GetBool()};
  return std::nullopt;
}

caf::error from_json(const entry& e, const rapidjson::Value& v, const std::string& where,
                     value& out) {
  if (auto converted = json_value(e.info.type, v)) {
    out = std::move(*converted);
    return {};
  }
  if (e.info.type == kind::integer && v.IsUint64())
    return field_error(e, where, std::to_string(v.GetUint64()) + " is out of range");
  return field_error(
      e, where, std::string{"expected "} + expected_type(e.info.type) + ", got " + json_type(v));
}

/// The text as it may appear in an error: a secret's value never does.
std::string shown(const entry& e, const std::string& text) {
  return e.info.secret ? std::string{"a secret value"} : "'" + text + "'";
}

caf::error parse_integer(const entry& e, const std::string& text, const std::string& where,
                         value& out) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc::result_out_of_range)
    return field_error(e, where, shown(e, text) + " is out of range");
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    return field_error(e, where, "expected an integer, got " + shown(e, text));
  out = n;
  return {};
}

caf::error parse_boolean(const entry& e, const std::string& text, const std::string& where,
                         value& out) {
  static const std::set<std::string> yes{"true", "1", "yes", "on"};
  static const std::set<std::string> no{"false", "0", "no", "off"};
  auto word = lower(text);
  if (yes.count(word) == 0 && no.count(word) == 0)
    return field_error(e, where,
                       "expected true/false, 1/0, yes/no or on/off, got " + shown(e, text));
  out = yes.count(word) > 0;
  return {};
}

caf::error from_text(const entry& e, const std::string& text, const std::string& where,
                     value& out) {
  if (e.info.type == kind::integer) return parse_integer(e, text, where, out);
  if (e.info.type == kind::boolean) return parse_boolean(e, text, where, out);
  out = text;
  return {};
}

caf::error apply_text(settings& s, const entry& e, const std::string& text, source src) {
  auto where = describe_source(src, e.info.name);
  value v;
  if (auto err = from_text(e, text, where, v)) return err;
  return detail::assign(s, e, std::move(v), src, where);
}

// --- JSON: config file and custom data --------------------------------------------------------

caf::error unknown_field(const std::string& name, source src, const std::string& path) {
  return fail("unknown field '" + name + "' (" + describe_source(src, name, path) + ")" +
              detail::suggestion(name, src));
}

caf::error apply_member(settings& s, const rapidjson::Value::Member& m, source src,
                        const std::string& path) {
  std::string name{m.name.GetString(), m.name.GetStringLength()};
  const auto* e = detail::find_entry(name);
  if (e == nullptr) return unknown_field(name, src, path);
  if (m.value.IsNull()) return {};  // null: not set here
  auto where = describe_source(src, name, path);
  value v;
  if (auto err = from_json(*e, m.value, where, v)) return err;
  return detail::assign(s, *e, std::move(v), src, where);
}

caf::error apply_json(settings& s, std::string_view text, source src, const std::string& path) {
  auto where = describe_source(src, {}, path);
  rapidjson::Document doc;
  // Iterative: deep nesting costs heap, not stack (1 MB of "[" overflowed it).
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError())
    return fail(where + ": invalid JSON at byte " + std::to_string(doc.GetErrorOffset()) + ": " +
                rapidjson::GetParseError_En(doc.GetParseError()));
  if (!doc.IsObject()) return fail(where + ": expected a JSON object, got " + json_type(doc));
  std::set<std::string_view> seen;
  for (const auto& m : doc.GetObject()) {
    std::string_view name{m.name.GetString(), m.name.GetStringLength()};
    if (!seen.insert(name).second)
      return fail("field '" + std::string{name} + "' (" + where + "): set twice");
    if (auto err = apply_member(s, m, src, path)) return err;
  }
  return {};
}

caf::error apply_file(settings& s, const std::string& path) {
  auto text = read_file(path, describe_source(source::file, {}, path));
  if (!text) return std::move(text.error());
  return apply_json(s, *text, source::file, path);
}

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/// Standard base64 with padding; white space (line breaks) anywhere is skipped.
caf::expected<std::string> decode_base64(std::string_view text, const std::string& where) {
  std::string out;
  uint32_t bits = 0;
  size_t pending = 0;
  size_t count = 0;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = text[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) continue;
    if (c == '=' && ++padding <= 2) continue;
    if (sextet(c) < 0 || padding > 0)
      return fail(where + ": neither JSON nor base64: unexpected byte at offset " +
                  std::to_string(i));
    bits = (bits << 6) | static_cast<uint32_t>(sextet(c));
    ++count;
    pending += 6;
    if (pending >= 8) out += static_cast<char>((bits >> (pending -= 8)) & 0xFF);
  }
  if (count % 4 == 1 || (padding > 0 && (count + padding) % 4 != 0))
    return fail(where + ": neither JSON nor base64: truncated base64");
  return out;
}

caf::error apply_custom_data(settings& s, const std::string& path) {
  auto where = describe_source(source::custom_data, {}, path);
  auto text = read_file(path, where);
  if (!text) return std::move(text.error());
  auto first = text->find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (*text)[first] == '{')
    return apply_json(s, *text, source::custom_data, path);
  auto json = decode_base64(*text, where);
  if (!json) return std::move(json.error());
  return apply_json(s, *json, source::custom_data, path);
}

// --- environment and flags --------------------------------------------------------------------

std::vector<std::string> scan_environ() {
  std::vector<std::string> names;
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    std::string_view pair{*p};
    if (pair.rfind("PQRT_", 0) == 0) names.emplace_back(pair.substr(0, pair.find('=')));
  }
  return names;
}

std::optional<std::string> real_getenv(const std::string& name) {
  const char* text = std::getenv(name.c_str());
  if (text == nullptr) return std::nullopt;
  return std::string{text};
}

caf::error check_env_names(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (name.rfind("PQRT_", 0) != 0) continue;
    auto field = lower(name.substr(5));
    if (detail::find_entry(field) != nullptr && detail::env_name(field) == name) continue;
    return fail("unknown field '" + field + "' (environment variable " + name + ")" +
                detail::suggestion(field, source::env));
  }
  return {};
}

caf::error apply_env(settings& s, const inputs& in) {
  if (auto err = check_env_names(in.env_names ? in.env_names() : scan_environ())) return err;
  for (const auto& e : detail::entries()) {
    auto name = detail::env_name(e.info.name);
    auto text = in.getenv ? in.getenv(name) : real_getenv(name);
    if (!text) continue;
    if (auto err = apply_text(s, e, *text, source::env)) return err;
  }
  return {};
}

caf::error apply_flags(settings& s, const std::map<std::string, std::string>& flags) {
  for (const auto& [raw_name, text] : flags) {
    auto name = raw_name;
    std::replace(name.begin(), name.end(), '-', '_');
    const auto* e = detail::find_entry(name);
    if (e == nullptr) return unknown_field(name, source::cli, {});
    if (auto err = apply_text(s, *e, text, source::cli)) return err;
  }
  return {};
}

/// One warning per ignored field `s` holds at a value other than its default, naming the field and
/// the source that set it (the value is not shown: logger_queue_sas is a secret). None when the
/// loaded log_level is above warn: `load` runs before the logger is configured from it.
void warn_ignored(const settings& s, const inputs& in) {
  auto min_level = log::level::info;
  log::parse_level(s.log_level, min_level);
  if (min_level > log::level::warn) return;
  for (const auto& name : ignored_fields_set(s)) {
    auto it = s.origin.find(name);
    auto src = it == s.origin.end() ? source::default_value : it->second;
    const auto& path = src == source::file          ? in.config_file
                       : src == source::custom_data ? in.custom_data_file
                                                    : std::string{};
    log::warn("config",
              "field accepted for compatibility with the Python solution's config.json, ignored",
              {{"field", name}, {"source", describe_source(src, name, path)}});
  }
}

}  // namespace

caf::expected<settings> load(const inputs& in) {
  settings s;
  if (!in.custom_data_file.empty())
    if (auto err = apply_custom_data(s, in.custom_data_file)) return err;
  if (!in.config_file.empty())
    if (auto err = apply_file(s, in.config_file)) return err;
  if (auto err = apply_env(s, in)) return err;
  if (auto err = apply_flags(s, in.flags)) return err;
  warn_ignored(s, in);
  return s;
}

}  // namespace pqrt::config
