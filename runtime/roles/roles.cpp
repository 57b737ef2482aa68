#include "runtime/roles/roles.hpp"

#include "runtime/log.hpp"
#include "runtime/shutdown.hpp"

namespace pqrt {

const std::vector<std::string>& known_roles() {
  static const std::vector<std::string> roles{"scheduler", "worker", "metrics", "local"};
  return roles;
}

int run_role(const std::string& role, const config::settings&, caf::timespan) {
  // No role tree is part of this build yet: say so and fail rather than pretend to run.
  log::error("runtime", "role is not available in this build", {{"role", role}});
  return exit_failure;
}

}  // namespace pqrt
