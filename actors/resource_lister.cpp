// resource_lister: the resource group's VMs, scale sets and instances through ARM, then the
// round goes on to metrics_fetcher.
#include <caf/all.hpp>

#include "actors/metrics_actors.hpp"
#include "actors/metrics_protocol.hpp"
#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

struct lister_state {
  peer fetcher{peer_names::metrics_fetcher};
  static inline const char* name = "resource_lister";
};

using lister_actor = caf::stateful_actor<lister_state>;

caf::behavior resource_lister(lister_actor* self, std::shared_ptr<const metrics_settings> ms) {
  self->set_down_handler([=](caf::down_msg& dm) { self->state.fetcher.down(dm); });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        self->state.fetcher.wire(self, name, handle);
      },
      [=](round_atom, const metrics_window& w) -> caf::result<caf::message> {
        auto resources = ms->arm->list_resources(ms->subscription, ms->resource_group);
        if (!resources)
          return make_error(
              static_cast<errc>(resources.error().code()),
              "resource group " + ms->resource_group + ": " + context_of(resources.error()));
        log::info("resource_lister", "resources listed",
                  {{"round", std::to_string(w.round)},
                   {"resource_group", ms->resource_group},
                   {"resources", std::to_string(resources->size())}});
        // The round is the payload: while the fetcher restarts it fails, and the next one runs.
        const auto& fetcher = self->state.fetcher.handle();
        if (!fetcher) return make_error(errc::unavailable, "metrics_fetcher is restarting");
        return self->delegate(fetcher, metrics_atom::value, w, std::move(*resources));
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_resource_lister(caf::actor_system& sys,
                                 std::shared_ptr<const metrics_settings> settings,
                                 spawn_mode mode) {
  return spawn_in(sys, mode, resource_lister, std::move(settings));
}

}  // namespace pqrt
