#pragma once

/// The metrics role's tree (see actors/metrics_protocol.hpp for the messages):
/// - resource_lister ("lister"): every VM, scale set and scale-set instance of the resource group.
/// - metrics_fetcher ("fetcher"): for each VM and scale set, Percentage CPU, Network In/Out
///   Total, Disk Read/Write Bytes and Available Memory Bytes (where offered) over the window at
///   1-minute grain, all names in one request; a scale set's instances in one more request split
///   by VMName. At most `concurrency` requests at once. Documents: one per resource, plus one of
///   pqrt's own figures from Redis when Redis is configured.
/// - metrics_writer ("mwriter"): the documents to the metrics queue, batched into messages under
///   the 64 KiB limit, and to `--out` as JSON lines.
/// All three are detached (their calls block) and hold no state between rounds but the output.

#include <memory>
#include <optional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/spawn_mode.hpp"
#include "azure/arm_client.hpp"
#include "transport/job_store.hpp"
#include "transport/redis_url.hpp"
#include "transport/storage.hpp"

namespace pqrt {

struct metrics_settings {
  std::string subscription;
  std::string resource_group;
  std::shared_ptr<azure::resource_api> arm;
  size_t concurrency = 4;
  /// pqrt's own figures (queues, workers, oldest job) when set.
  std::optional<transport::redis_url> redis;
  /// Makes the fetcher's job store for `redis`; unset: an `rq_store` on it.
  transport::job_store_factory make_store;
  /// Output: the queue (when `make_queues` is set) and/or a JSON-lines file.
  std::string queue;
  std::function<caf::expected<std::unique_ptr<transport::queue_store>>()> make_queues;
  std::string out_file;
};

caf::actor spawn_resource_lister(caf::actor_system& sys,
                                 std::shared_ptr<const metrics_settings> settings,
                                 spawn_mode mode = spawn_mode::detached);
caf::actor spawn_metrics_fetcher(caf::actor_system& sys,
                                 std::shared_ptr<const metrics_settings> settings,
                                 spawn_mode mode = spawn_mode::detached);
caf::actor spawn_metrics_writer(caf::actor_system& sys,
                                std::shared_ptr<const metrics_settings> settings,
                                spawn_mode mode = spawn_mode::detached);

/// The JSON document of one resource's metrics (exposed for tests).
std::string metrics_document(const azure::arm_resource& resource, const std::string& window_start,
                             const std::string& window_end, const std::string& interval,
                             const std::vector<azure::metric_series>& series);

}  // namespace pqrt
