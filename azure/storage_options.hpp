#pragma once

/// Options of the Azure Storage implementations of transport/storage.hpp (blob_client.hpp,
/// queue_client.hpp).

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>

#include <caf/expected.hpp>

#include "azure/http.hpp"

namespace pqrt::azure {

struct azure_storage_options {
  /// The storage account, e.g. `devstoreaccount1`.
  std::string account;
  /// Service endpoints; empty: `https://{account}.blob.core.windows.net` and
  /// `https://{account}.queue.core.windows.net`. Emulators use path-style URLs such as
  /// `http://127.0.0.1:10000/devstoreaccount1`.
  std::string blob_endpoint;
  std::string queue_endpoint;

  /// Credentials, first match wins: a SAS for the container or queue (`sas[name]`), then
  /// `account_sas`, then the Shared Key `account_key`, then `bearer_token`.
  std::string account_key;
  std::map<std::string, std::string> sas;
  std::string account_sas;
  std::function<caf::expected<std::string>()> bearer_token;

  /// Per-call timeout (inactivity of one request) and retries.
  std::chrono::milliseconds timeout{60'000};
  retry_policy retry;

  /// Blobs up to this size go in one Put Blob; larger ones in blocks of `block_size`.
  size_t single_put_limit = 4 * 1024 * 1024;
  size_t block_size = 4 * 1024 * 1024;
  /// Streamed reads fetch ranges of this size.
  size_t read_size = 4 * 1024 * 1024;
};

}  // namespace pqrt::azure
