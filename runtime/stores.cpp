// Stores, credentials and key sources made from the configuration (see stores.hpp).
#include "runtime/stores.hpp"

#include <map>
#include <mutex>
#include <tuple>

#include "azure/blob_client.hpp"
#include "azure/queue_client.hpp"
#include "runtime/base/error.hpp"
#include "transport/local_storage.hpp"

namespace pqrt {

azure::http_options azure_http_options(const config::settings& cfg) {
  azure::http_options http;
  http.timeout = std::chrono::seconds{cfg.azure_timeout_sec};
  http.retry.max_attempts = static_cast<int>(cfg.azure_retry_attempts);
  http.retry.total_budget = std::chrono::seconds{cfg.azure_give_up_sec};
  return http;
}

namespace {

/// True when the configuration names an Azure identity at all.
bool has_identity(const config::settings& cfg) {
  return cfg.use_managed_identity || !cfg.service_principal_client_id.empty();
}

}  // namespace

caf::expected<std::string> vault_secret(const config::settings& cfg, const std::string& field,
                                        const std::string& value) {
  constexpr std::string_view prefix = "keyvault:";
  if (value.compare(0, prefix.size(), prefix) != 0) return value;
  static std::mutex mtx;
  static std::map<std::string, std::string> cache;
  auto ref = value.substr(prefix.size());
  std::lock_guard<std::mutex> guard{mtx};
  auto key = cfg.azure_keyvault_url + "|" + ref;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto slash = ref.find('/');
  auto name = ref.substr(0, slash);
  auto version = slash == std::string::npos ? std::string{} : ref.substr(slash + 1);
  if (name.empty())
    return make_error(errc::config_invalid, field + ": 'keyvault:' names no secret");
  auto vault = key_vault(cfg);
  if (!vault) return make_error(errc::config_invalid, field + ": " + render(vault.error()));
  auto secret = (*vault)->get_secret(name, version);
  if (!secret) {
    auto code = is_permanent(secret.error()) ? errc::config_invalid : errc::unavailable;
    return make_error(code, field + ": " + render(secret.error()));
  }
  std::string out{reinterpret_cast<const char*>(secret->data()), secret->size()};
  cache[key] = out;
  return out;
}

namespace {

/// Azure Storage as the configuration describes it: the account, its endpoints (Azurite's
/// path-style URLs in tests), the account key, the Python solution's SAS token per container
/// and queue, and bearer tokens of the Azure identity when one is configured.
caf::expected<azure::azure_storage_options> azure_options(const config::settings& cfg) {
  azure::azure_storage_options o;
  o.account = cfg.storage_account_name;
  o.blob_endpoint = cfg.blob_endpoint;
  o.queue_endpoint = cfg.queue_endpoint;
  auto key = vault_secret(cfg, "storage_account_key", cfg.storage_account_key);
  if (!key) return key.error();
  o.account_key = std::move(*key);
  auto sas = [&](const std::string& name, const std::string& token) {
    if (!token.empty()) o.sas[name] = token;
  };
  sas(cfg.storage_container_name, cfg.encrypted_files_sas_token);
  sas(cfg.results_container_name, cfg.results_container_sas_token);
  sas(cfg.results_queue_name, cfg.results_queue_sas_token);
  sas(cfg.job_status_queue_name, cfg.job_status_queue_sas_token);
  sas(cfg.workload_tracker_queue_name, cfg.workload_tracker_sas_token);
  sas(cfg.metrics_queue_name, cfg.metrics_sas_token);
  auto http = azure_http_options(cfg);
  o.timeout = http.timeout;
  o.retry = http.retry;
  if (has_identity(cfg)) {
    auto credential = azure_credential(cfg);
    if (!credential) return credential.error();
    o.bearer_token = [credential = *credential] {
      return credential->token(azure::resources::storage);
    };
  }
  return o;
}

caf::error azure_config_error(const caf::error& err) {
  return make_error(errc::config_invalid,
                    "storage azure needs storage_account_name and storage_account_key, SAS "
                    "tokens or an Azure identity (blob_endpoint/queue_endpoint for an "
                    "emulator): " +
                        context_of(err));
}

}  // namespace

caf::expected<std::unique_ptr<transport::blob_store>> make_blob_store(const config::settings& cfg) {
  if (cfg.storage == "local") return transport::make_local_blob_store(cfg.local_storage_dir);
  auto options = azure_options(cfg);
  if (!options) return options.error();
  auto store = azure::make_azure_blob_store(std::move(*options));
  if (!store) return azure_config_error(store.error());
  return store;
}

caf::expected<std::unique_ptr<transport::queue_store>> make_queue_store(
    const config::settings& cfg) {
  if (cfg.storage == "local") return transport::make_local_queue_store(cfg.local_storage_dir);
  auto options = azure_options(cfg);
  if (!options) return options.error();
  auto store = azure::make_azure_queue_store(std::move(*options));
  if (!store) return azure_config_error(store.error());
  return store;
}

caf::expected<std::shared_ptr<azure::token_provider>> azure_credential(
    const config::settings& cfg) {
  // One provider per identity: every store, vault client and actor of the process shares its
  // cached tokens (IMDS allows 20 requests/s; Entra ID throttles too).
  using key_type = std::tuple<bool, std::string, std::string, std::string, std::string>;
  static std::mutex mtx;
  // Never destroyed: each provider holds cpprest clients whose sockets belong to cpprest's shared
  // threadpool, a function-local static made after this cache and so destroyed before it at
  // exit; closing them then would touch the freed Asio reactor (ASan: heap-use-after-free).
  static auto& cache = *new std::map<key_type, std::shared_ptr<azure::token_provider>>;
  key_type key{
      cfg.use_managed_identity,
      cfg.use_managed_identity ? cfg.imds_endpoint : cfg.azure_authority_host,
      cfg.use_managed_identity ? cfg.managed_identity_client_id : cfg.service_principal_client_id,
      cfg.use_managed_identity ? std::string{} : cfg.tenant_id,
      cfg.use_managed_identity ? std::string{} : cfg.service_principal_secret};
  std::lock_guard<std::mutex> guard{mtx};
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  caf::expected<std::shared_ptr<azure::token_provider>> made{nullptr};
  if (cfg.use_managed_identity) {
    azure::managed_identity_options o;
    o.endpoint = cfg.imds_endpoint;
    o.client_id = cfg.managed_identity_client_id;
    o.http = azure_http_options(cfg);
    made = azure::make_managed_identity_credential(std::move(o));
  } else {
    if (cfg.service_principal_client_id.empty() && cfg.service_principal_secret.empty())
      return make_error(errc::config_invalid,
                        "Azure credentials: set tenant_id, service_principal_client_id and "
                        "service_principal_secret, or use_managed_identity");
    azure::client_secret_options o;
    o.authority = cfg.azure_authority_host;
    o.tenant = cfg.tenant_id;
    o.client_id = cfg.service_principal_client_id;
    o.client_secret = cfg.service_principal_secret;
    o.http = azure_http_options(cfg);
    made = azure::make_client_secret_credential(std::move(o));
  }
  if (!made) return made.error();
  cache[key] = *made;
  return made;
}

caf::expected<std::shared_ptr<azure::key_vault_client>> key_vault(const config::settings& cfg) {
  if (cfg.azure_keyvault_url.empty())
    return make_error(errc::config_invalid, "azure_keyvault_url: required for Key Vault");
  auto credential = azure_credential(cfg);
  if (!credential) return credential.error();
  azure::key_vault_options o;
  o.vault_url = cfg.azure_keyvault_url;
  o.credential = std::move(*credential);
  o.http = azure_http_options(cfg);
  return azure::key_vault_client::make(std::move(o));
}

caf::expected<std::unique_ptr<crypto::key_source>> make_key_source(const config::settings& cfg) {
  if (cfg.key_source == "keyvault") {
    auto vault = key_vault(cfg);
    if (!vault) return vault.error();
    return azure::make_key_vault_key_source(std::move(*vault), cfg.azure_keyvault_key_name,
                                            cfg.azure_keyvault_key_version);
  }
  if (cfg.rsa_private_key_file.empty())
    return make_error(errc::config_invalid,
                      "rsa_private_key_file: required when key_source is local");
  auto rsa = crypto::rsa_key::load_pem_file(cfg.rsa_private_key_file);
  if (!rsa)
    return make_error(errc::config_invalid, "rsa_private_key_file: " + cfg.rsa_private_key_file +
                                                ": " + render(rsa.error()));
  if (!rsa->has_private())
    return make_error(errc::key_error, cfg.rsa_private_key_file + " holds no private key");
  return crypto::make_local_key_source(std::move(*rsa), cfg.rsa_private_key_file);
}

}  // namespace pqrt
