#pragma once

/// decryptor: the run's secrets, in memory only. Fetches the wrapped data key (through
/// blob_fetcher) and unwraps it with the key source (Key Vault or a local RSA key); fetches the
/// encrypted processing script and decrypts it into a sealed memfd (never to disk). Both are
/// cached; the key is handed on as a zeroizing shared buffer.
///
/// In: `material_atom, bool need_script` → `run_material` (requests that arrive while it loads
/// wait for the same load); `quiet_atom`. A failed load is not cached: the next request tries
/// again.

#include <caf/fwd.hpp>

#include "actors/pipeline_settings.hpp"
#include "actors/spawn_mode.hpp"

namespace pqrt {

/// Spawns a decryptor (detached: unwrapping may call Key Vault); its peers are wired by its
/// supervisor (actors/peer.hpp).
caf::actor spawn_decryptor(caf::actor_system& sys, std::shared_ptr<const pipeline_settings> ps,
                           spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
