// The protocol 5 writer. It follows CPython 3.11's Modules/_pickle.c step by step: the frame
// placeholder opened by the first write, the frame committed at an opcode boundary once it holds
// 64 KiB, payloads of 64 KiB or more written outside any frame, and the batching of lists and
// dicts (a dict of exactly 1000 items ends with an empty MARK SETITEMS batch, as in CPython).

#include <cstring>
#include <variant>

#include "transport/detail/pickle_opcodes.hpp"
#include "transport/detail/py_int.hpp"
#include "transport/pickle.hpp"

namespace pqrt::transport {

namespace {

using detail::op;

constexpr size_t frame_header_size = 9;
constexpr size_t frame_size_min = 4;
constexpr size_t frame_size_target = 64 * 1024;
constexpr size_t batch_size = 1000;
constexpr size_t no_frame = static_cast<size_t>(-1);

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

std::string le_bytes(uint64_t value, size_t width) {
  std::string out(width, '\0');
  for (size_t i = 0; i < width; ++i, value >>= 8)
    out[i] = static_cast<char>(value & 0xff);
  return out;
}

class pickle_writer {
public:
  std::string finish(const py_value& value) {
    out_ = {static_cast<char>(op::proto), 5};
    framing_ = true;
    save(value);
    put(op::stop);
    commit_frame();
    return std::move(out_);
  }

private:
  void write(std::string_view bytes) {
    if (framing_ && frame_start_ == no_frame) {
      frame_start_ = out_.size();
      out_.append(frame_header_size, '\xfe');
    }
    out_ += bytes;
  }

  void put(op code) { write(std::string(1, static_cast<char>(code))); }

  void put(op code, std::string_view argument) {
    std::string bytes(1, static_cast<char>(code));
    write(bytes.append(argument));
  }

  void commit_frame() {
    if (frame_start_ == no_frame) return;
    auto length = out_.size() - frame_start_ - frame_header_size;
    if (length >= frame_size_min)
      out_.replace(frame_start_, frame_header_size,
                   std::string(1, static_cast<char>(op::frame)) + le_bytes(length, 8));
    else
      out_.erase(frame_start_, frame_header_size);
    frame_start_ = no_frame;
  }

  void opcode_boundary() {
    if (frame_start_ != no_frame &&
        out_.size() - frame_start_ - frame_header_size >= frame_size_target)
      commit_frame();
  }

  /// A str or bytes payload: large ones go outside any frame.
  void write_payload(std::string_view header, std::string_view data) {
    bool bypass = data.size() >= frame_size_target;
    if (bypass) {
      commit_frame();
      framing_ = false;
    }
    write(header);
    write(data);
    framing_ = true;
  }

  void save_sized(op small, op medium, op large, std::string_view data) {
    if (data.size() <= 0xff)
      write_payload(std::string(1, static_cast<char>(small)) + le_bytes(data.size(), 1), data);
    else if (data.size() <= 0xffffffffULL)
      write_payload(std::string(1, static_cast<char>(medium)) + le_bytes(data.size(), 4), data);
    else
      write_payload(std::string(1, static_cast<char>(large)) + le_bytes(data.size(), 8), data);
    put(op::memoize);
  }

  void save_int(int64_t value) {
    if (value >= 0 && value <= 0xff) return put(op::binint1, le_bytes(value, 1));
    if (value >= 0 && value <= 0xffff) return put(op::binint2, le_bytes(value, 2));
    if (value >= INT32_MIN && value <= INT32_MAX)
      return put(op::binint, le_bytes(static_cast<uint32_t>(value), 4));
    save_long(py_value{value});
  }

  void save_long(const py_value& value) {
    auto bytes = detail::int_to_le_bytes(value);
    if (bytes.size() <= 0xff) return put(op::long1, le_bytes(bytes.size(), 1) + bytes);
    put(op::long4, le_bytes(bytes.size(), 4) + bytes);
  }

  void save_float(double value) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    std::string big_endian(8, '\0');
    for (int i = 7; i >= 0; --i, bits >>= 8)
      big_endian[i] = static_cast<char>(bits & 0xff);
    put(op::binfloat, big_endian);
  }

  void save_tuple(const py_tuple& tuple) {
    const auto& items = tuple.items;
    if (items.empty()) return put(op::empty_tuple);
    if (items.size() > 3) put(op::mark);
    for (const auto& item : items)
      save(item);
    static constexpr op by_size[] = {op::tuple, op::tuple1, op::tuple2, op::tuple3};
    put(items.size() > 3 ? op::tuple : by_size[items.size()]);
    put(op::memoize);
  }

  void save_list(const py_list& list) {
    put(op::empty_list);
    put(op::memoize);
    const auto& items = list.items;
    if (items.size() == 1) {
      save(items[0]);
      return put(op::append);
    }
    for (size_t done = 0; done < items.size();) {
      put(op::mark);
      for (size_t batch = 0; batch < batch_size && done < items.size(); ++batch)
        save(items[done++]);
      put(op::appends);
    }
  }

  void save_dict(const py_dict& dict) {
    put(op::empty_dict);
    put(op::memoize);
    const auto& items = dict.items;
    if (items.size() == 1) {
      save(items[0].first);
      save(items[0].second);
      return put(op::setitem);
    }
    if (items.empty()) return;
    size_t done = 0;
    size_t batch = 0;
    do {  // CPython's loop: a full batch is always followed by another (maybe empty) one
      put(op::mark);
      for (batch = 0; batch < batch_size && done < items.size(); ++batch, ++done) {
        save(items[done].first);
        save(items[done].second);
      }
      put(op::setitems);
    } while (batch == batch_size);
  }

  void save(const py_value& value) {
    opcode_boundary();
    std::visit(
        overloaded{
            [&](std::monostate) { put(op::none); },
            [&](bool x) { put(x ? op::newtrue : op::newfalse); }, [&](int64_t x) { save_int(x); },
            [&](const py_bigint&) { save_long(value); }, [&](double x) { save_float(x); },
            [&](const std::string& x) {
              save_sized(op::short_binunicode, op::binunicode, op::binunicode8, x);
            },
            [&](const py_bytes& x) {
              save_sized(op::short_binbytes, op::binbytes, op::binbytes8, x.data);
            },
            [&](const py_list& x) { save_list(x); }, [&](const py_tuple& x) { save_tuple(x); },
            [&](const py_dict& x) { save_dict(x); }},
        value.data());
  }

  std::string out_;
  size_t frame_start_ = no_frame;
  bool framing_ = false;
};

}  // namespace

std::string pickle_dumps(const py_value& value) {
  return pickle_writer{}.finish(value);
}

}  // namespace pqrt::transport
