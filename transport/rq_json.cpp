// Python's json.dumps (default settings) and json.loads, for RQ's JSONSerializer. Parsing is
// RapidJSON's SAX reader in iterative mode, numbers kept as text so that ints of any size and
// floats are converted the way Python converts them.

#include "transport/rq_json.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "runtime/base/error.hpp"
#include "transport/detail/utf8.hpp"

namespace pqrt::transport {

namespace {

// --- dumps ----------------------------------------------------------------------------------

std::string float_text(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  return float_repr(value);
}

caf::error append_string(std::string& out, std::string_view text) {
  if (!is_valid_utf8(text)) return make_error(errc::bad_format, "json: a str is not valid UTF-8");
  out.push_back('"');
  for (size_t pos = 0; pos < text.size();) {
    auto c = detail::next_code_point(text, pos);
    static constexpr const char* named[] = {"\\\"", "\\\\", "\\n", "\\r", "\\t", "\\b", "\\f"};
    static constexpr char raw[] = {'"', '\\', '\n', '\r', '\t', '\b', '\f'};
    auto found = std::find(std::begin(raw), std::end(raw), static_cast<char>(c));
    if (c < 0x80 && found != std::end(raw)) {
      out += named[found - std::begin(raw)];
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x10000) {
      out += "\\u";
      detail::append_hex(out, c, 4);
    } else {
      out += "\\u";
      detail::append_hex(out, 0xd800 + ((c - 0x10000) >> 10), 4);
      out += "\\u";
      detail::append_hex(out, 0xdc00 + ((c - 0x10000) & 0x3ff), 4);
    }
  }
  out.push_back('"');
  return {};
}

caf::error append_value(std::string& out, const py_value& value);

caf::error append_key(std::string& out, const py_value& key) {
  switch (key.kind()) {
    case py_kind::str: return append_string(out, *key.get_if<std::string>());
    case py_kind::floating: return append_string(out, float_text(*key.get_if<double>()));
    case py_kind::boolean: return append_string(out, *key.get_if<bool>() ? "true" : "false");
    case py_kind::none: return append_string(out, "null");
    case py_kind::integer: return append_string(out, key.repr());
    default:
      return make_error(errc::unsupported,
                        std::string{"json: keys must be str, int, float, bool or None, not "} +
                            type_name(key.kind()));
  }
}

template <class Items>
caf::error append_array(std::string& out, const Items& items) {
  out.push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    if (auto err = append_value(out, items[i])) return err;
  }
  out.push_back(']');
  return {};
}

caf::error append_object(std::string& out, const py_dict& dict) {
  out.push_back('{');
  for (size_t i = 0; i < dict.items.size(); ++i) {
    if (i > 0) out += ", ";
    if (auto err = append_key(out, dict.items[i].first)) return err;
    out += ": ";
    if (auto err = append_value(out, dict.items[i].second)) return err;
  }
  out.push_back('}');
  return {};
}

caf::error append_value(std::string& out, const py_value& value) {
  switch (value.kind()) {
    case py_kind::none: out += "null"; return {};
    case py_kind::boolean: out += *value.get_if<bool>() ? "true" : "false"; return {};
    case py_kind::integer: out += value.repr(); return {};
    case py_kind::floating: out += float_text(*value.get_if<double>()); return {};
    case py_kind::str: return append_string(out, *value.get_if<std::string>());
    case py_kind::bytes:
      return make_error(errc::unsupported, "json: Object of type bytes is not JSON serializable");
    case py_kind::list: return append_array(out, value.get_if<py_list>()->items);
    case py_kind::tuple: return append_array(out, value.get_if<py_tuple>()->items);
    case py_kind::dict: return append_object(out, *value.get_if<py_dict>());
  }
  return {};
}

// --- loads ----------------------------------------------------------------------------------

/// Builds py_values from RapidJSON's SAX events; returning false stops the parse with `error_`.
class json_builder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, json_builder> {
public:
  json_builder(size_t max_depth, size_t max_values)
      : max_depth_(max_depth), max_values_(max_values) {}

