#pragma once

/// Azure Storage Queues as a transport::queue_consumer (REST over azure/http.hpp, no Azure SDK):
/// pqrt posts through the queue_store part; taking messages (get, remove, update_visibility,
/// approximate_count) serves the Azure suite and benchmark, standing in for the queues' consumers.
///
/// Message text is sent base64-encoded (safe in XML for any bytes, and what Azure Functions
/// expects), so a message's text may hold at most 48 KiB (3/4 of Azure's 64 KiB): longer text is
/// `too_large` before anything is sent. Messages never expire (messagettl=-1).

#include <memory>

#include <caf/expected.hpp>

#include "azure/storage_options.hpp"
#include "transport/storage.hpp"

namespace pqrt::azure {

/// The longest text a message can carry once base64-encoded into Azure's 64 KiB.
constexpr size_t max_queue_text_bytes = transport::queue_store::max_message_bytes / 4 * 3;

/// `config_invalid` for options without an account, endpoint URL or credentials.
caf::expected<std::unique_ptr<transport::queue_store>> make_azure_queue_store(
    azure_storage_options options);

/// The same store, with the operations that take messages; errors as `make_azure_queue_store`.
caf::expected<std::unique_ptr<transport::queue_consumer>> make_azure_queue_consumer(
    azure_storage_options options);

}  // namespace pqrt::azure
