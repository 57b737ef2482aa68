#pragma once

/// Azure Storage authorization (Blob, Queue): Shared Key, SAS tokens and bearer tokens as
/// `signer`s for the HTTP client, and SAS generation from an account key (tests, tools).

#include <chrono>
#include <functional>
#include <string>

#include <caf/expected.hpp>

#include "azure/http.hpp"

namespace pqrt::azure {

/// The x-ms-version pqrt speaks (2022-11-02: 100 MiB append blocks).
constexpr const char* storage_api_version = "2022-11-02";

/// The Shared Key StringToSign of a request (its headers must be final), for `account`.
std::string shared_key_string_to_sign(const http_request& request, const std::string& account);

/// Shared Key: sets x-ms-date (now) and Authorization. `bad_format` when the key is not base64.
/// The key is registered as a log secret.
caf::expected<signer> make_shared_key_signer(std::string account, const std::string& account_key);

/// A SAS token (`sv=...&sig=...`, with or without a leading '?') appended to the query; no
/// Authorization header. The token and its signature are registered as log secrets.
signer make_sas_signer(const std::string& token);

/// `Authorization: Bearer <token>` with the token from `token` (called on every attempt).
signer make_bearer_signer(std::function<caf::expected<std::string>()> token);

/// SAS parameters for the generators below.
struct sas_parameters {
  std::string permissions;  ///< e.g. "racwdl" (blob), "raup" (queue), account: "rwdlacup"
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point expiry;
  std::string version = "2021-08-06";
};

/// A blob service SAS for a container (sr=c): the token, URL-encoded, without '?'.
caf::expected<std::string> make_container_sas(const std::string& account,
                                              const std::string& account_key,
                                              const std::string& container,
                                              const sas_parameters& params);

/// A queue service SAS for one queue.
caf::expected<std::string> make_queue_sas(const std::string& account,
                                          const std::string& account_key, const std::string& queue,
                                          const sas_parameters& params);

/// An account SAS (`services` e.g. "bq", `resource_types` e.g. "sco").
caf::expected<std::string> make_account_sas(const std::string& account,
                                            const std::string& account_key,
                                            const std::string& services,
                                            const std::string& resource_types,
                                            const sas_parameters& params);

}  // namespace pqrt::azure
