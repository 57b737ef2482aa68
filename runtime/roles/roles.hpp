#pragma once

/// Role selection: `main` only picks the role; each role's tree is assembled in its own file
/// under runtime/roles/ as the role is built.

#include <string>
#include <vector>

#include <caf/timespan.hpp>

#include "config/config.hpp"

namespace pqrt {

/// The roles pqrt knows, built or not.
const std::vector<std::string>& known_roles();

/// Runs `role` with the loaded configuration; returns the process exit code.
int run_role(const std::string& role, const config::settings& cfg, caf::timespan grace);

}  // namespace pqrt
