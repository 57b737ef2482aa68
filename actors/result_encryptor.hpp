#pragma once

/// result_encryptor: seals each finished record job's result (sent by its executor) with the
/// run's cipher_set, which travels with it, bound to the run and the record's index (a result
/// never opens as a record, as another run's result or at another index), clears the plaintext,
/// and hands the sealed result to result_writer.
///
/// In: `seal_atom, pending_result`; `quiet_atom`. A result that cannot be sealed fails its job
/// (to status_writer) and counts as written for the pool.

#include <caf/fwd.hpp>

namespace pqrt {

/// Spawns a result_encryptor; its peers are wired by its supervisor (actors/peer.hpp).
caf::actor spawn_result_encryptor(caf::actor_system& sys);

}  // namespace pqrt
