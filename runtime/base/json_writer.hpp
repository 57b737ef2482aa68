#pragma once

/// JSON documents written with RapidJSON's writer (strings escaped by it, numbers as numbers),
/// for the events, status records and manifests pqrt posts. RapidJSON stays in json_writer.cpp.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pqrt::json {

/// One JSON object, written field by field in the order given: `object{}.field("a", 1).str()`.
class object {
public:
  object();
  ~object();
  object(object&&) noexcept;
  object& operator=(object&&) noexcept;
  object(const object&) = delete;
  object& operator=(const object&) = delete;

  object& field(std::string_view key, std::string_view value);
  object& field(std::string_view key, const std::string& value) {
    return field(key, std::string_view{value});
  }
  object& field(std::string_view key, const char* value) {
    return field(key, std::string_view{value});
  }
  object& field(std::string_view key, int64_t value);
  object& field(std::string_view key, uint64_t value);
  object& field(std::string_view key, int value) { return field(key, int64_t{value}); }
  /// An array of values that are JSON already (objects this class wrote).
  object& raw_array(std::string_view key, const std::vector<std::string>& items);

  /// Closes the object and returns its text; the object is spent.
  std::string str();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace pqrt::json
