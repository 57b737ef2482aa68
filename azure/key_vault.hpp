#pragma once

/// Azure Key Vault (REST api-version 7.4, no Azure SDK): get a key (its JWK as an RSA public key,
/// to wrap data keys locally), unwrap a data key in the vault (RSA-OAEP-256, RSA-OAEP), get a
/// secret. Bearer tokens for `https://vault.azure.net` come from a token_provider; a 401 drops
/// the cached token and tries once more with a new one. Requests only ever go to the configured
/// vault: a wrapped-key file naming a key of another host is refused, so a changed file cannot
/// send a token elsewhere.

#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "azure/http.hpp"
#include "azure/token.hpp"
#include "crypto/key_wrap.hpp"
#include "crypto/secure_buffer.hpp"

namespace pqrt::azure {

struct key_vault_options {
  /// `https://<vault>.vault.azure.net` (a fixture's URL in tests).
  std::string vault_url;
  std::shared_ptr<token_provider> credential;
  http_options http;
};

/// A vault key: its versioned id (`<vault>/keys/<name>/<version>`) and its public part.
struct vault_key {
  std::string kid;
  crypto::rsa_key public_key;
};

class key_vault_client {
public:
  /// `config_invalid` for a missing credential or a vault URL that is not http(s).
  static caf::expected<std::shared_ptr<key_vault_client>> make(key_vault_options options);

  /// The key `name` (its `version`; empty: the current one). Only RSA keys.
  caf::expected<vault_key> get_key(const std::string& name, const std::string& version);
  /// Unwraps `wrapped` with the key `kid` (a versioned key id of this vault) in the vault.
  caf::expected<crypto::secure_buffer> unwrap_key(const std::string& kid, crypto::wrap_alg alg,
                                                  const std::vector<uint8_t>& wrapped);
  /// The value of the secret `name` (`version`; empty: the current one).
  caf::expected<crypto::secure_buffer> get_secret(const std::string& name,
                                                  const std::string& version);

  /// The vault URL without a trailing '/'.
  const std::string& url() const { return url_; }

  key_vault_client(key_vault_options options, url_parts parts);

private:
  caf::expected<http_response> call(const std::string& operation, const std::string& resource,
                                    http_request req);
  /// A GET of a key or secret (`kind` keys or secrets) and its URL for messages.
  std::pair<http_request, std::string> get_object(const std::string& kind, const std::string& name,
                                                  const std::string& version) const;
  /// The request path of a vault URL or path below the vault; `key_error` for another host.
  caf::expected<std::string> vault_path(const std::string& kid) const;

  key_vault_options options_;
  std::string url_;
  std::string prefix_;
  http_client client_;
};

/// Unwraps data keys through Key Vault. A file's `kid` that names a key of this vault is used as
/// is; a file without one (the Python solution's raw files) uses `key_name` / `key_version`
/// (empty version: the key's current version, looked up once).
std::unique_ptr<crypto::key_source> make_key_vault_key_source(
    std::shared_ptr<key_vault_client> vault, std::string key_name, std::string key_version);

}  // namespace pqrt::azure
