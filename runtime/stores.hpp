#pragma once

/// What the configuration says about where things live, made into objects for the roles and
/// tools: the blob and queue stores (`storage`: local or azure), the Azure credential
/// (`use_managed_identity`, or the service principal), the Key Vault client and the key source
/// (`key_source`: local or keyvault). No CAF here, so tools stay cheap to build.

#include <memory>

#include <caf/expected.hpp>

#include "azure/http.hpp"
#include "azure/key_vault.hpp"
#include "azure/token.hpp"
#include "config/config.hpp"
#include "crypto/key_wrap.hpp"
#include "transport/storage.hpp"

namespace pqrt {

/// The blob store the configuration names (`storage`: local or azure).
caf::expected<std::unique_ptr<transport::blob_store>> make_blob_store(const config::settings& cfg);
/// The queue store the configuration names.
caf::expected<std::unique_ptr<transport::queue_store>> make_queue_store(
    const config::settings& cfg);
/// The key source the configuration names (`key_source`: local or keyvault).
caf::expected<std::unique_ptr<crypto::key_source>> make_key_source(const config::settings& cfg);

/// Timeouts and retries of Azure REST calls (`azure_timeout_sec`, `azure_retry_attempts`,
/// `azure_give_up_sec`).
azure::http_options azure_http_options(const config::settings& cfg);

/// The Azure identity: the managed identity when `use_managed_identity`, else the service
/// principal (`tenant_id`, `service_principal_client_id`, `service_principal_secret`). One per
/// identity and process, so its tokens are shared. `config_invalid` naming what is missing.
caf::expected<std::shared_ptr<azure::token_provider>> azure_credential(const config::settings& cfg);

/// A secret field's value: as given, or, for `keyvault:NAME[/VERSION]`, that secret of the Key
/// Vault at `azure_keyvault_url`, fetched once per process and reference (so no secret need be
/// in a VM's config). `config_invalid` naming `field` when the vault refuses or has no such
/// secret; `unavailable` when it cannot be reached.
caf::expected<std::string> vault_secret(const config::settings& cfg, const std::string& field,
                                        const std::string& value);

/// The Key Vault of `azure_keyvault_url`, with `azure_credential`.
caf::expected<std::shared_ptr<azure::key_vault_client>> key_vault(const config::settings& cfg);

}  // namespace pqrt
