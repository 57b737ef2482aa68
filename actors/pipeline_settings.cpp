#include "actors/pipeline_settings.hpp"

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"

namespace pqrt {

void abort_run(caf::event_based_actor* self, peer& supervisor, const pipeline_settings& ps,
               const std::string& why) {
  {
    std::lock_guard<std::mutex> guard{ps.outcome->mutex};
    if (ps.outcome->fatal.empty()) ps.outcome->fatal = why;
  }
  supervisor.send(self, shutdown_atom::value, caf::timespan{std::chrono::seconds{30}});
}

}  // namespace pqrt
