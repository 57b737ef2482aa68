// resource_lister: the resource group's VMs, scale sets and instances through ARM, then the
// round goes on to metrics_fetcher.
#include <caf/all.hpp>

#include "actors/metrics_actors.hpp"
#include "actors/metrics_protocol.hpp"
#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

caf::behavior resource_lister(caf::event_based_actor* self,
                              std::shared_ptr<const metrics_settings> ms) {
  return {
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
        auto fetcher = find_actor(self->system(), "fetcher");
        if (!fetcher) return make_error(errc::unavailable, "no metrics_fetcher running");
        return self->delegate(fetcher, metrics_atom::value, w, std::move(*resources));
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_resource_lister(caf::actor_system& sys,
                                 std::shared_ptr<const metrics_settings> settings) {
  return register_spawned(sys, "lister",
                          sys.spawn<caf::detached>(resource_lister, std::move(settings)));
}

}  // namespace pqrt
