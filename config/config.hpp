#pragma once

/// pqrt's configuration: one JSON file whose field names are kept from the Python solution where
/// they still mean the same, every field overridable.
///
/// Sources, strongest first: CLI flag (`--redis-port 6380`), environment (`PQRT_REDIS_PORT=6380`),
/// config file (`--config FILE`, JSON), Azure custom data (`--custom-data FILE`: base64 of the
/// JSON, as a VM receives it; plain JSON accepted too), defaults. An unknown field, a wrong type or
/// a missing required value fails naming the field and its source. Secret fields are never printed.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace boost::program_options {
class options_description;
class variables_map;
}  // namespace boost::program_options

namespace pqrt::config {

/// Where a field's value came from.
enum class source { default_value, custom_data, file, env, cli };

/// "default", "custom data FILE", "config file FILE", "environment variable PQRT_X", "flag --x".
std::string describe_source(source src, std::string_view field, std::string_view path = {});

/// The value types a field can have.
enum class kind { string, integer, boolean, choice };

/// One field of the schema.
struct field_info {
  std::string name;  ///< JSON name, e.g. "redis_port"
  kind type = kind::string;
  bool secret = false;               ///< never printed: keys, SAS tokens, passwords, client secrets
  std::vector<std::string> choices;  ///< allowed values of a `choice` field
  int64_t min = INT64_MIN;           ///< bounds of an `integer` field
  int64_t max = INT64_MAX;
  std::string doc;  ///< one line for --help and config/README.md
  /// Read by nothing in pqrt: accepted for compatibility with the Python solution's config.json
  /// and ignored (`PQRT_FIELD_IGNORED` in config/fields.def). `load` logs one warning per such
  /// field it leaves at a value other than its default.
  bool ignored = false;
};

/// Every field, in documentation order.
const std::vector<field_info>& fields();

/// The field named `name`, or nullptr.
const field_info* find_field(std::string_view name);

/// The effective configuration. Member names are the JSON field names.
struct settings {
// config/fields.def is the one list of fields: name, default, constraints, secrecy, doc.
#define PQRT_FIELD_STRING(name, def, secret, doc) std::string name = def;
#define PQRT_FIELD_CHOICE(name, def, choices, doc) std::string name = def;
#define PQRT_FIELD_INTEGER(name, def, min, max, doc) int64_t name = def;
#define PQRT_FIELD_BOOLEAN(name, def, doc) bool name = def;
#define PQRT_FIELD_IGNORED(name)
#include "config/fields.def"
#undef PQRT_FIELD_STRING
#undef PQRT_FIELD_CHOICE
#undef PQRT_FIELD_INTEGER
#undef PQRT_FIELD_BOOLEAN
#undef PQRT_FIELD_IGNORED

  /// Where each field that is not a default came from (field name -> source).
  std::map<std::string, source> origin;
};

/// What `load` reads.
struct inputs {
  std::string config_file;                   ///< empty: none
  std::string custom_data_file;              ///< empty: none
  std::map<std::string, std::string> flags;  ///< field name -> raw text from the CLI
  /// Looks up an environment variable; defaults to ::getenv.
  std::function<std::optional<std::string>(const std::string&)> getenv;
  /// All environment variable names starting with PQRT_ (to catch unknown ones); defaults to
  /// scanning `environ`.
  std::function<std::vector<std::string>()> env_names;
};

/// Merges every source. Errors are `config_invalid` naming the field and the source. Each ignored
/// field (`field_info::ignored`) whose merged value differs from its default logs one warning
/// naming it and its winning source (none when `log_level` is `error`); the load still succeeds.
caf::expected<settings> load(const inputs& in);

/// The ignored fields (`field_info::ignored`) `s` holds at a value other than their default, in
/// the order of config/fields.def: the ones `load` warns about.
std::vector<std::string> ignored_fields_set(const settings& s);

/// Fails with `config_invalid` naming the first of `names` that is empty (or 0) and saying it is
/// needed by `why` (e.g. "--role=scheduler").
caf::error require(const settings& s, const std::vector<std::string>& names, std::string_view why);

/// The effective configuration as JSON, secrets shown as "***" (for --dump-config).
std::string dump(const settings& s);

/// The values of every secret field that is set (for the log redactor).
std::vector<std::string> secret_values(const settings& s);

/// Adds one `--field-name` option per field (underscores become dashes) to `opts`.
void add_options(boost::program_options::options_description& opts);

/// Picks the values of those options out of a parsed variables map into `flags`.
void collect_flags(const boost::program_options::variables_map& vm,
                   std::map<std::string, std::string>& flags);

}  // namespace pqrt::config
