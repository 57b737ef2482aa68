#include "runtime/base/json_writer.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace pqrt::json {

struct object::impl {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buffer};
  void key(std::string_view k) { writer.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
};

object::object() : impl_(std::make_unique<impl>()) {
  impl_->writer.StartObject();
}
object::~object() = default;
object::object(object&&) noexcept = default;
object& object::operator=(object&&) noexcept = default;

object& object::field(std::string_view key, std::string_view value) {
  impl_->key(key);
  impl_->writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return *this;
}

object& object::field(std::string_view key, int64_t value) {
  impl_->key(key);
  impl_->writer.Int64(value);
  return *this;
}

object& object::field(std::string_view key, uint64_t value) {
  impl_->key(key);
  impl_->writer.Uint64(value);
  return *this;
}

object& object::raw_array(std::string_view key, const std::vector<std::string>& items) {
  impl_->key(key);
  impl_->writer.StartArray();
  for (const auto& item : items)
    impl_->writer.RawValue(item.data(), item.size(), rapidjson::kObjectType);
  impl_->writer.EndArray();
  return *this;
}

std::string object::str() {
  impl_->writer.EndObject();
  return {impl_->buffer.GetString(), impl_->buffer.GetSize()};
}

}  // namespace pqrt::json
