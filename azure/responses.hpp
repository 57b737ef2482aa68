#pragma once

/// Internal: the parsers of Azure's answers, one per response shape, each taking the body as
/// text. The clients call them right after a successful status; the fuzz targets (test/fuzz/)
/// call them directly. `what` names the call in error texts ("list /subscriptions/...").

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "azure/arm_client.hpp"
#include "azure/key_vault.hpp"
#include "transport/storage.hpp"

namespace pqrt::azure::detail {

/// One page of List Blobs.
struct blob_list_page {
  std::vector<transport::blob_item> blobs;  ///< in the page's order; a Blob without Name skipped
  std::string next_marker;                  ///< empty on the last page
};

/// A List Blobs answer (`EnumerationResults`): names, Content-Length (0 when absent or not a
/// number) and NextMarker.
blob_list_page parse_blob_list(std::string_view body);

/// A Get Messages or Peek Messages answer (`QueueMessagesList`), message texts base64-decoded;
/// `bad_format` naming the message whose text is not base64.
caf::expected<std::vector<transport::queue_message>> parse_queue_messages(std::string_view body,
                                                                          const std::string& what);

/// A token endpoint's answer: the access token and its lifetime.
struct token_answer {
  std::string value;
  std::chrono::seconds lifetime{0};
};

/// A token answer of Entra ID (v2.0: `expires_in` a number) or IMDS (a string of digits);
/// `bad_format` without a JSON object, a non-empty `access_token` or a positive `expires_in`.
/// The caller registers the token as a log secret.
caf::expected<token_answer> parse_token_answer(const std::string& what, const std::string& body);

/// A Key Vault get key answer: the JWK of an RSA key (`kty` RSA or RSA-HSM, `n`, `e`) and its
/// `kid`, which the caller checks against its vault.
caf::expected<vault_key> parse_vault_key(const std::string& what, const std::string& body);

/// A Key Vault unwrap key answer: the key bytes of the base64url `value`.
caf::expected<crypto::secure_buffer> parse_unwrapped_key(const std::string& what,
                                                         const std::string& body);

/// A Key Vault get secret answer: the secret's `value`. The caller registers it as a log secret.
caf::expected<std::string> parse_secret_value(const std::string& what, const std::string& body);

/// One page of an ARM list.
struct arm_page {
  std::vector<arm_resource> items;
  std::string next_link;  ///< empty on the last page; the caller checks where it points
};

/// An ARM list page (`value` array, `nextLink`); items get `kind` and `scale_set`. `bad_format`
/// without a `value` array or for an item without id or name.
caf::expected<arm_page> parse_arm_page(const std::string& what, const std::string& body,
                                       const std::string& kind, const std::string& scale_set);

/// An Azure Monitor metrics answer; `bad_format` without a `value` array.
caf::expected<metrics_answer> parse_metrics_answer(const std::string& what,
                                                   const std::string& body);

/// A scale set's `sku.capacity` (a whole number from 0 up); `bad_format` otherwise.
caf::expected<int64_t> parse_scale_set_capacity(const std::string& what, const std::string& body);

}  // namespace pqrt::azure::detail
