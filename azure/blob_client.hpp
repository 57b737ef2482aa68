#pragma once

/// Azure Blob Storage as a transport::blob_store (REST over azure/http.hpp, no Azure SDK).
///
/// Puts up to `single_put_limit` go in one Put Blob; larger blobs and streamed writers use Put
/// Block (fixed-width base64 ids) and Put Block List on commit, so nothing is visible before.
/// Streamed reads fetch ranges of `read_size` (each range retried from its offset), pinned to
/// the ETag seen when opened. Appends use `x-ms-blob-condition-appendpos`: a position that is not
/// the blob's size is `conflict`.

#include <memory>

#include <caf/expected.hpp>

#include "azure/storage_options.hpp"
#include "transport/storage.hpp"

namespace pqrt::azure {

/// `config_invalid` for options without an account, endpoint URL or credentials.
caf::expected<std::unique_ptr<transport::blob_store>> make_azure_blob_store(
    azure_storage_options options);

}  // namespace pqrt::azure
