#pragma once

/// Errors as values: a stable code, the `pqrt` category and a context string (job id, file and
/// line, config field, ...). Codes are stable: they are written into job status records and log
/// lines.

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace pqrt {

/// Every expected failure pqrt knows. Append only; never renumber (codes reach status records).
enum class errc : uint8_t {
  ok = 0,
  invalid_argument = 1,  ///< a bad value from a user: flag, argument, input line
  config_invalid = 2,    ///< configuration: unknown field, wrong type, missing value
  io_error = 3,          ///< a file could not be opened, read or written
  bad_format = 4,        ///< input that is not in the expected encoding (base64, key file, header)
  auth_failed = 5,       ///< authenticated decryption failed: changed bytes or a wrong key
  wrong_binding = 6,     ///< a record or chunk authenticates under another data set or position
  truncated = 7,         ///< a stream ended before its final, authenticated chunk
  key_error = 8,         ///< a key could not be generated, parsed, wrapped or unwrapped
  unsupported = 9,       ///< a version or algorithm pqrt does not know
  crypto_failure = 10,   ///< the crypto library failed unexpectedly
  restart_limit = 11,    ///< a supervisor exhausted its restart budget
  not_available = 12,    ///< a feature that is not part of this build
  timeout = 13,          ///< an operation ran out of time
  unavailable = 14,      ///< a server could not be reached (after retries)
  job_failed = 15,       ///< a job's processor reported a failure
  redis_error = 16,      ///< a Redis server answered with an error reply (context: the reply)
  tls_failed = 17,  ///< a TLS handshake failed: certificate or host name verification, protocol
  not_found = 18,   ///< a blob, container, queue or run that does not exist
  conflict = 19,    ///< a write whose precondition no longer holds (append position, existing name)
  too_large = 20,   ///< a message or value over its size limit
  denied = 21,      ///< a server refused the credentials or the permission (HTTP 401, 403)
  protocol_error = 22,  ///< a server's reply is not of the kind its command defines
};

/// The category atom of every pqrt error.
constexpr caf::atom_value error_category = caf::atom("pqrt");

/// The stable, lower-case name of a code (`auth_failed`).
const char* to_string(errc code);

/// Builds an error value with a context string for people (never containing a secret).
caf::error make_error(errc code, std::string context = {});

/// True when `err` is a pqrt error with the given code.
bool is(const caf::error& err, errc code);

/// True for errors that trying again cannot mend: not_found, denied, invalid_argument,
/// key_error, bad_format, config_invalid.
bool is_permanent(const caf::error& err);

/// Renders any error as one line: `auth_failed: line 17: ...` for pqrt errors, CAF's rendering
/// else.
std::string render(const caf::error& err);

/// The context string of a pqrt error (empty for others).
std::string context_of(const caf::error& err);

}  // namespace pqrt
