#pragma once

/// The pickle reader's machine, shared by transport/pickle_loads.cpp (input, stack, result) and
/// transport/detail/pickle_reader_ops.cpp (the opcodes). Internal to the codec.

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/base/error.hpp"
#include "transport/pickle.hpp"

namespace pqrt::transport::detail {

/// CPython's unpickler machine (a value stack, a MARK stack, a memo) over an arena of nodes, so
/// that APPEND/SETITEM on a memoized container changes every reference to it, as in Python.
class pickle_reader {
public:
  /// Reads `data` (which must outlive the reader) under `limits`.
  pickle_reader(std::string_view data, const pickle_limits& limits)
      : data_(data), limits_(limits) {}

  /// Runs to STOP and builds the value on top of the stack.
  caf::expected<py_value> run();

private:
  struct node {
    py_kind kind = py_kind::none;
    py_value scalar;
    std::vector<size_t> items;  // list/tuple items; dict keys and values interleaved
  };

  std::string where() const;
  caf::error fail(errc code, const std::string& why) const;
  caf::error take(uint64_t size, std::string_view& out);
  caf::error take_uint(size_t width, uint64_t& out);

  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  caf::error push(node value);
  caf::error push_scalar(py_value value);
  caf::error pop(size_t& out);
  caf::error top(size_t& out);
  caf::error pop_mark(std::vector<size_t>& out);
  caf::error pop_items(size_t count, std::vector<size_t>& out);
  caf::error target(py_kind kind, size_t& out);

  caf::error step();
  caf::error step_scalar(bool& handled);
  caf::error step_container(bool& handled);
  caf::error step_stack(bool& handled);
  caf::error reject() const;
  caf::error load_text(uint64_t size);
  caf::error load_bytes(uint64_t size);
  caf::error load_long(uint64_t size);
  caf::error load_float();
  caf::error load_collection(py_kind kind, std::vector<size_t> items);
  caf::error add_items(std::vector<size_t> items);
  caf::error memo_put(uint64_t index);
  caf::error memo_get(uint64_t index);

  caf::expected<py_value> build(size_t index, size_t depth);
  caf::expected<py_value> build_container(size_t index, size_t depth);

  std::string_view data_;
  pickle_limits limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t code_ = 0;
  bool stopped_ = false;
  size_t result_ = 0;
  std::vector<node> nodes_;
  std::vector<size_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, size_t> memo_;
  std::vector<bool> on_path_;
  size_t values_ = 0;
  size_t bytes_ = 0;
};

}  // namespace pqrt::transport::detail
