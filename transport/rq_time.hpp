#pragma once

/// RQ's time formats: timestamps as naive UTC `%Y-%m-%dT%H:%M:%S.%fZ` (six fractional digits,
/// a literal Z; anything else crashes a Python worker), and integer unix seconds for registry
/// scores.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pqrt::transport {

using utc_time = std::chrono::system_clock::time_point;

/// `2026-11-23T20:57:17.736213Z`.
std::string rq_timestamp(utc_time t);
/// The current time as `rq_timestamp`.
std::string rq_now();
/// Parses RQ's two accepted forms (1-6 fractional digits, or none); nullopt otherwise.
std::optional<utc_time> parse_rq_timestamp(std::string_view text);
/// Unix seconds (floor), as RQ's registry scores.
int64_t unix_seconds(utc_time t);

}  // namespace pqrt::transport
