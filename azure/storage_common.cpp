// Internal: endpoint and credentials shared by the blob and queue stores.
#include "azure/storage_common.hpp"

#include "azure/storage_auth.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::azure::detail {

caf::expected<std::shared_ptr<storage_service>> storage_service::make(
    const azure_storage_options& options, const std::string& kind) {
  auto out = std::make_shared<storage_service>();
  out->options_ = options;
  if (options.account.empty())
    return make_error(errc::config_invalid, "azure " + kind + " storage: no account name");
  std::string endpoint = kind == "blob" ? options.blob_endpoint : options.queue_endpoint;
  if (endpoint.empty()) endpoint = "https://" + options.account + "." + kind + ".core.windows.net";
  while (!endpoint.empty() && endpoint.back() == '/')
    endpoint.pop_back();
  auto scheme = endpoint.find("://");
  if (scheme == std::string::npos || endpoint.find('?') != std::string::npos)
    return make_error(errc::config_invalid,
                      "azure " + kind + " storage: endpoint '" + endpoint + "' is not a URL");
  auto slash = endpoint.find('/', scheme + 3);
  std::string base = endpoint.substr(0, slash);
  if (slash != std::string::npos) out->prefix_ = endpoint.substr(slash);
  out->describe_ = "azure " + kind + " storage " + endpoint;
  http_options http;
  http.timeout = options.timeout;
  http.retry = options.retry;
  out->client_ = std::make_unique<http_client>(base, http);
  for (auto& [name, token] : options.sas)
    out->sas_[name] = make_sas_signer(token);
  if (!options.account_sas.empty()) out->account_sas_ = make_sas_signer(options.account_sas);
  if (!options.account_key.empty()) {
    auto sk = make_shared_key_signer(options.account, options.account_key);
    if (!sk) return sk.error();
    out->shared_key_ = std::move(*sk);
  }
  if (options.bearer_token) out->bearer_ = make_bearer_signer(options.bearer_token);
  if (out->sas_.empty() && !out->account_sas_ && !out->shared_key_ && !out->bearer_)
    return make_error(errc::config_invalid,
                      "azure " + kind + " storage: no credentials (key, SAS or token)");
  return out;
}

caf::expected<signer> storage_service::signer_for(const std::string& name) const {
  if (!name.empty()) {
    auto i = sas_.find(name);
    if (i != sas_.end()) return i->second;
  }
  if (account_sas_) return account_sas_;
  if (shared_key_) return shared_key_;
  if (bearer_) return bearer_;
  return make_error(errc::config_invalid, "azure storage: no credentials for '" + name + "'");
}

}  // namespace pqrt::azure::detail
