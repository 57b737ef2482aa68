#pragma once

/// Actors of one tree find each other by role name through CAF's registry, so a restarted actor
/// (new handle) is found again without anyone keeping stale handles.

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>

namespace pqrt {

/// Registers a freshly spawned actor under `role` (at most 10 characters: CAF atoms) at once.
/// CAF runs an actor's initialization later (on its own thread when detached), so an actor that
/// registered itself there could be missed by a sibling started right after it. The registry
/// holds a strong reference, which would keep a detached actor's thread waiting forever, so the
/// entry goes when the actor does, unless a restarted successor took it over.
inline caf::actor register_spawned(caf::actor_system& sys, const std::string& role,
                                   caf::actor handle) {
  auto key = caf::atom_from_string(role);
  sys.registry().put(key, caf::actor_cast<caf::strong_actor_ptr>(handle));
  auto* reg = &sys.registry();
  handle->attach_functor([reg, key, me = handle.address()](const caf::error&) {
    auto current = reg->get(key);
    if (current && current->address() == me) reg->erase(key);
  });
  return handle;
}

/// The actor registered under `role` (invalid when none).
inline caf::actor find_actor(caf::actor_system& sys, const std::string& role) {
  return caf::actor_cast<caf::actor>(sys.registry().get(caf::atom_from_string(role)));
}

}  // namespace pqrt
