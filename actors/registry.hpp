#pragma once

/// Actors of one tree find each other by role name through CAF's registry, so a restarted actor
/// (new handle) is found again without anyone keeping stale handles.

#include <string>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>

namespace pqrt {

/// Registers `self` under `role` (at most 10 characters: CAF atoms) until it terminates. The
/// registry holds a strong reference, which would keep a detached actor's thread waiting
/// forever; the entry goes when the actor does, unless a restarted successor took it over.
template <class Self>
void register_actor(caf::actor_system& sys, const std::string& role, Self* self) {
  auto key = caf::atom_from_string(role);
  sys.registry().put(key, caf::actor_cast<caf::strong_actor_ptr>(self));
  auto* reg = &sys.registry();
  self->attach_functor([reg, key, me = self->address()](const caf::error&) {
    auto current = reg->get(key);
    if (current && current->address() == me) reg->erase(key);
  });
}

/// The actor registered under `role` (invalid when none).
inline caf::actor find_actor(caf::actor_system& sys, const std::string& role) {
  return caf::actor_cast<caf::actor>(sys.registry().get(caf::atom_from_string(role)));
}

}  // namespace pqrt
