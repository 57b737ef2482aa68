#pragma once

/// Small helpers for Azure's REST formats: base64, HMAC-SHA256, RFC 1123 / ISO-8601 dates and
/// the bits of XML the storage services answer with.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pqrt::azure {

/// ASCII lower case.
std::string lower(std::string_view text);

std::string base64_encode(std::string_view bytes);
/// Standard base64 with padding; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);
/// base64url without padding (JWK fields, Key Vault values).
std::string base64url_encode(std::string_view bytes);
/// base64url with or without padding; nullopt when malformed.
std::optional<std::string> base64url_decode(std::string_view text);

/// Raw HMAC-SHA256 of `message` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view message);

/// `Mon, 23 Nov 2026 20:57:58 GMT`
std::string rfc1123(std::chrono::system_clock::time_point when);
/// `2026-11-23T20:57:58Z`
std::string iso8601(std::chrono::system_clock::time_point when);

/// Escapes & < > " ' for XML text.
std::string xml_escape(std::string_view text);
/// Decodes the five named entities and numeric character references.
std::string xml_unescape(std::string_view text);

/// The decoded text of the first `<tag>...</tag>` in `xml` at or after `from`; nullopt if none.
/// An empty element `<tag/>` gives "".
std::optional<std::string> xml_text(std::string_view xml, std::string_view tag, size_t from = 0);

/// The raw contents of every `<tag>...</tag>` element, in order (not nested in themselves).
std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag);

}  // namespace pqrt::azure
