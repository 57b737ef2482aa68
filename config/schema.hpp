#pragma once

/// Internal to config/: the schema table built from config/fields.def, with a member pointer per
/// field onto `settings`, and the helpers config.cpp and config_parse.cpp share.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/error.hpp>

#include "config/config.hpp"

namespace pqrt::config::detail {

/// Where a field lives in `settings` (strings and choices are both std::string).
using member = std::variant<std::string settings::*, int64_t settings::*, bool settings::*>;

/// A converted value on its way into `settings`.
using value = std::variant<std::string, int64_t, bool>;

/// One row of the schema.
struct entry {
  field_info info;
  member ptr;
};

/// Every row, in the order of config/fields.def.
const std::vector<entry>& entries();

/// The row named `name`, or nullptr.
const entry* find_entry(std::string_view name);

/// `PQRT_REDIS_PORT` for `redis_port`.
std::string env_name(std::string_view field);

/// `redis-port` for `redis_port`: the option name, typed as `--redis-port`.
std::string flag_name(std::string_view field);

/// How a user spells `field` in `src`: 'redis_port', PQRT_REDIS_PORT or --redis-port.
std::string spelled(source src, std::string_view field);

/// "; did you mean 'redis_host'?" for the nearest field within edit distance 2, else "".
std::string suggestion(std::string_view unknown, source src);

/// A `config_invalid` error whose text starts with "config: ".
caf::error fail(const std::string& text);

/// "field 'NAME' (WHERE): WHAT" as a `config_invalid` error.
caf::error field_error(const entry& e, const std::string& where, const std::string& what);

/// Checks bounds and choices, then stores `v` and records `src` as the field's origin.
caf::error assign(settings& s, const entry& e, value v, source src, const std::string& where);

}  // namespace pqrt::config::detail
