// The opcodes the reader implements: the protocol 2-5 subset Python writes for plain data.

#include <cstring>

#include "transport/detail/pickle_opcodes.hpp"
#include "transport/detail/pickle_reader.hpp"
#include "transport/detail/py_int.hpp"

namespace pqrt::transport::detail {

caf::error pickle_reader::step() {
  bool handled = false;
  if (auto err = step_scalar(handled); err || handled) return err;
  if (auto err = step_container(handled); err || handled) return err;
  if (auto err = step_stack(handled); err || handled) return err;
  return reject();
}

caf::error pickle_reader::reject() const {
  if (op_name(code_) == nullptr) return fail(errc::bad_format, "not a pickle opcode");
  switch (classify(code_)) {
    case op_class::object:
      return fail(errc::unsupported, "objects other than plain data are not accepted");
    case op_class::set: return fail(errc::unsupported, "sets are not accepted (plain data only)");
    case op_class::text:
      return fail(errc::unsupported, "protocol 0/1 text opcodes are not accepted");
    case op_class::plain: break;
  }
  return fail(errc::bad_format, "not implemented");
}

caf::error pickle_reader::step_scalar(bool& handled) {
  handled = true;
  uint64_t arg = 0;
  switch (static_cast<op>(code_)) {
    case op::none: return push_scalar(py_value{});
    case op::newtrue:
    case op::newfalse: return push_scalar(py_value{static_cast<op>(code_) == op::newtrue});
    case op::binint1:
      if (auto err = take_uint(1, arg)) return err;
      return push_scalar(py_value{arg});
    case op::binint2:
      if (auto err = take_uint(2, arg)) return err;
      return push_scalar(py_value{arg});
    case op::binint:
      if (auto err = take_uint(4, arg)) return err;
      return push_scalar(py_value{static_cast<int32_t>(static_cast<uint32_t>(arg))});
    case op::long1:
      if (auto err = take_uint(1, arg)) return err;
      return load_long(arg);
    case op::long4:
      if (auto err = take_uint(4, arg)) return err;
      if (arg > INT32_MAX) return fail(errc::bad_format, "negative byte count");
      return load_long(arg);
    case op::binfloat: return load_float();
    default: break;
  }
  switch (static_cast<op>(code_)) {
    case op::short_binunicode:
      if (auto err = take_uint(1, arg)) return err;
      return load_text(arg);
    case op::binunicode:
      if (auto err = take_uint(4, arg)) return err;
      return load_text(arg);
    case op::binunicode8:
      if (auto err = take_uint(8, arg)) return err;
      return load_text(arg);
    case op::short_binbytes:
      if (auto err = take_uint(1, arg)) return err;
      return load_bytes(arg);
    case op::binbytes:
      if (auto err = take_uint(4, arg)) return err;
      return load_bytes(arg);
    case op::binbytes8:
    case op::bytearray8:
      if (auto err = take_uint(8, arg)) return err;
      return load_bytes(arg);
    default: handled = false; return {};
  }
}

caf::error pickle_reader::load_text(uint64_t size) {
  std::string_view text;
  if (auto err = take(size, text)) return err;
  if (!is_valid_utf8(text))
    return fail(errc::bad_format, "invalid UTF-8 (lone surrogates are not supported)");
  return push_scalar(py_value{text});
}

caf::error pickle_reader::load_bytes(uint64_t size) {
  std::string_view bytes;
  if (auto err = take(size, bytes)) return err;
  return push_scalar(py_value::bytes(bytes));
}

caf::error pickle_reader::load_long(uint64_t size) {
  std::string_view bytes;
  if (auto err = take(size, bytes)) return err;
  auto value = int_from_le_bytes(bytes);
  if (!value) return fail(errc::unsupported, context_of(value.error()));
  return push_scalar(std::move(*value));
}

caf::error pickle_reader::load_float() {
  std::string_view bytes;
  if (auto err = take(8, bytes)) return err;
  uint64_t bits = 0;
  for (char byte : bytes)
    bits = (bits << 8) | static_cast<uint8_t>(byte);
  double value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return push_scalar(py_value{value});
}

caf::error pickle_reader::step_container(bool& handled) {
  handled = true;
  std::vector<size_t> items;
  auto code = static_cast<op>(code_);
  switch (code) {
    case op::empty_tuple: return load_collection(py_kind::tuple, {});
    case op::empty_list: return load_collection(py_kind::list, {});
    case op::empty_dict: return load_collection(py_kind::dict, {});
    case op::tuple1:
    case op::tuple2:
    case op::tuple3:
      if (auto err = pop_items(code_ - static_cast<uint8_t>(op::tuple1) + 1, items)) return err;
      return load_collection(py_kind::tuple, std::move(items));
    case op::tuple:
    case op::list:
    case op::dict:
      if (auto err = pop_mark(items)) return err;
      return load_collection(code == op::tuple  ? py_kind::tuple
                             : code == op::list ? py_kind::list
                                                : py_kind::dict,
                             std::move(items));
    case op::append:
    case op::setitem:
      if (auto err = pop_items(code == op::append ? 1 : 2, items)) return err;
      return add_items(std::move(items));
    case op::appends:
    case op::setitems:
      if (auto err = pop_mark(items)) return err;
      return add_items(std::move(items));
    default: handled = false; return {};
  }
}

caf::error pickle_reader::load_collection(py_kind kind, std::vector<size_t> items) {
  if (kind == py_kind::dict && items.size() % 2 != 0)
    return fail(errc::bad_format, "odd number of items for a dict");
  return push(node{kind, {}, std::move(items)});
}

caf::error pickle_reader::add_items(std::vector<size_t> items) {
  auto code = static_cast<op>(code_);
  bool to_list = code == op::append || code == op::appends;
  size_t index = 0;
  if (auto err = target(to_list ? py_kind::list : py_kind::dict, index)) return err;
  if (!to_list && items.size() % 2 != 0)
    return fail(errc::bad_format, "odd number of items for a dict");
  auto& dest = nodes_[index].items;
  dest.insert(dest.end(), items.begin(), items.end());
  return {};
}

caf::error pickle_reader::step_stack(bool& handled) {
  handled = true;
  uint64_t arg = 0;
  size_t index = 0;
  std::vector<size_t> items;
  switch (static_cast<op>(code_)) {
    case op::proto:
      if (auto err = take_uint(1, arg)) return err;
      if (arg > 5) return fail(errc::unsupported, "protocol " + std::to_string(arg));
      return {};
    case op::frame: {
      std::string_view skipped;
      if (auto err = take_uint(8, arg)) return err;
      if (auto err = take(arg, skipped)) return err;
      pos_ -= arg;  // the frame's content is read opcode by opcode
      return {};
    }
    case op::stop: stopped_ = true; return pop(result_);
    case op::mark: marks_.push_back(stack_.size()); return {};
    case op::pop:
      if (stack_.size() > fence()) return pop(index);
      return pop_mark(items);
    case op::pop_mark: return pop_mark(items);
    case op::dup:
      if (auto err = top(index)) return err;
      stack_.push_back(index);
      return {};
    default: break;
  }
  switch (static_cast<op>(code_)) {
    case op::memoize: return memo_put(memo_.size());
    case op::binput:
      if (auto err = take_uint(1, arg)) return err;
      return memo_put(arg);
    case op::long_binput:
      if (auto err = take_uint(4, arg)) return err;
      return memo_put(arg);
    case op::binget:
      if (auto err = take_uint(1, arg)) return err;
      return memo_get(arg);
    case op::long_binget:
      if (auto err = take_uint(4, arg)) return err;
      return memo_get(arg);
    default: handled = false; return {};
  }
}

caf::error pickle_reader::memo_put(uint64_t index) {
  size_t value = 0;
  if (auto err = top(value)) return err;
  memo_[index] = value;
  return {};
}

caf::error pickle_reader::memo_get(uint64_t index) {
  auto found = memo_.find(index);
  if (found == memo_.end())
    return fail(errc::bad_format, "memo entry " + std::to_string(index) + " is not defined");
  stack_.push_back(found->second);
  return {};
}

}  // namespace pqrt::transport::detail
