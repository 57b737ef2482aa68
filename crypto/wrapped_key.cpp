// The wrapped-key file (declared in key_wrap.hpp): JSON form, legacy raw form, file I/O, and
// the local key source that unwraps with an RSA private key file.

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "crypto/base64.hpp"
#include "crypto/detail/gcm.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::crypto {

namespace {

constexpr char format_name[] = "pqrt-wrapped-key";
constexpr int format_version = 1;
constexpr size_t min_raw_size = 128;   // RSA-1024, the smallest key a legacy file may use
constexpr size_t max_raw_size = 2048;  // RSA-16384
constexpr size_t max_file_size = size_t{1024} * 1024;

// Raw RSA ciphertext is binary; a JSON file is text. Deciding on this, not on a parse failure,
// keeps a damaged JSON file from being misread as a legacy blob. DEL (0x7f) counts as text:
// JSON allows it unescaped and to_json writes it so.
bool looks_like_text(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c >= 0x20 && c <= 0x7f) || c == '\n' || c == '\r' || c == '\t';
  });
}

caf::error json_error(std::string what) {
  return make_error(errc::bad_format, "wrapped key file: " + std::move(what));
}

caf::expected<std::string> string_member(const rapidjson::Value& obj, const char* name,
                                         bool required) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) {
    if (required) return json_error(std::string{"no \""} + name + "\" field");
    return std::string{};
  }
  if (!it->value.IsString()) return json_error(std::string{"\""} + name + "\" is not a string");
  return std::string{it->value.GetString(), it->value.GetStringLength()};
}

caf::error check_format(const rapidjson::Value& obj) {
  auto format = string_member(obj, "format", true);
  if (!format) return format.error();
  if (*format != format_name)
    return json_error("format \"" + *format + "\", expected \"" + format_name + "\"");
  auto version = obj.FindMember("version");
  if (version == obj.MemberEnd() || !version->value.IsInt())
    return json_error("no integer \"version\" field");
  if (version->value.GetInt() != format_version)
    return make_error(errc::unsupported, "wrapped key file version " +
                                             std::to_string(version->value.GetInt()) +
                                             ", this build reads version 1");
  return {};
}

// What to_json can write back: valid UTF-8 (a \u escape of a lone surrogate is not).
bool writable(const std::string& text) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>> w{buf};
  return w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

caf::expected<wrapped_key> read_fields(const rapidjson::Value& obj) {
  auto alg_name = string_member(obj, "alg", true);
  if (!alg_name) return alg_name.error();
  auto alg = parse_wrap_alg(*alg_name);
  if (!alg) return alg.error();
  auto kid = string_member(obj, "kid", true);
  if (!kid) return kid.error();
  if (!writable(*kid)) return json_error("\"kid\" is not valid UTF-8 (a lone surrogate?)");
  // A NUL (\u0000) is damage, and C strings downstream would cut the id at it.
  if (kid->find('\0') != std::string::npos) return json_error("\"kid\" holds a NUL character");
  auto check = string_member(obj, "key_check", false);
  if (!check) return check.error();
  if (!check->empty() && !detail::is_key_check_hex(*check))
    return json_error("\"key_check\" must be 8 lower-case hex digits");
  auto blob = string_member(obj, "wrapped_key", true);
  if (!blob) return blob.error();
  auto wrapped = base64_decode(*blob);
  if (!wrapped || wrapped->empty()) return json_error("\"wrapped_key\" is not non-empty base64");
  return wrapped_key{*alg, std::move(*kid), std::move(*check), std::move(*wrapped), false};
}

caf::expected<wrapped_key> parse_json(std::string_view text) {
  rapidjson::Document doc;
  // Iterative: deep nesting costs heap, not stack (1 MB of "[" overflowed it).
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError())
    return json_error("not valid JSON at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                      rapidjson::GetParseError_En(doc.GetParseError()));
  if (!doc.IsObject()) return json_error("not a JSON object");
  if (auto err = check_format(doc)) return err;
  return read_fields(doc);
}

caf::expected<wrapped_key> parse_raw(std::string_view bytes) {
  if (bytes.size() < min_raw_size || bytes.size() > max_raw_size)
    return make_error(errc::bad_format,
                      "wrapped key file: neither pqrt JSON nor a raw RSA "
                      "ciphertext (" +
                          std::to_string(bytes.size()) + " bytes)");
  wrapped_key key;
  key.alg = wrap_alg::rsa_oaep;  // the Python solution's choice
  key.wrapped.assign(bytes.begin(), bytes.end());
  key.legacy = true;
  return key;
}

