#pragma once

/// The local implementation of the storage interfaces (transport/storage.hpp): a directory stands
/// in for blob containers and queues, so that pqrt runs (and is tested) without Azure. Several
/// processes may share one directory: writes are atomic (temp file, fsync, rename), appends hold
/// an flock().
///
/// Layout under `root`:
///   blobs/<container>/<name>        one file per blob; '/' in a name is a subdirectory
///   blobs/<container>/.tmp/         blobs being written (never listed or readable as blobs)
///   queues/<queue>/<id>.msg         one file per message, holding just its text
///   queues/<queue>/.tmp/            messages being written
///
/// Differences from Azure: a blob name cannot also be a virtual folder ("a" and "a/b" at once):
/// such a write fails with `conflict`. Blob names have no segment ".tmp" first, no empty segments
/// and no "..". Queue ids sort in the order of their `put`. Queues are only written and read back
/// (`put`; `peek`, in put order with dequeue count 0): nothing takes messages out, as pqrt never
/// does (transport::queue_consumer is Azure's only).

#include <memory>
#include <string>

#include "transport/storage.hpp"

namespace pqrt::transport {

/// Blobs under <root>/blobs/<container>/<name>.
std::unique_ptr<blob_store> make_local_blob_store(std::string root);

/// Queues under <root>/queues/<queue>/.
std::unique_ptr<queue_store> make_local_queue_store(std::string root);

}  // namespace pqrt::transport
