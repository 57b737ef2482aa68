#pragma once

/// blob_fetcher: reads blobs from the storage (Azure Blob Storage or a local directory): whole
/// small ones (the wrapped data key, the encrypted script) and large ones streamed chunk by chunk
/// (the data file), reading one chunk ahead of its consumer and never more, so memory stays flat
/// whatever the blob's size. A store that fails is retried with backoff before the request fails.
///
/// In: `fetch_atom, container, name` → `std::string`; `open_atom, container, name` → `uint64_t`
/// (size; one open stream at a time, a new open replaces it); `next_atom` → `std::string` (the
/// next chunk, empty at the end); `quiet_atom`.

#include <caf/fwd.hpp>

#include "actors/pipeline_settings.hpp"
#include "actors/spawn_mode.hpp"

namespace pqrt {

/// Bytes per streamed chunk.
constexpr size_t blob_chunk_size = 1 << 20;

/// Spawns a blob_fetcher (detached: storage calls block); its peers are wired by its supervisor
/// (actors/peer.hpp).
caf::actor spawn_blob_fetcher(caf::actor_system& sys, std::shared_ptr<const pipeline_settings> ps,
                              spawn_mode mode = spawn_mode::detached);

}  // namespace pqrt