caf::error prefixed(const caf::error& err, const std::string& path) {
  return make_error(static_cast<errc>(err.code()), path + ": " + context_of(err));
}

}  // namespace

std::string to_json(const wrapped_key& key) {
  rapidjson::StringBuffer buf;
  // ASCII out (\uXXXX escapes): a file with raw UTF-8 in its kid would be read back as a raw blob.
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>> w{buf};
  w.StartObject();
  w.Key("format");
  w.String(format_name);
  w.Key("version");
  w.Int(format_version);
  w.Key("alg");
  w.String(to_string(key.alg));
  w.Key("kid");
  w.String(key.kid.data(), static_cast<rapidjson::SizeType>(key.kid.size()));
  if (!key.key_check.empty()) {
    w.Key("key_check");
    w.String(key.key_check.data(), static_cast<rapidjson::SizeType>(key.key_check.size()));
  }
  auto blob = base64_encode(key.wrapped.data(), key.wrapped.size());
  w.Key("wrapped_key");
  w.String(blob.data(), static_cast<rapidjson::SizeType>(blob.size()));
  w.EndObject();
  return std::string{buf.GetString(), buf.GetSize()} + "\n";
}

caf::expected<wrapped_key> parse_wrapped_key(std::string_view bytes) {
  if (bytes.empty()) return make_error(errc::bad_format, "wrapped key file: empty");
  return looks_like_text(bytes) ? parse_json(bytes) : parse_raw(bytes);
}

caf::expected<wrapped_key> read_wrapped_key_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::io_error, "cannot read " + path + ": " + std::strerror(errno));
  std::string bytes(max_file_size + 1, '\0');
  size_t have = 0;
  ssize_t got = 0;
  while ((got = ::read(fd, bytes.data() + have, bytes.size() - have)) > 0)
    have += got;
  auto read_errno = errno;
  ::close(fd);
  if (got < 0)
    return make_error(errc::io_error, "cannot read " + path + ": " + std::strerror(read_errno));
  if (have > max_file_size)
    return make_error(errc::bad_format, path + ": too large for a wrapped key file");
  bytes.resize(have);
  auto key = parse_wrapped_key(bytes);
  if (!key) return prefixed(key.error(), path);
  return key;
}

caf::error write_wrapped_key_file(const std::string& path, const wrapped_key& key) {
  auto text = to_json(key);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::io_error, "cannot create " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  auto write_errno = errno;
  ok = ::close(fd) == 0 && ok;
  if (ok) return {};
  ::unlink(path.c_str());
  return make_error(errc::io_error, "cannot write " + path + ": " + std::strerror(write_errno));
}

// --- key sources -----------------------------------------------------------------------------

caf::error check_unwrapped_key(const secure_buffer& key, const wrapped_key& wrapped,
                               const std::string& source) {
  if (key.size() != data_key_size)
    return make_error(errc::key_error, source + ": the unwrapped data key has " +
                                           std::to_string(key.size()) + " bytes, not 32");
  if (!wrapped.key_check.empty() && key_check_hex(key) != wrapped.key_check)
    return make_error(errc::key_error, source + ": the unwrapped key has key check " +
                                           key_check_hex(key) + ", the file says " +
                                           wrapped.key_check + ": the file was changed");
  return {};
}

namespace {

class local_key_source : public key_source {
public:
  local_key_source(rsa_key key, std::string path)
      : key_(std::move(key)), path_(std::move(path)), kid_(key_.key_id()) {
    // nop
  }

  caf::expected<secure_buffer> unwrap(const wrapped_key& wrapped) override {
    if (wrapped.kid.rfind("local:", 0) == 0 && wrapped.kid != kid_)
      return make_error(errc::key_error, "the data key was wrapped by " + wrapped.kid +
                                             ", the key in " + path_ + " is " + kid_);
    auto key = key_.unwrap(wrapped.wrapped, wrapped.alg);
    if (!key) return prefixed(key.error(), describe());
    if (auto err = check_unwrapped_key(*key, wrapped, describe())) return err;
    return key;
  }

  std::string describe() const override { return "local key " + path_; }

private:
  rsa_key key_;
  std::string path_;
  std::string kid_;
};

}  // namespace

std::unique_ptr<key_source> make_local_key_source(rsa_key private_key, std::string path) {
  return std::make_unique<local_key_source>(std::move(private_key), std::move(path));
}

}  // namespace pqrt::crypto
