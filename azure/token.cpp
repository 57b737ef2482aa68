// Entra ID tokens: client credentials (v2.0) and managed identity (IMDS), cached per resource.
#include "azure/token.hpp"

#include <ctime>
#include <map>
#include <mutex>

#include <rapidjson/document.h>

#include "azure/responses.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt::azure {

std::chrono::seconds refresh_after(std::chrono::seconds lifetime) {
  auto margin = std::min(std::chrono::seconds{300}, lifetime / 2);
  return lifetime - margin;
}

namespace {

using clock = std::chrono::steady_clock;

/// What an endpoint answered: the token and how long it lives.
using fetched_token = detail::token_answer;

/// A number that may come as a JSON number (v2.0 endpoint) or a string of digits (IMDS).
std::optional<int64_t> json_seconds(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return std::nullopt;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (!it->value.IsString()) return std::nullopt;
  std::string text = it->value.GetString();
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoll(text);
}

/// Reads `access_token` and `expires_in` from a token response.
caf::expected<fetched_token> parse_token(const std::string& what, const http_response& resp) {
  auto out = detail::parse_token_answer(what, resp.body);
  if (out) log::add_secret(out->value);
  return out;
}

/// The cache both credentials share: one token per resource, refreshed at `refresh_after`.
class cached_provider : public token_provider {
public:
  caf::expected<std::string> token(const std::string& resource) override {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = clock::now();
    auto it = cache_.find(resource);
    if (it != cache_.end() && now < it->second.refresh_at) return it->second.value;
    auto fresh = fetch(resource);
    if (!fresh) {
      // Keep serving a token that is still valid for a minute; the next call tries again.
      if (it != cache_.end() && now + std::chrono::seconds{60} < it->second.expires_at) {
        log::warn(
            "azure", "token refresh failed; the current token is still valid",
            {{"identity", describe()}, {"resource", resource}, {"error", render(fresh.error())}});
        return it->second.value;
      }
      return fresh.error();
    }
    auto& slot = cache_[resource];
    slot.value = fresh->value;
    slot.refresh_at = now + refresh_after(fresh->lifetime);
    slot.expires_at = now + fresh->lifetime;
    log::info("azure", "token acquired",
              {{"identity", describe()},
               {"resource", resource},
               {"expires_in_s", std::to_string(fresh->lifetime.count())}});
    return slot.value;
  }

  void invalidate(const std::string& resource) override {
    std::lock_guard<std::mutex> guard{mtx_};
    cache_.erase(resource);
  }

protected:
  virtual caf::expected<fetched_token> fetch(const std::string& resource) = 0;

private:
  struct entry {
    std::string value;
    clock::time_point refresh_at;
    clock::time_point expires_at;
  };
  std::mutex mtx_;
  std::map<std::string, entry> cache_;
};

std::string form_value(const std::string& name, const std::string& value) {
  return name + "=" + url_encode(value);
}

class client_secret_credential : public cached_provider {
public:
  client_secret_credential(client_secret_options options, url_parts authority)
      : options_(std::move(options)),
        prefix_(authority.path),
        client_(authority.base, options_.http) {
    log::add_secret(options_.client_secret);
  }

  std::string describe() const override {
    return "service principal " + options_.client_id + " of tenant " + options_.tenant;
  }

protected:
  caf::expected<fetched_token> fetch(const std::string& resource) override {
    http_request req;
    req.method = "POST";
    req.path = prefix_ + "/" + url_encode(options_.tenant) + "/oauth2/v2.0/token";
    req.set_header("Content-Type", "application/x-www-form-urlencoded");
    req.set_header("Accept", "application/json");
    req.body = form_value("client_id", options_.client_id) + "&" +
               form_value("client_secret", options_.client_secret) +
               "&grant_type=client_credentials&" + form_value("scope", resource + "/.default");
    auto what = "Entra ID token for " + resource;
    auto resp = client_.send("get token", what, req, {});
    if (!resp) return resp.error();
    if (resp->status != 200) return response_error("get token", what, *resp);
    return parse_token(what, *resp);
  }

private:
  client_secret_options options_;
  std::string prefix_;
  http_client client_;
};

class managed_identity_credential : public cached_provider {
public:
  managed_identity_credential(managed_identity_options options, url_parts endpoint)
      : options_(std::move(options)),
        prefix_(endpoint.path),
        client_(endpoint.base, with_imds_retries(options_.http)) {
    // nop
  }

