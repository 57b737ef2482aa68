#pragma once

/// Internal: what the blob and queue stores share: the endpoint split into a client base URL and
/// a path prefix, and the choice of credentials per container or queue.

#include <map>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "azure/http.hpp"
#include "azure/storage_options.hpp"

namespace pqrt::azure::detail {

class storage_service {
public:
  /// `kind` is "blob" or "queue".
  static caf::expected<std::shared_ptr<storage_service>> make(const azure_storage_options& options,
                                                              const std::string& kind);

  /// The encoded request path for `/` + `rest` (rest already encoded).
  std::string path(const std::string& rest) const { return prefix_ + "/" + rest; }
  /// The signer for a container or queue (empty name: account-level).
  caf::expected<signer> signer_for(const std::string& name) const;
  http_client& client() { return *client_; }
  const azure_storage_options& options() const { return options_; }
  /// "azure blob storage https://acct.blob.core.windows.net" (no secret).
  const std::string& describe() const { return describe_; }

private:
  azure_storage_options options_;
  std::string prefix_;
  std::string describe_;
  std::unique_ptr<http_client> client_;
  std::map<std::string, signer> sas_;
  signer account_sas_;
  signer shared_key_;
  signer bearer_;
};

}  // namespace pqrt::azure::detail