  bool Default() { return fail(errc::bad_format, "json: unexpected event"); }
  bool Null() { return add(py_value{}); }
  bool Bool(bool value) { return add(py_value{value}); }
  bool RawNumber(const char* text, rapidjson::SizeType size, bool) {
    return add_number(std::string{text, size});
  }
  bool String(const char* text, rapidjson::SizeType size, bool) {
    if (!is_valid_utf8({text, size}))
      return fail(errc::bad_format, "json: a string is not valid UTF-8 (lone surrogate?)");
    return add(py_value{std::string_view{text, size}});
  }
  bool Key(const char* text, rapidjson::SizeType size, bool copy) {
    return String(text, size, copy);
  }
  bool StartObject() { return open(true); }
  bool StartArray() { return open(false); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool EndArray(rapidjson::SizeType) { return close(); }

  py_value result_;
  caf::error error_;

private:
  struct frame {
    bool is_object = false;
    std::vector<py_value> items;  // objects: keys and values interleaved
  };

  bool fail(errc code, std::string why) {
    error_ = make_error(code, std::move(why));
    return false;
  }

  bool add(py_value value) {
    if (++values_ > max_values_)
      return fail(errc::unsupported, "json: more than " + std::to_string(max_values_) + " values");
    if (frames_.empty())
      result_ = std::move(value);
    else
      frames_.back().items.push_back(std::move(value));
    return true;
  }

  bool add_number(const std::string& text) {
    if (text == "NaN") return add(py_value{std::nan("")});
    if (text == "Infinity" || text == "-Infinity")
      return add(py_value{text[0] == '-' ? -HUGE_VAL : HUGE_VAL});
    if (text.find_first_of("NI") != std::string::npos)
      return fail(errc::bad_format, "json: '" + text + "' is not a number Python accepts");
    if (text.find_first_of(".eE") != std::string::npos)
      return add(py_value{std::strtod(text.c_str(), nullptr)});
    auto value = py_value::integer(text);
    if (!value) return fail(errc::unsupported, "json: " + context_of(value.error()));
    return add(std::move(*value));
  }

  bool open(bool is_object) {
    if (frames_.size() >= max_depth_)
      return fail(errc::unsupported, "json: nested deeper than " + std::to_string(max_depth_));
    frames_.push_back(frame{is_object, {}});
    return true;
  }

  bool close() {
    auto done = std::move(frames_.back());
    frames_.pop_back();
    if (!done.is_object) return add(py_value::list(std::move(done.items)));
    std::vector<std::pair<py_value, py_value>> pairs;
    for (size_t i = 0; i + 1 < done.items.size(); i += 2)
      pairs.emplace_back(std::move(done.items[i]), std::move(done.items[i + 1]));
    return add(py_value{make_dict(std::move(pairs))});
  }

  size_t max_depth_;
  size_t max_values_;
  size_t values_ = 0;
  std::vector<frame> frames_;
};

}  // namespace

caf::expected<std::string> json_dumps(const py_value& value) {
  std::string out;
  if (auto err = append_value(out, value)) return err;
  return out;
}

caf::expected<py_value> json_loads(std::string_view text, size_t max_depth, size_t max_values) {
  if (text.find('\0') != std::string_view::npos)
    return make_error(errc::bad_format, "json: NUL byte in the text");
  constexpr unsigned flags = rapidjson::kParseIterativeFlag |
                             rapidjson::kParseValidateEncodingFlag |
                             rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseNanAndInfFlag;
  rapidjson::MemoryStream stream{text.data(), text.size()};
  json_builder builder{max_depth, max_values};
  rapidjson::Reader reader;
  auto parsed = reader.Parse<flags>(stream, builder);
  if (builder.error_) return builder.error_;
  if (parsed.Code() == rapidjson::kParseErrorNumberTooBig)  // RapidJSON's limit, not Python's
    return make_error(errc::unsupported,
                      "json: a number with over 308 integer digits or a decimal exponent over 308 "
                      "at byte " +
                          std::to_string(parsed.Offset()) +
                          " (Python reads it as a big int or inf; pqrt does not)");
  if (parsed.IsError())
    return make_error(errc::bad_format, std::string{"json: "} +
                                            rapidjson::GetParseError_En(parsed.Code()) +
                                            " at byte " + std::to_string(parsed.Offset()));
  return std::move(builder.result_);
}

}  // namespace pqrt::transport
