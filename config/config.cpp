// The schema table built from config/fields.def, and everything that reads a loaded `settings`:
// require, dump, secret_values, the command-line options. Parsing the sources is config_parse.cpp.

#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <boost/program_options.hpp>

#include "config/schema.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::config {
namespace detail {
namespace {

/// True when `def` is one of the '|'-separated `choices` (checked at compile time per field).
constexpr bool has_choice(std::string_view def, std::string_view choices) {
  while (true) {
    auto bar = choices.find('|');
    if (choices.substr(0, bar) == def) return true;
    if (bar == std::string_view::npos) return false;
    choices.remove_prefix(bar + 1);
  }
}

std::vector<std::string> split_choices(std::string_view choices) {
  std::vector<std::string> out;
  if (choices.empty()) return out;
  while (true) {
    auto bar = choices.find('|');
    out.emplace_back(choices.substr(0, bar));
    if (bar == std::string_view::npos) return out;
    choices.remove_prefix(bar + 1);
  }
}

field_info make_info(const char* name, kind type, bool secret, std::string_view choices,
                     int64_t min, int64_t max, const char* doc) {
  return field_info{name, type, secret, split_choices(choices), min, max, doc};
}

template <typename T>
void mark_ignored(std::vector<entry>& rows, std::string_view name, T settings::* /*member*/) {
  for (auto& row : rows)
    if (row.info.name == name) row.info.ignored = true;
}

std::vector<entry> build_entries() {
  std::vector<entry> out;
#define PQRT_FIELD_STRING(name, def, secret, doc) \
  out.push_back(                                  \
      {make_info(#name, kind::string, secret, "", INT64_MIN, INT64_MAX, doc), &settings::name});
#define PQRT_FIELD_CHOICE(name, def, choices, doc)                                           \
  static_assert(has_choice(def, choices), "default of " #name " is not one of its choices"); \
  out.push_back({make_info(#name, kind::choice, false, choices, INT64_MIN, INT64_MAX, doc),  \
                 &settings::name});
#define PQRT_FIELD_INTEGER(name, def, lo, hi, doc)                                            \
  static_assert((def) >= (lo) && (def) <= (hi), "default of " #name " is out of its bounds"); \
  out.push_back({make_info(#name, kind::integer, false, "", lo, hi, doc), &settings::name});
#define PQRT_FIELD_BOOLEAN(name, def, doc) \
  out.push_back(                           \
      {make_info(#name, kind::boolean, false, "", INT64_MIN, INT64_MAX, doc), &settings::name});
// Marks the row of a field nothing reads; `&settings::name` makes a misspelt name a compile error.
#define PQRT_FIELD_IGNORED(name) mark_ignored(out, #name, &settings::name);
#include "config/fields.def"
#undef PQRT_FIELD_STRING
#undef PQRT_FIELD_CHOICE
#undef PQRT_FIELD_INTEGER
#undef PQRT_FIELD_BOOLEAN
#undef PQRT_FIELD_IGNORED
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string out_of_range(const field_info& f, int64_t n) {
  if (f.min == f.max) return std::to_string(n) + " is not allowed: only " + std::to_string(f.min);
  return std::to_string(n) + " is out of range: allowed " + std::to_string(f.min) + ".." +
         std::to_string(f.max);
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : separator) + item;
  return out;
}

caf::error check(const entry& e, const value& v, const std::string& where) {
  const auto& f = e.info;
  if (const auto* n = std::get_if<int64_t>(&v); n != nullptr && (*n < f.min || *n > f.max))
    return field_error(e, where, out_of_range(f, *n));
  const auto* text = std::get_if<std::string>(&v);
  if (text != nullptr && f.type == kind::choice &&
      std::find(f.choices.begin(), f.choices.end(), *text) == f.choices.end())
    return field_error(e, where, "'" + *text + "' is not one of " + join(f.choices, ", "));
  return {};
}

void store(settings& s, std::string settings::*p, value& v) {
  s.*p = std::move(std::get<std::string>(v));
}
void store(settings& s, int64_t settings::*p, value& v) {
  s.*p = std::get<int64_t>(v);
}
void store(settings& s, bool settings::*p, value& v) {
  s.*p = std::get<bool>(v);
}

}  // namespace

const std::vector<entry>& entries() {
  static const auto table = build_entries();
  return table;
}

const entry* find_entry(std::string_view name) {
  for (const auto& e : entries())
    if (e.info.name == name) return &e;
  return nullptr;
}

std::string env_name(std::string_view field) {
  std::string out = "PQRT_";
  for (char c : field)
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string flag_name(std::string_view field) {
  std::string out{field};
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

std::string spelled(source src, std::string_view field) {
  if (src == source::env) return env_name(field);
  if (src == source::cli) return "--" + flag_name(field);
  return "'" + std::string{field} + "'";
}

std::string suggestion(std::string_view unknown, source src) {
  const entry* best = nullptr;
  size_t best_distance = 3;
  for (const auto& e : entries()) {
    auto d = edit_distance(unknown, e.info.name);
    if (d < best_distance) best = &e, best_distance = d;
  }
  if (best == nullptr) return {};
  return "; did you mean " + spelled(src, best->info.name) + "?";
}

caf::error fail(const std::string& text) {
  return make_error(errc::config_invalid, "config: " + text);
}

caf::error field_error(const entry& e, const std::string& where, const std::string& what) {
  return fail("field '" + e.info.name + "' (" + where + "): " + what);
}

caf::error assign(settings& s, const entry& e, value v, source src, const std::string& where) {
  if (auto err = check(e, v, where)) return err;
  std::visit([&](auto p) { store(s, p, v); }, e.ptr);
  s.origin[e.info.name] = src;
  return {};
}

}  // namespace detail

namespace {

bool is_unset(const settings& s, const detail::entry& e) {
  auto unset = [&s](auto p) {
    using type = std::decay_t<decltype(s.*p)>;
    if constexpr (std::is_same_v<type, std::string>) return (s.*p).empty();
    if constexpr (std::is_same_v<type, int64_t>) return s.*p == 0;
    return false;  // a boolean always has a value
  };
  return std::visit(unset, e.ptr);
}

using json_writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void write(json_writer& w, const field_info& f, const std::string& v) {
  if (f.secret)
    w.String(v.empty() ? "" : "***");
  else
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void write(json_writer& w, const field_info& /*f*/, int64_t v) {
  w.Int64(v);
}
void write(json_writer& w, const field_info& /*f*/, bool v) {
  w.Bool(v);
}

std::string value_name(const field_info& f) {
  switch (f.type) {
    case kind::integer: return "N";
    case kind::boolean: return "true|false";
    case kind::choice: return detail::join(f.choices, "|");
    case kind::string: break;
  }
  return f.secret ? "SECRET" : "TEXT";
}

}  // namespace

std::string describe_source(source src, std::string_view field, std::string_view path) {
  switch (src) {
    case source::default_value: return "default";
    case source::custom_data: return "custom data " + std::string{path};
    case source::file: return "config file " + std::string{path};
    case source::env: return "environment variable " + detail::env_name(field);
    case source::cli: return "flag --" + detail::flag_name(field);
  }
  return "unknown source";
}

const std::vector<field_info>& fields() {
  static const auto list = [] {
    std::vector<field_info> out;
    for (const auto& e : detail::entries())
      out.push_back(e.info);
    return out;
  }();
  return list;
}

const field_info* find_field(std::string_view name) {
  const auto* e = detail::find_entry(name);
  return e == nullptr ? nullptr : &e->info;
}

caf::error require(const settings& s, const std::vector<std::string>& names, std::string_view why) {
  for (const auto& name : names) {
    const auto* e = detail::find_entry(name);
    if (e == nullptr) return detail::fail("required field '" + name + "' does not exist");
    if (!is_unset(s, *e)) continue;
    return detail::fail("missing required field '" + name + "' (needed by " + std::string{why} +
                        "): set it in the config file, as " + detail::env_name(name) +
                        " or with --" + detail::flag_name(name));
  }
  return {};
}

std::string dump(const settings& s) {
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  w.SetIndent(' ', 2);
  w.StartObject();
  for (const auto& e : detail::entries()) {
    w.Key(e.info.name.c_str());
    std::visit([&](auto p) { write(w, e.info, s.*p); }, e.ptr);
  }
  w.EndObject();
  return std::string{buffer.GetString(), buffer.GetSize()} + "\n";
}

std::vector<std::string> ignored_fields_set(const settings& s) {
  static const settings defaults;
  std::vector<std::string> out;
  for (const auto& e : detail::entries()) {
    if (!e.info.ignored) continue;
    if (std::visit([&](auto p) { return s.*p != defaults.*p; }, e.ptr)) out.push_back(e.info.name);
  }
  return out;
}

std::vector<std::string> secret_values(const settings& s) {
  std::vector<std::string> out;
  for (const auto& e : detail::entries()) {
    const auto* p = std::get_if<std::string settings::*>(&e.ptr);
    if (e.info.secret && p != nullptr && !(s.**p).empty()) out.push_back(s.**p);
  }
  return out;
}

void add_options(boost::program_options::options_description& opts) {
  namespace po = boost::program_options;
  auto add = opts.add_options();
  for (const auto& f : fields())
    add(detail::flag_name(f.name).c_str(), po::value<std::string>()->value_name(value_name(f)),
        f.doc.c_str());
}

void collect_flags(const boost::program_options::variables_map& vm,
                   std::map<std::string, std::string>& flags) {
  for (const auto& f : fields()) {
    auto it = vm.find(detail::flag_name(f.name));
    if (it == vm.end() || it->second.empty() || it->second.defaulted()) continue;
    flags[f.name] = it->second.as<std::string>();
  }
}

}  // namespace pqrt::config
