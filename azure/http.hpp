#pragma once

/// A small HTTP client for Azure's REST APIs (over cpprestsdk, which stays inside azure/*.cpp):
/// per-call timeouts, TLS verification always on, one pooled connection set per base URL, a
/// `pqrt/<version>` User-Agent, and retries of transient failures (408, 429, 500, 502, 503, 504
/// and connection errors) with exponential backoff, full jitter and `Retry-After`, re-signing the
/// request on every attempt. Error and log texts name the operation, the resource and Azure's
/// error code; they never hold a secret (SAS signatures, keys, Authorization headers).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace pqrt::azure {

using header_list = std::vector<std::pair<std::string, std::string>>;

/// How often and how long to retry.
struct retry_policy {
  int max_attempts = 4;                             ///< tries in all (1 = no retry)
  std::chrono::milliseconds base_delay{800};        ///< the first backoff's upper bound
  std::chrono::milliseconds max_delay{60'000};      ///< cap of one backoff (and of Retry-After)
  std::chrono::milliseconds total_budget{120'000};  ///< no new attempt after this since the first
};

/// True for the statuses worth retrying: 408, 429, 500, 502, 503, 504.
bool is_retryable_status(int status);

/// A `Retry-After` value in seconds ("5", " 2 "); nullopt for anything else (HTTP dates too).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

/// A `retry-after-ms` / `x-ms-retry-after-ms` value in milliseconds; nullopt when not a number.
std::optional<std::chrono::milliseconds> parse_retry_after_ms(std::string_view value);

/// The upper bound of the backoff before retry number `retry` (0 = first retry):
/// min(max_delay, base_delay * 2^retry).
std::chrono::milliseconds backoff_cap(const retry_policy& policy, int retry);

/// Full jitter: `unit` (in [0, 1)) times `backoff_cap`.
std::chrono::milliseconds backoff_delay(const retry_policy& policy, int retry, double unit);

/// One request: the path exactly as sent (percent-encoded, starting with '/'), the query as
/// decoded name/value pairs (encoded on the wire), headers and a body.
struct http_request {
  std::string method;
  std::string path;
  header_list query;
  header_list headers;
  std::string body;

  /// The value of a header (case-insensitive name), empty when absent.
  std::string header(std::string_view name) const;
  void set_header(std::string name, std::string value);
};

/// A response: header names lower-cased.
struct http_response {
  int status = 0;
  header_list headers;
  std::string body;

  /// The value of a header (case-insensitive name), empty when absent.
  std::string header(std::string_view name) const;
  /// Azure's error code: `x-ms-error-code`, else `<Code>` in an XML body (Storage), else
  /// `error.code` (and `error.innererror.code` after a '/') of a JSON body (Key Vault, ARM), else
  /// `error` of a JSON body (Entra ID); empty when none.
  std::string error_code() const;
  /// Azure's error message (first line of `<Message>`, `error.message` or `error_description`);
  /// empty when none.
  std::string error_message() const;
};

/// Adds authorization to a request; called on a fresh copy before every attempt.
using signer = std::function<caf::error(http_request&)>;

struct http_options {
  std::chrono::milliseconds timeout{60'000};  ///< default per-call timeout
  retry_policy retry;
  /// Statuses retried besides the usual ones (IMDS: 404 while it updates, 410).
  std::vector<int> extra_retry_statuses;
};

/// Percent-encodes everything but unreserved characters (and '/' when `keep_slash`).
std::string url_encode(std::string_view text, bool keep_slash = false);
/// Decodes %XX (and '+' as a space when `plus_space`).
std::string url_decode(std::string_view text, bool plus_space = false);

/// A URL cut for http_client: `base` is scheme://host[:port], `path` the percent-encoded path
/// ("" or starting with '/'), `query` the raw query without '?'.
struct url_parts {
  std::string base;
  std::string path;
  std::string query;
};
/// nullopt unless `url` is an http or https URL with a host (and no fragment or user info).
std::optional<url_parts> split_url(std::string_view url);
/// A configured endpoint (`field` names it in the error): an http(s) URL without a query, its
/// path without trailing '/'; `config_invalid` otherwise.
caf::expected<url_parts> endpoint_parts(const std::string& field, const std::string& url);

class http_client {
public:
  /// `base_url` is scheme://host[:port]; requests carry the full path.
  http_client(std::string base_url, http_options options);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Sends with retries. Returns the response for any final status (the caller maps 4xx); an
  /// error when every attempt failed with a connection error or a retryable status (the last
  /// one's code and text), naming `operation` and `resource`. `timeout` 0 = the default.
  caf::expected<http_response> send(std::string_view operation, std::string_view resource,
                                    const http_request& request, const signer& sign,
                                    std::chrono::milliseconds timeout = {});

  const std::string& base_url() const { return base_url_; }

private:
  struct impl;
  std::string base_url_;
  http_options options_;
  std::unique_ptr<impl> impl_;
};

/// The error for a final non-success response: not_found (404), conflict (409, 412),
/// too_large (413), invalid_argument (400), denied (401, 403), io_error else; the text names the
/// operation, the resource, the status and Azure's error code and message (secrets redacted).
caf::error response_error(std::string_view operation, std::string_view resource,
                          const http_response& response);

}  // namespace pqrt::azure
