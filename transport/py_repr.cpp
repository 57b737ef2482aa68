// Python's repr() for plain data: what error texts and tests print.

#include <charconv>
#include <cmath>
#include <string>

#include "transport/detail/utf8.hpp"
#include "transport/py_value.hpp"

namespace pqrt::transport {

namespace detail {

uint32_t next_code_point(std::string_view text, size_t& pos) {
  auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  size_t size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  if (pos + size > text.size() || !is_valid_utf8(text.substr(pos, size))) {
    ++pos;
    return 0xfffd;
  }
  uint32_t code = lead & (0x7f >> size);
  for (size_t k = 1; k < size; ++k)
    code = (code << 6) | (static_cast<unsigned char>(text[pos + k]) & 0x3f);
  pos += size;
  return code;
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
    return;
  }
  int size = code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  static constexpr unsigned char lead_bits[] = {0, 0, 0xc0, 0xe0, 0xf0};
  out.push_back(static_cast<char>(lead_bits[size] | (code >> (6 * (size - 1)))));
  for (int k = size - 2; k >= 0; --k)
    out.push_back(static_cast<char>(0x80 | ((code >> (6 * k)) & 0x3f)));
}

void append_hex(std::string& out, uint32_t code, int width) {
  static constexpr char digits[] = "0123456789abcdef";
  for (int shift = 4 * (width - 1); shift >= 0; shift -= 4)
    out.push_back(digits[(code >> shift) & 0xf]);
}

}  // namespace detail

namespace {

/// Approximates `str.isprintable()` per code point: controls, separators other than space, the
/// common format characters and private use are not printable.
bool is_printable(uint32_t c) {
  if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f)) return false;
  if ((c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff) return false;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x180e)
    return false;
  if ((c >= 0xe000 && c <= 0xf8ff) || (c >= 0xfff9 && c <= 0xfffb) || c == 0xfffe || c == 0xffff)
    return false;
  return c < 0xe0000;
}

char pick_quote(std::string_view text) {
  bool single = text.find('\'') != std::string_view::npos;
  bool dbl = text.find('"') != std::string_view::npos;
  return single && !dbl ? '"' : '\'';
}

bool append_common_escape(std::string& out, uint32_t c, char quote) {
  switch (c) {
    case '\\': out += "\\\\"; return true;
    case '\t': out += "\\t"; return true;
    case '\n': out += "\\n"; return true;
    case '\r': out += "\\r"; return true;
  }
  if (c != static_cast<unsigned char>(quote)) return false;
  out.push_back('\\');
  out.push_back(quote);
  return true;
}

std::string str_repr(std::string_view text) {
  char quote = pick_quote(text);
  std::string out(1, quote);
  for (size_t pos = 0; pos < text.size();) {
    auto c = detail::next_code_point(text, pos);
    if (append_common_escape(out, c, quote)) continue;
    if (is_printable(c)) {
      detail::append_utf8(out, c);
      continue;
    }
    out += c < 0x100 ? "\\x" : c < 0x10000 ? "\\u" : "\\U";
    detail::append_hex(out, c, c < 0x100 ? 2 : c < 0x10000 ? 4 : 8);
  }
  out.push_back(quote);
  return out;
}

std::string bytes_repr(std::string_view data) {
  char quote = pick_quote(data);
  std::string out = "b";
  out.push_back(quote);
  for (unsigned char c : data) {
    if (append_common_escape(out, c, quote)) continue;
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    out += "\\x";
    detail::append_hex(out, c, 2);
  }
  out.push_back(quote);
  return out;
}

// Containers append into one buffer: the work is the size of the text, however deep the nesting
// (a string returned per level would copy each level's text once more, depth times in all).
void append_repr(std::string& out, const py_value& value);

template <class Items>
void append_items(std::string& out, const Items& items, const char* open, const char* close) {
  out += open;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    append_repr(out, items[i]);
  }
  if (items.size() == 1 && std::string_view{open} == "(") out += ",";
  out += close;
}

void append_repr(std::string& out, const py_value& value) {
  if (const auto* list = value.get_if<py_list>()) return append_items(out, list->items, "[", "]");
  if (const auto* tuple = value.get_if<py_tuple>())
    return append_items(out, tuple->items, "(", ")");
  if (const auto* dict = value.get_if<py_dict>()) {
    out += '{';
    for (size_t i = 0; i < dict->items.size(); ++i) {
      if (i > 0) out += ", ";
      append_repr(out, dict->items[i].first);
      out += ": ";
      append_repr(out, dict->items[i].second);
    }
    out += '}';
    return;
  }
  out += value.repr();  // a scalar
}

}  // namespace

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific).ptr;
  std::string_view text{buf, static_cast<size_t>(end - buf)};  // [-]d[.ddd]e±XX
  std::string sign{text[0] == '-' ? "-" : ""};
  text.remove_prefix(sign.size());
  auto e = text.find('e');
  std::string digits{text.substr(0, e)};
  if (digits.size() > 1) digits.erase(1, 1);  // the '.'
  int exponent = std::stoi(std::string{text.substr(e + 1)});
  int point = exponent + 1;  // digits before the decimal point
  auto count = static_cast<int>(digits.size());
  if (point <= -4 || point > 16) {
    auto mantissa = digits.substr(0, 1) + (count > 1 ? "." + digits.substr(1) : "");
    auto exp_text = std::to_string(std::abs(exponent));
    if (exp_text.size() < 2) exp_text.insert(0, "0");
    return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + exp_text;
  }
  if (point <= 0) return sign + "0." + std::string(-point, '0') + digits;
  if (point >= count) return sign + digits + std::string(point - count, '0') + ".0";
  return sign + digits.substr(0, point) + "." + digits.substr(point);
}

std::string py_value::repr() const {
  switch (kind()) {
    case py_kind::none: return "None";
    case py_kind::boolean: return std::get<bool>(data_) ? "True" : "False";
    case py_kind::integer:
      if (const auto* big = get_if<py_bigint>()) return big->decimal;
      return std::to_string(std::get<int64_t>(data_));
    case py_kind::floating: return float_repr(std::get<double>(data_));
    case py_kind::str: return str_repr(std::get<std::string>(data_));
    case py_kind::bytes: return bytes_repr(std::get<py_bytes>(data_).data);
    case py_kind::list:
    case py_kind::tuple:
    case py_kind::dict: {
      std::string out;
      append_repr(out, *this);
      return out;
    }
  }
  return "?";
}

}  // namespace pqrt::transport
