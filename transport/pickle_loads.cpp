// The reader's input, stack and result; the opcodes are in detail/pickle_reader_ops.cpp. The node
// graph becomes a py_value only at STOP, with limits on depth and on the values and bytes that
// shared references multiply, and with recursive containers rejected.

#include <cstdio>

#include "transport/detail/pickle_opcodes.hpp"
#include "transport/detail/pickle_reader.hpp"

namespace pqrt::transport {

namespace detail {

caf::expected<py_value> pickle_reader::run() {
  while (!stopped_) {
    if (pos_ >= data_.size())
      return make_error(errc::bad_format,
                        "pickle data ends at byte " + std::to_string(pos_) + " without STOP");
    op_pos_ = pos_;
    code_ = static_cast<uint8_t>(data_[pos_++]);
    if (auto err = step()) return err;
  }
  on_path_.assign(nodes_.size(), false);
  return build(result_, 0);
}

// --- errors and input -----------------------------------------------------------------------

std::string pickle_reader::where() const {
  const char* name = op_name(code_);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", code_);
  return "pickle opcode " + std::string{name != nullptr ? name : "?"} + " (" + hex + ") at byte " +
         std::to_string(op_pos_);
}

caf::error pickle_reader::fail(errc code, const std::string& why) const {
  return make_error(code, where() + ": " + why);
}

caf::error pickle_reader::take(uint64_t size, std::string_view& out) {
  if (size > data_.size() - pos_)
    return fail(errc::bad_format, "truncated: needs " + std::to_string(size) + " bytes, " +
                                      std::to_string(data_.size() - pos_) + " left");
  out = data_.substr(pos_, size);
  pos_ += size;
  return {};
}

caf::error pickle_reader::take_uint(size_t width, uint64_t& out) {
  std::string_view bytes;
  if (auto err = take(width, bytes)) return err;
  out = 0;
  for (size_t i = width; i-- > 0;)
    out = (out << 8) | static_cast<uint8_t>(bytes[i]);
  return {};
}

// --- stack ----------------------------------------------------------------------------------

caf::error pickle_reader::push(node value) {
  if (nodes_.size() >= limits_.max_values)
    return fail(errc::unsupported, "more than " + std::to_string(limits_.max_values) + " values");
  nodes_.push_back(std::move(value));
  stack_.push_back(nodes_.size() - 1);
  return {};
}

caf::error pickle_reader::push_scalar(py_value value) {
  auto kind = value.kind();
  return push(node{kind, std::move(value), {}});
}

caf::error pickle_reader::pop(size_t& out) {
  if (auto err = top(out)) return err;
  stack_.pop_back();
  return {};
}

caf::error pickle_reader::top(size_t& out) {
  if (stack_.size() <= fence()) return fail(errc::bad_format, "stack underflow");
  out = stack_.back();
  return {};
}

caf::error pickle_reader::pop_mark(std::vector<size_t>& out) {
  if (marks_.empty()) return fail(errc::bad_format, "no MARK to pop to");
  out.assign(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
  stack_.resize(marks_.back());
  marks_.pop_back();
  return {};
}

caf::error pickle_reader::pop_items(size_t count, std::vector<size_t>& out) {
  if (stack_.size() < fence() + count) return fail(errc::bad_format, "stack underflow");
  out.assign(stack_.end() - static_cast<std::ptrdiff_t>(count), stack_.end());
  stack_.resize(stack_.size() - count);
  return {};
}

caf::error pickle_reader::target(py_kind kind, size_t& out) {
  if (auto err = top(out)) return err;
  if (nodes_[out].kind == kind) return {};
  return fail(errc::bad_format, std::string{"needs a "} + type_name(kind) + " below, found a " +
                                    type_name(nodes_[out].kind));
}

// --- result ---------------------------------------------------------------------------------

caf::expected<py_value> pickle_reader::build(size_t index, size_t depth) {
  if (++values_ > limits_.max_values)
    return make_error(errc::unsupported, "pickle: more than " + std::to_string(limits_.max_values) +
                                             " values (counting shared ones per reference)");
  const auto& item = nodes_[index];
  if (item.kind == py_kind::list || item.kind == py_kind::tuple || item.kind == py_kind::dict)
    return build_container(index, depth);
  if (const auto* text = item.scalar.get_if<std::string>()) bytes_ += text->size();
  if (const auto* bytes = item.scalar.get_if<py_bytes>()) bytes_ += bytes->data.size();
  if (bytes_ > limits_.max_bytes)
    return make_error(errc::unsupported, "pickle: more than " + std::to_string(limits_.max_bytes) +
                                             " bytes of str/bytes (counting shared ones per "
                                             "reference)");
  return item.scalar;
}

caf::expected<py_value> pickle_reader::build_container(size_t index, size_t depth) {
  if (depth >= limits_.max_depth)
    return make_error(errc::unsupported,
                      "pickle: containers nested deeper than " + std::to_string(limits_.max_depth));
  if (on_path_[index])
    return make_error(errc::unsupported, "pickle: recursive data (a container inside itself)");
  on_path_[index] = true;
  std::vector<py_value> items;
  for (auto child : nodes_[index].items) {
    auto value = build(child, depth + 1);
    if (!value) return value.error();
    items.push_back(std::move(*value));
  }
  on_path_[index] = false;
  auto kind = nodes_[index].kind;
  if (kind == py_kind::list) return py_value::list(std::move(items));
  if (kind == py_kind::tuple) return py_value::tuple(std::move(items));
  std::vector<std::pair<py_value, py_value>> pairs;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (!is_hashable(items[i]))
      return make_error(errc::bad_format, std::string{"pickle: unhashable dict key of type "} +
                                              type_name(items[i].kind()));
    pairs.emplace_back(std::move(items[i]), std::move(items[i + 1]));
  }
  return py_value{make_dict(std::move(pairs))};
}

}  // namespace detail

caf::expected<py_value> pickle_loads(std::string_view data, const pickle_limits& limits) {
  return detail::pickle_reader{data, limits}.run();
}

}  // namespace pqrt::transport
