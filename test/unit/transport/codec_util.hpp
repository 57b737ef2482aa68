#pragma once

// Helpers for the rq_codec suite: value builders, hex, and running /usr/bin/python3 (always
// installed: the interop tests compare with CPython itself).

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "transport/py_value.hpp"

namespace pqrt::transport::test {

using V = py_value;

inline V T(std::vector<V> items) {
  return V::tuple(std::move(items));
}
inline V L(std::vector<V> items) {
  return V::list(std::move(items));
}
inline V D(std::vector<std::pair<V, V>> items) {
  return V::dict(std::move(items));
}
inline V B(std::string_view data) {
  return V::bytes(data);
}
inline V I(std::string_view decimal) {
  auto value = V::integer(decimal);
  REQUIRE(value);
  return *value;
}

inline std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

inline std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return out;
}

/// A temporary file that is removed again.
class temp_file {
public:
  explicit temp_file(std::string_view content) {
    char name[] = "/tmp/pqrt_codec_XXXXXX";
    int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    path_ = name;
    std::ofstream{path_, std::ios::binary} << content;
  }
  ~temp_file() { std::remove(path_.c_str()); }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// Runs `script` with /usr/bin/python3, `input` on its stdin; returns stdout.
inline std::string run_python(std::string_view script, std::string_view input = {}) {
  temp_file code{script};
  temp_file in{input};
  auto command = "/usr/bin/python3 " + code.path() + " < " + in.path();
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
    out.append(buf, n);
  REQUIRE(::pclose(pipe) == 0);
  return out;
}

/// Splits python's output into lines.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(text.substr(start, end - start));
  return lines;
}

}  // namespace pqrt::transport::test

namespace doctest {
/// Failed checks print values as Python would.
template <>
struct StringMaker<pqrt::transport::py_value> {
  static String convert(const pqrt::transport::py_value& value) { return value.repr().c_str(); }
};
}  // namespace doctest
