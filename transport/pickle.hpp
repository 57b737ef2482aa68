#pragma once

/// Python's pickle for plain data, as RQ's default serializer uses it
/// (`pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)` and `pickle.loads`). The writer produces
/// the bytes CPython 3.11 produces; the reader accepts what Python writes for plain data with
/// protocols 2 to 5 and rejects everything that would build other objects.

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "transport/py_value.hpp"

namespace pqrt::transport {

/// Pickles `value` with protocol 5 byte for byte as CPython 3.11's `pickle.dumps(value, 5)` does
/// (frames, MEMOIZE after every str/bytes/list/dict/non-empty tuple, batches of 1000), provided no
/// object occurs twice in the Python value (Python then writes a memo GET; we write a copy, which
/// reads back equal). Strings must be UTF-8.
std::string pickle_dumps(const py_value& value);

/// Limits that keep a hostile pickle from exhausting the stack or memory.
struct pickle_limits {
  size_t max_depth = 1000;         ///< nesting of containers (Python's recursion limit)
  size_t max_values = 10'000'000;  ///< values in the result, counting every copy of a shared one
  size_t max_bytes = size_t{1} << 30;  ///< str/bytes payload in the result, counting copies
};

/// Unpickles plain data: protocol 2-5 opcodes for None, bools, ints, floats, str, bytes and
/// bytearray (read as bytes), tuples, lists and dicts, with MARK, FRAME, the memo opcodes (PUT/GET
/// binary forms and MEMOIZE), POP, POP_MARK and DUP. Trailing bytes after STOP are ignored, as in
/// Python. Errors: `unsupported` naming the opcode and byte offset for object opcodes (GLOBAL,
/// REDUCE, BUILD, ...), sets, text-mode opcodes and recursive data; `bad_format` for unknown
/// opcodes, truncation, invalid UTF-8, stack misuse and unhashable dict keys.
caf::expected<py_value> pickle_loads(std::string_view data, const pickle_limits& limits = {});

}  // namespace pqrt::transport
