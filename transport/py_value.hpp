#pragma once

/// Plain Python data as RQ jobs carry it (arguments, keyword arguments, return values): None, bool,
/// int, float, str, bytes, list, tuple and dict. Values, not references: a shared or recursive
/// Python object graph is copied out (or rejected when it is recursive) by the readers.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

namespace pqrt::transport {

class py_value;

/// An int outside int64, as canonical decimal text ("-92233720368547758090": no "+", no leading
/// zeros). Only `py_value::integer` makes one, so an int has exactly one representation.
struct py_bigint {
  std::string decimal;
};

/// Python `bytes` (a `bytearray` read from a pickle also becomes bytes).
struct py_bytes {
  std::string data;
};

/// Python `list`.
struct py_list {
  std::vector<py_value> items;
};

/// Python `tuple`.
struct py_tuple {
  std::vector<py_value> items;
};

/// Python `dict`, in insertion order (the order Python iterates, pickles and prints it).
struct py_dict {
  std::vector<std::pair<py_value, py_value>> items;
};

/// The Python type of a value.
enum class py_kind : uint8_t { none, boolean, integer, floating, str, bytes, list, tuple, dict };

/// Python's name of a type (`NoneType`, `bool`, `int`, ...), for error texts.
const char* type_name(py_kind kind);

/// Python's largest int/str conversion (sys.int_info.default_max_str_digits): longer ints are
/// rejected rather than converted.
constexpr size_t max_int_digits = 4300;

/// One plain Python value. Equality is structural and stricter than Python's: the types must match
/// (`1`, `True` and `1.0` differ), dict order counts, floats compare by bits (all NaNs are equal,
/// `0.0` and `-0.0` are not).
class py_value {
public:
  using variant_type = std::variant<std::monostate, bool, int64_t, py_bigint, double, std::string,
                                    py_bytes, py_list, py_tuple, py_dict>;

  /// None.
  py_value() = default;
  /// None.
  py_value(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
  /// A bool.
  py_value(bool value) : data_(value) {}  // NOLINT
  /// An int from any C++ integer type (a uint64 above int64 becomes a big int).
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  py_value(T value) {  // NOLINT
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      if (value > static_cast<uint64_t>(INT64_MAX)) {
        data_ = py_bigint{std::to_string(value)};
        return;
      }
    }
    data_ = static_cast<int64_t>(value);
  }
  /// A float.
  py_value(double value) : data_(value) {}  // NOLINT
  /// A str; the text must be UTF-8 (the codecs check it where it matters).
  py_value(const char* text) : data_(std::string{text}) {}  // NOLINT
  /// A str.
  py_value(std::string text) : data_(std::move(text)) {}  // NOLINT
  /// A str.
  py_value(std::string_view text) : data_(std::string{text}) {}  // NOLINT
  /// Takes any alternative except `py_bigint` (use `integer`).
  py_value(py_bytes value) : data_(std::move(value)) {}  // NOLINT
  /// A list.
  py_value(py_list value) : data_(std::move(value)) {}  // NOLINT
  /// A tuple.
  py_value(py_tuple value) : data_(std::move(value)) {}  // NOLINT
  /// A dict.
  py_value(py_dict value) : data_(std::move(value)) {}  // NOLINT

  /// A bytes value.
  static py_value bytes(std::string_view data) { return py_bytes{std::string{data}}; }
  /// A list.
  static py_value list(std::vector<py_value> items) { return py_list{std::move(items)}; }
  /// A tuple.
  static py_value tuple(std::vector<py_value> items) { return py_tuple{std::move(items)}; }
  /// A dict with the pairs in this order (repeated keys are kept; see `make_dict`).
  static py_value dict(std::vector<std::pair<py_value, py_value>> items) {
    return py_dict{std::move(items)};
  }
  /// An int of any size from decimal text (`-?[0-9]+`, as Python's `int()` prints it). Values in
  /// int64 are stored as int64. `bad_format` for other text, `unsupported` beyond `max_int_digits`.
  static caf::expected<py_value> integer(std::string_view decimal);

  /// The Python type.
  py_kind kind() const;
  /// True for None.
  bool is_none() const { return std::holds_alternative<std::monostate>(data_); }
  /// True when the value holds the C++ alternative `T`.
  template <class T>
  bool is() const {
    return std::holds_alternative<T>(data_);
  }
  /// The alternative `T`, or null.
  template <class T>
  const T* get_if() const {
    return std::get_if<T>(&data_);
  }
  /// The alternative `T`, or null.
  template <class T>
  T* get_if() {
    return std::get_if<T>(&data_);
  }
  /// The underlying variant.
  const variant_type& data() const { return data_; }

  /// Python's `repr()` of the value, for error texts and tests. Matches CPython for ASCII and
  /// common printable text; rare non-printable code points (format characters, unassigned ones)
  /// are shown as themselves instead of `\u` escapes.
  std::string repr() const;

  /// Structural equality (see the class comment).
  friend bool operator==(const py_value& lhs, const py_value& rhs);
  /// Structural inequality.
  friend bool operator!=(const py_value& lhs, const py_value& rhs) { return !(lhs == rhs); }

private:
  variant_type data_;
};

/// Python's `repr(float)`: the shortest text that reads back as the same double, in fixed notation
/// for exponents -4..15 (`0.0001`, `1e+16`, `1.5`, `inf`, `nan`, `-0.0`).
std::string float_repr(double value);

/// A structural hash consistent with `==`.
size_t hash_value(const py_value& value);

/// True for values Python can use as dict keys: None, bool, int, float, str, bytes and tuples of
/// those.
bool is_hashable(const py_value& value);

/// Builds a dict as Python's `d[k] = v` does, in linear time: a repeated key keeps its first
/// position and takes the last value.
py_dict make_dict(std::vector<std::pair<py_value, py_value>> items);

/// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace pqrt::transport