  std::string describe() const override {
    return options_.client_id.empty() ? "system-assigned managed identity"
                                      : "managed identity " + options_.client_id;
  }

protected:
  caf::expected<fetched_token> fetch(const std::string& resource) override {
    http_request req;
    req.method = "GET";
    req.path = prefix_ + "/metadata/identity/oauth2/token";
    req.query = {{"api-version", "2018-02-01"}, {"resource", resource}};
    if (!options_.client_id.empty()) req.query.emplace_back("client_id", options_.client_id);
    req.set_header("Metadata", "true");
    auto what = "managed identity token for " + resource;
    auto resp = client_.send("get token", what, req, {});
    if (!resp) return resp.error();
    if (resp->status != 200) return response_error("get token", what, *resp);
    return parse_token(what, *resp);
  }

private:
  static http_options with_imds_retries(http_options http) {
    http.extra_retry_statuses = {404, 410};
    return http;
  }

  managed_identity_options options_;
  std::string prefix_;
  http_client client_;
};

}  // namespace

caf::expected<detail::token_answer> detail::parse_token_answer(const std::string& what,
                                                               const std::string& body) {
  rapidjson::Document doc;
  // Iterative: deep nesting costs heap, not stack (1 MB of "[" overflowed it).
  doc.Parse<rapidjson::kParseIterativeFlag>(body.c_str(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return make_error(errc::bad_format, what + ": the token response is not a JSON object");
  auto tok = doc.FindMember("access_token");
  if (tok == doc.MemberEnd() || !tok->value.IsString() || tok->value.GetStringLength() == 0)
    return make_error(errc::bad_format, what + ": the token response has no access_token");
  auto expires = json_seconds(doc, "expires_in");
  if (!expires || *expires <= 0)
    return make_error(errc::bad_format, what + ": the token response has no valid expires_in");
  return token_answer{{tok->value.GetString(), tok->value.GetStringLength()},
                      std::chrono::seconds{*expires}};
}

caf::expected<http_response> send_authorized(http_client& client, token_provider& credential,
                                             const std::string& audience,
                                             const std::string& operation,
                                             const std::string& resource,
                                             const http_request& request) {
  signer sign = [&credential, &audience](http_request& r) -> caf::error {
    auto token = credential.token(audience);
    if (!token) return token.error();
    r.set_header("Authorization", "Bearer " + *token);
    return {};
  };
  for (int round = 0;; ++round) {
    auto resp = client.send(operation, resource, request, sign);
    if (!resp) return resp.error();
    if (resp->status == 401 && round == 0) {
      // An expired or revoked token: one more try with a new one.
      log::warn("azure", "401 Unauthorized; fetching a new token",
                {{"operation", operation}, {"resource", resource}});
      credential.invalidate(audience);
      continue;
    }
    if (resp->status / 100 != 2) return response_error(operation, resource, *resp);
    return resp;
  }
}

caf::expected<std::shared_ptr<token_provider>> make_client_secret_credential(
    client_secret_options options) {
  if (options.tenant.empty())
    return make_error(errc::config_invalid, "tenant_id: required for a service principal");
  if (options.client_id.empty())
    return make_error(errc::config_invalid,
                      "service_principal_client_id: required for a service principal");
  if (options.client_secret.empty())
    return make_error(errc::config_invalid,
                      "service_principal_secret: required for a service principal");
  auto authority = endpoint_parts("azure_authority_host", options.authority);
  if (!authority) return authority.error();
  return std::shared_ptr<token_provider>{
      std::make_shared<client_secret_credential>(std::move(options), std::move(*authority))};
}

caf::expected<std::shared_ptr<token_provider>> make_managed_identity_credential(
    managed_identity_options options) {
  auto endpoint = endpoint_parts("imds_endpoint", options.endpoint);
  if (!endpoint) return endpoint.error();
  return std::shared_ptr<token_provider>{
      std::make_shared<managed_identity_credential>(std::move(options), std::move(*endpoint))};
}

}  // namespace pqrt::azure
