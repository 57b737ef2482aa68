#pragma once

/// Microsoft Entra ID access tokens for Azure's REST APIs (ARM, Monitor, Key Vault, Storage):
/// a service principal's client credentials (OAuth 2.0 v2.0 endpoint), or the VM's managed
/// identity through the Instance Metadata Service (IMDS). One token per resource (audience),
/// cached and fetched again before it expires; a failed refresh keeps a token that is still
/// valid. Tokens and the client secret are registered as log secrets.

#include <chrono>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "azure/http.hpp"

namespace pqrt::azure {

/// Resources (audiences) pqrt asks tokens for. The v2.0 endpoint takes `<resource>/.default`.
namespace resources {
inline constexpr const char* management = "https://management.azure.com";
inline constexpr const char* vault = "https://vault.azure.net";
inline constexpr const char* storage = "https://storage.azure.com";
}  // namespace resources

/// A source of access tokens for one identity.
class token_provider {
public:
  virtual ~token_provider() = default;
  /// A token for `resource` valid for a while: the cached one until its refresh time (5 minutes
  /// before expiry, or half its life when that is shorter), then a new one.
  virtual caf::expected<std::string> token(const std::string& resource) = 0;
  /// Drops the cached token for `resource` (the resource answered 401).
  virtual void invalidate(const std::string& resource) = 0;
  /// Names the identity for logs ("service principal 0000-… of tenant …").
  virtual std::string describe() const = 0;
};

struct client_secret_options {
  /// Entra ID's host; other clouds have their own (login.microsoftonline.us, …); tests a fixture.
  std::string authority = "https://login.microsoftonline.com";
  std::string tenant;
  std::string client_id;
  std::string client_secret;
  http_options http;
};

struct managed_identity_options {
  /// IMDS; tests point it at a fixture.
  std::string endpoint = "http://169.254.169.254";
  /// A user-assigned identity's client id; empty for the system-assigned identity.
  std::string client_id;
  http_options http;
};

/// `config_invalid` naming the missing field (tenant, client id, secret) or a bad URL.
caf::expected<std::shared_ptr<token_provider>> make_client_secret_credential(
    client_secret_options options);

/// `config_invalid` for a bad endpoint URL. IMDS answers 404 and 410 while it updates: those are
/// retried too.
caf::expected<std::shared_ptr<token_provider>> make_managed_identity_credential(
    managed_identity_options options);

/// Sends `request` with a bearer token of `credential` for `audience`; a 401 drops the token
/// and tries once more with a new one. A final non-2xx status is `response_error`.
caf::expected<http_response> send_authorized(http_client& client, token_provider& credential,
                                             const std::string& audience,
                                             const std::string& operation,
                                             const std::string& resource,
                                             const http_request& request);

/// When a token fetched now with a lifetime of `lifetime` should be fetched again.
std::chrono::seconds refresh_after(std::chrono::seconds lifetime);

}  // namespace pqrt::azure
