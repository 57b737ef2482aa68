#include "actors/pipeline_settings.hpp"

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "actors/registry.hpp"

namespace pqrt {

void abort_run(caf::actor_system& sys, const pipeline_settings& ps, const std::string& why) {
  {
    std::lock_guard<std::mutex> guard{ps.outcome->mutex};
    if (ps.outcome->fatal.empty()) ps.outcome->fatal = why;
  }
  if (auto root = find_actor(sys, "root"))
    caf::anon_send(root, shutdown_atom::value, caf::timespan{std::chrono::seconds{30}});
}

}  // namespace pqrt
