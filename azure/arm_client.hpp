#pragma once

/// Azure Resource Manager and Azure Monitor over REST (no Azure SDK). For the metrics role: the
/// virtual machines, scale sets and scale-set instances of a resource group (following
/// `nextLink` pages, which must stay on the ARM endpoint), and a resource's platform metrics
/// (all metric names in one request; a scale set's instances in one request split by VMName).
/// For the scheduler's autoscaler: a scale set's capacity, read (GET) and set (PATCH of
/// `sku.capacity`).
/// 429 with Retry-After and 5xx are retried by the HTTP client; a 401 fetches a new token once.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "azure/http.hpp"
#include "azure/token.hpp"

namespace pqrt::azure {

struct arm_options {
  /// `https://management.azure.com` (other clouds have their own; tests a fixture).
  std::string endpoint = "https://management.azure.com";
  std::shared_ptr<token_provider> credential;
  http_options http;
};

/// A VM, a scale set or a scale-set instance.
struct arm_resource {
  std::string id;
  std::string name;
  std::string kind;  ///< virtualMachine, virtualMachineScaleSet, virtualMachineScaleSetInstance
  std::string scale_set;      ///< for instances: the scale set's name
  std::string computer_name;  ///< for instances: properties.osProfile.computerName, if given
  std::string location;
};

/// One data point; absent aggregations stay nullopt (a minute without data).
struct metric_point {
  std::string time;
  std::optional<double> average;
  std::optional<double> maximum;
  std::optional<double> total;
};

/// One metric of one resource (or of one scale-set instance, from the VMName split).
struct metric_series {
  std::string name;
  std::string unit;
  std::string error;  ///< the per-metric error ("InvalidSamplingType: ..."), empty on success
  std::vector<metric_point> points;
};

/// What Monitor answered for one request.
struct metrics_answer {
  std::string timespan;
  std::string interval;
  /// Per series owner: "" for the resource itself, else the VMName dimension value.
  std::vector<std::pair<std::string, metric_series>> series;
};

/// What the metrics role asks of Azure Resource Manager and Azure Monitor: `arm_client` below
/// is the implementation; the actor suites give the actors a fake.
class resource_api {
public:
  virtual ~resource_api() = default;

  /// VMs, then scale sets each followed by its instances, of `resource_group`.
  virtual caf::expected<std::vector<arm_resource>> list_resources(
      const std::string& subscription, const std::string& resource_group) = 0;

  /// `metrics` of `resource_id` over [start, end) at `interval` (ISO-8601, e.g. PT1M) with
  /// average, maximum and total; `split_by_vm` asks a scale set for one series per instance.
  virtual caf::expected<metrics_answer> get_metrics(const std::string& resource_id,
                                                    const std::vector<std::string>& metrics,
                                                    std::chrono::system_clock::time_point start,
                                                    std::chrono::system_clock::time_point end,
                                                    const std::string& interval,
                                                    bool split_by_vm) = 0;
};

/// What the autoscaler asks of ARM: a scale set's capacity (`sku.capacity`), by its full
/// resource id (`/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/
/// virtualMachineScaleSets/N`). Errors name the operation and the scale set; a 403 is
/// `response_error` with ARM's AuthorizationFailed text.
class scale_set_api {
public:
  virtual ~scale_set_api() = default;
  virtual caf::expected<int64_t> get_capacity(const std::string& scale_set_id) = 0;
  /// `PATCH {id}` with `{"sku":{"capacity":n}}` (idempotent, so retried like a GET).
  virtual caf::error set_capacity(const std::string& scale_set_id, int64_t capacity) = 0;
};

/// `config_invalid` naming `autoscale_scale_set_id` unless `id` is a scale set's resource id.
caf::error check_scale_set_id(const std::string& id);

class arm_client final : public resource_api, public scale_set_api {
public:
  static caf::expected<std::shared_ptr<arm_client>> make(arm_options options);

  caf::expected<std::vector<arm_resource>> list_resources(
      const std::string& subscription, const std::string& resource_group) override;
  caf::expected<metrics_answer> get_metrics(const std::string& resource_id,
                                            const std::vector<std::string>& metrics,
                                            std::chrono::system_clock::time_point start,
                                            std::chrono::system_clock::time_point end,
                                            const std::string& interval, bool split_by_vm) override;
  caf::expected<int64_t> get_capacity(const std::string& scale_set_id) override;
  caf::error set_capacity(const std::string& scale_set_id, int64_t capacity) override;

  arm_client(arm_options options, url_parts parts);

private:
  caf::expected<http_response> get(const std::string& operation, const std::string& resource,
                                   http_request req);
  caf::expected<http_request> scale_set_request(const std::string& scale_set_id) const;
  caf::expected<std::vector<arm_resource>> list_pages(const std::string& path,
                                                      const std::string& kind,
                                                      const std::string& scale_set);

  arm_options options_;
  std::string base_;
  std::string prefix_;
  http_client client_;
};

}  // namespace pqrt::azure
