#pragma once

/// The metrics role's messages. One round covers the window [start, end):
///
///   clock --round_atom, window--> resource_lister (lists the resource group through ARM)
///     --delegates metrics_atom, window, resources--> metrics_fetcher (Azure Monitor, bounded
///     concurrency; pqrt's own figures from Redis) --delegates write_atom, docs--> metrics_writer
///     (the storage queue, batched under 64 KiB, and --out as JSON lines) --> ok_atom to the clock,
///     or the first error of the round (naming the resource group and the cause).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "azure/arm_client.hpp"

namespace pqrt {

/// One round: a number (from 1) and its window, in milliseconds since the epoch.
struct metrics_window {
  uint64_t round = 0;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

using round_atom = caf::atom_constant<caf::atom("round")>;
using metrics_atom = caf::atom_constant<caf::atom("metrics")>;
using write_atom = caf::atom_constant<caf::atom("write")>;

}  // namespace pqrt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::metrics_window)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<pqrt::azure::arm_resource>)
