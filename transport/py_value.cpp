#include "transport/py_value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_map>

#include "runtime/base/error.hpp"

namespace pqrt::transport {

namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

uint64_t bits_of(double value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

bool same_float(double lhs, double rhs) {
  if (std::isnan(lhs) || std::isnan(rhs)) return std::isnan(lhs) && std::isnan(rhs);
  return bits_of(lhs) == bits_of(rhs);
}

size_t combine(size_t seed, size_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

template <class Items>
size_t hash_items(size_t seed, const Items& items) {
  for (const auto& item : items)
    seed = combine(seed, hash_value(item));
  return seed;
}

}  // namespace

const char* type_name(py_kind kind) {
  switch (kind) {
    case py_kind::none: return "NoneType";
    case py_kind::boolean: return "bool";
    case py_kind::integer: return "int";
    case py_kind::floating: return "float";
    case py_kind::str: return "str";
    case py_kind::bytes: return "bytes";
    case py_kind::list: return "list";
    case py_kind::tuple: return "tuple";
    case py_kind::dict: return "dict";
  }
  return "object";
}

caf::expected<py_value> py_value::integer(std::string_view decimal) {
  auto digits = decimal.substr(!decimal.empty() && decimal[0] == '-' ? 1 : 0);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return make_error(errc::bad_format, "not a decimal integer: '" + std::string{decimal} + "'");
  int64_t small = 0;
  auto [end, ec] = std::from_chars(decimal.data(), decimal.data() + decimal.size(), small);
  if (ec == std::errc{} && end == decimal.data() + decimal.size()) return py_value{small};
  digits.remove_prefix(std::min(digits.find_first_not_of('0'), digits.size()));
  if (digits.size() > max_int_digits)
    return make_error(errc::unsupported, "an int of " + std::to_string(digits.size()) +
                                             " digits exceeds the limit of " +
                                             std::to_string(max_int_digits));
  py_value result;
  result.data_ = py_bigint{(decimal[0] == '-' ? "-" : "") + std::string{digits}};
  return result;
}

py_kind py_value::kind() const {
  return std::visit(
      overloaded{[](std::monostate) { return py_kind::none; },
                 [](bool) { return py_kind::boolean; }, [](int64_t) { return py_kind::integer; },
                 [](const py_bigint&) { return py_kind::integer; },
                 [](double) { return py_kind::floating; },
                 [](const std::string&) { return py_kind::str; },
                 [](const py_bytes&) { return py_kind::bytes; },
                 [](const py_list&) { return py_kind::list; },
                 [](const py_tuple&) { return py_kind::tuple; },
                 [](const py_dict&) { return py_kind::dict; }},
      data_);
}

bool operator==(const py_value& lhs, const py_value& rhs) {
  if (lhs.data_.index() != rhs.data_.index()) return false;
  return std::visit(
      overloaded{[](std::monostate, std::monostate) { return true; },
                 [](bool a, bool b) { return a == b; }, [](int64_t a, int64_t b) { return a == b; },
                 [](const py_bigint& a, const py_bigint& b) { return a.decimal == b.decimal; },
                 [](double a, double b) { return same_float(a, b); },
                 [](const std::string& a, const std::string& b) { return a == b; },
                 [](const py_bytes& a, const py_bytes& b) { return a.data == b.data; },
                 [](const py_list& a, const py_list& b) { return a.items == b.items; },
                 [](const py_tuple& a, const py_tuple& b) { return a.items == b.items; },
                 [](const py_dict& a, const py_dict& b) { return a.items == b.items; },
                 [](const auto&, const auto&) { return false; }},
      lhs.data_, rhs.data_);
}

size_t hash_value(const py_value& value) {
  auto seed = value.data().index();
  return std::visit(
      overloaded{
          [&](std::monostate) { return seed; }, [&](bool x) { return combine(seed, x); },
          [&](int64_t x) { return combine(seed, std::hash<int64_t>{}(x)); },
          [&](const py_bigint& x) { return combine(seed, std::hash<std::string>{}(x.decimal)); },
          [&](double x) { return combine(seed, std::isnan(x) ? 0 : bits_of(x)); },
          [&](const std::string& x) { return combine(seed, std::hash<std::string>{}(x)); },
          [&](const py_bytes& x) { return combine(seed, std::hash<std::string>{}(x.data)); },
          [&](const py_list& x) { return hash_items(seed, x.items); },
          [&](const py_tuple& x) { return hash_items(seed, x.items); },
          [&](const py_dict& x) {
            for (const auto& [k, v] : x.items)
              seed = combine(combine(seed, hash_value(k)), hash_value(v));
            return seed;
          }},
      value.data());
}

bool is_hashable(const py_value& value) {
  if (const auto* tuple = value.get_if<py_tuple>()) {
    for (const auto& item : tuple->items)
      if (!is_hashable(item)) return false;
    return true;
  }
  auto kind = value.kind();
  return kind != py_kind::list && kind != py_kind::dict;
}

py_dict make_dict(std::vector<std::pair<py_value, py_value>> items) {
  py_dict result;
  result.items.reserve(items.size());
  std::unordered_multimap<size_t, size_t> index;  // hash -> position in result
  for (auto& item : items) {
    auto& key = item.first;  // not a structured binding: clang 14 cannot capture one
    auto& value = item.second;
    auto hash = hash_value(key);
    auto [first, last] = index.equal_range(hash);
    auto found = std::find_if(
        first, last, [&](const auto& entry) { return result.items[entry.second].first == key; });
    if (found != last) {
      result.items[found->second].second = std::move(value);
      continue;
    }
    index.emplace(hash, result.items.size());
    result.items.emplace_back(std::move(key), std::move(value));
  }
  return result;
}

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    size_t extra = lead < 0x80                    ? 0
                   : lead >= 0xc2 && lead <= 0xdf ? 1
                   : (lead & 0xf0) == 0xe0        ? 2
                   : lead >= 0xf0 && lead <= 0xf4 ? 3
                                                  : 4;
    if (extra == 4 || text.size() - i <= extra) return false;
    uint32_t code = extra == 0 ? lead : lead & (0x3f >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    static constexpr uint32_t min_code[] = {0, 0x80, 0x800, 0x10000};
    if (code < min_code[extra] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace pqrt::transport
