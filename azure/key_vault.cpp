// Key Vault keys and secrets over REST (see key_vault.hpp).
#include "azure/key_vault.hpp"

#include <mutex>

#include <openssl/crypto.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "azure/encoding.hpp"
#include "azure/responses.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt::azure {

namespace {

constexpr const char* api_version = "7.4";

/// Wipes a string that held key material or a secret.
void wipe(std::string& text) {
  if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

caf::expected<rapidjson::Document> parse_object(const std::string& what, const std::string& body) {
  rapidjson::Document doc;
  // Iterative: deep nesting costs heap, not stack (1 MB of "[" overflowed it).
  doc.Parse<rapidjson::kParseIterativeFlag>(body.c_str(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return make_error(errc::bad_format, what + ": the answer is not a JSON object");
  return doc;
}

std::string string_member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

/// Decodes a base64url member into bytes; `bad_format` naming it when absent or malformed.
caf::expected<std::string> b64url_member(const std::string& what, const rapidjson::Value& obj,
                                         const char* name) {
  auto text = string_member(obj, name);
  auto bytes = base64url_decode(text);
  wipe(text);
  if (!bytes || bytes->empty())
    return make_error(errc::bad_format,
                      what + ": the answer has no valid base64url '" + name + "'");
  return std::move(*bytes);
}

std::vector<uint8_t> to_bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

crypto::secure_buffer to_secure(std::string& text) {
  crypto::secure_buffer out{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  wipe(text);
  return out;
}

}  // namespace

// --- answers --------------------------------------------------------------------------------

caf::expected<vault_key> detail::parse_vault_key(const std::string& what, const std::string& body) {
  auto doc = parse_object(what, body);
  if (!doc) return doc.error();
  auto key = doc->FindMember("key");
  if (key == doc->MemberEnd() || !key->value.IsObject())
    return make_error(errc::bad_format, what + ": the answer has no 'key'");
  auto kty = string_member(key->value, "kty");
  if (kty != "RSA" && kty != "RSA-HSM")
    return make_error(errc::unsupported, what + ": key type '" + kty + "' is not RSA");
  auto n = b64url_member(what, key->value, "n");
  if (!n) return n.error();
  auto e = b64url_member(what, key->value, "e");
  if (!e) return e.error();
  auto rsa = crypto::rsa_key::from_modulus_exponent(to_bytes(*n), to_bytes(*e));
  if (!rsa)
    return make_error(static_cast<errc>(rsa.error().code()), what + ": " + context_of(rsa.error()));
  return vault_key{string_member(key->value, "kid"), std::move(*rsa)};
}

caf::expected<crypto::secure_buffer> detail::parse_unwrapped_key(const std::string& what,
                                                                 const std::string& body) {
  auto doc = parse_object(what, body);
  if (!doc) return doc.error();
  auto key = b64url_member(what, *doc, "value");
  if (!key) return key.error();
  return to_secure(*key);
}

caf::expected<std::string> detail::parse_secret_value(const std::string& what,
                                                      const std::string& body) {
  auto doc = parse_object(what, body);
  if (!doc) return doc.error();
  auto it = doc->FindMember("value");
  if (it == doc->MemberEnd() || !it->value.IsString())
    return make_error(errc::bad_format, what + ": the answer has no value");
  return std::string{it->value.GetString(), it->value.GetStringLength()};
}

key_vault_client::key_vault_client(key_vault_options options, url_parts parts)
    : options_(std::move(options)),
      url_(parts.base + parts.path),
      prefix_(parts.path),
      client_(parts.base, options_.http) {
  // nop
}

caf::expected<std::shared_ptr<key_vault_client>> key_vault_client::make(key_vault_options options) {
  if (!options.credential)
    return make_error(errc::config_invalid,
                      "Key Vault needs a credential: service_principal_client_id and "
                      "service_principal_secret, or use_managed_identity");
  auto parts = endpoint_parts("azure_keyvault_url", options.vault_url);
  if (!parts) return parts.error();
  return std::make_shared<key_vault_client>(std::move(options), std::move(*parts));
}

caf::expected<std::string> key_vault_client::vault_path(const std::string& kid) const {
  if (kid.compare(0, url_.size(), url_) != 0 || kid.size() <= url_.size() ||
      kid[url_.size()] != '/' || kid.find_first_of("?#") != std::string::npos)
    return make_error(errc::key_error,
                      "the key id " + kid + " does not name a key of the vault " + url_);
  return prefix_ + kid.substr(url_.size());
}

caf::expected<http_response> key_vault_client::call(const std::string& operation,
                                                    const std::string& resource, http_request req) {
  req.query.emplace_back("api-version", api_version);
  req.set_header("Accept", "application/json");
  if (!req.body.empty()) req.set_header("Content-Type", "application/json");
  auto resp =
      send_authorized(client_, *options_.credential, resources::vault, operation, resource, req);
  wipe(req.body);
  if (!resp) return resp.error();
  return resp;
}

std::pair<http_request, std::string> key_vault_client::get_object(
    const std::string& kind, const std::string& name, const std::string& version) const {
  http_request req;
  req.method = "GET";
  req.path = prefix_ + "/" + kind + "/" + url_encode(name);
  if (!version.empty()) req.path += "/" + url_encode(version);
  return {std::move(req), url_ + "/" + kind + "/" + name + (version.empty() ? "" : "/" + version)};
}

caf::expected<vault_key> key_vault_client::get_key(const std::string& name,
                                                   const std::string& version) {
  auto [req, resource] = get_object("keys", name, version);
  auto resp = call("get key", resource, std::move(req));
  if (!resp) return resp.error();
  auto what = "get key " + resource;
  auto out = detail::parse_vault_key(what, resp->body);
  if (!out) return out.error();
  if (!vault_path(out->kid))
    return make_error(errc::bad_format,
                      what + ": the key id '" + out->kid + "' is not a key of this vault");
  return out;
}

caf::expected<crypto::secure_buffer> key_vault_client::unwrap_key(
    const std::string& kid, crypto::wrap_alg alg, const std::vector<uint8_t>& wrapped) {
  auto path = vault_path(kid);
  if (!path) return path.error();
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  w.Key("alg");
  w.String(crypto::to_string(alg));
  w.Key("value");
  auto value = base64url_encode({reinterpret_cast<const char*>(wrapped.data()), wrapped.size()});
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
  w.EndObject();
  http_request req;
  req.method = "POST";
  req.path = *path + "/unwrapkey";
  req.body.assign(buf.GetString(), buf.GetSize());
  auto resp = call("unwrap key", kid, std::move(req));
  if (!resp) return resp.error();
  auto key = detail::parse_unwrapped_key("unwrap key " + kid, resp->body);
  wipe(resp->body);
  return key;
}

caf::expected<crypto::secure_buffer> key_vault_client::get_secret(const std::string& name,
                                                                  const std::string& version) {
  auto [req, resource] = get_object("secrets", name, version);
  auto resp = call("get secret", resource, std::move(req));
  if (!resp) return resp.error();
  auto value = detail::parse_secret_value("get secret " + resource, resp->body);
  wipe(resp->body);
  if (!value) return value.error();
  log::add_secret(*value);
  return to_secure(*value);
}

// --- key source -----------------------------------------------------------------------------

namespace {

class key_vault_key_source : public crypto::key_source {
public:
  key_vault_key_source(std::shared_ptr<key_vault_client> vault, std::string name,
                       std::string version)
      : vault_(std::move(vault)), name_(std::move(name)), version_(std::move(version)) {
    // nop
  }

  caf::expected<crypto::secure_buffer> unwrap(const crypto::wrapped_key& wrapped) override {
    auto kid = key_id_for(wrapped);
    if (!kid) return kid.error();
    auto key = vault_->unwrap_key(*kid, wrapped.alg, wrapped.wrapped);
    if (!key) return key.error();
    if (auto err = crypto::check_unwrapped_key(*key, wrapped, describe())) return err;
    return key;
  }

  std::string describe() const override {
    return "Key Vault key " + vault_->url() + "/keys/" + name_ +
           (version_.empty() ? "" : "/" + version_);
  }

private:
  caf::expected<std::string> key_id_for(const crypto::wrapped_key& wrapped) {
    if (wrapped.kid.rfind("local:", 0) == 0)
      return make_error(errc::key_error, "the data key was wrapped by the local key " +
                                             wrapped.kid + ", not by " + describe() +
                                             "; use key_source local");
    if (!wrapped.kid.empty()) return wrapped.kid;  // checked against the vault by unwrap_key
    std::lock_guard<std::mutex> guard{mtx_};
    if (current_kid_.empty()) {
      if (!version_.empty()) {
        current_kid_ = vault_->url() + "/keys/" + name_ + "/" + version_;
      } else {
        auto key = vault_->get_key(name_, version_);
        if (!key) return key.error();
        current_kid_ = key->kid;
      }
    }
    return current_kid_;
  }

  std::shared_ptr<key_vault_client> vault_;
  std::string name_;
  std::string version_;
  std::mutex mtx_;
  std::string current_kid_;
};

}  // namespace

std::unique_ptr<crypto::key_source> make_key_vault_key_source(
    std::shared_ptr<key_vault_client> vault, std::string key_name, std::string key_version) {
  return std::make_unique<key_vault_key_source>(std::move(vault), std::move(key_name),
                                                std::move(key_version));
}

}  // namespace pqrt::azure
