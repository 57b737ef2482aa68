#pragma once

/// pqrt's own metrics: a process-wide, thread-safe registry of counters, gauges and histograms
/// with labels, rendered in the Prometheus text exposition format 0.0.4 (served on /metrics by
/// runtime/metrics_server.hpp).
///
/// Looking a metric up takes a mutex; updating one is a few atomic operations, so hot paths look
/// their metrics up once and keep the reference (references stay valid for the life of the
/// registry). Names and label names are checked against Prometheus' syntax; a bad name, or one
/// name registered as two types (or as a histogram with other buckets), is a programming error and
/// throws std::invalid_argument.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pqrt::prom {

/// Label name/value pairs, in the order they are written.
using labels = std::vector<std::pair<std::string, std::string>>;

/// A value that only goes up (resets with the process).
class counter {
public:
  void inc(double by = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0.0};
};

/// A value that goes up and down.
class gauge {
public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double by);
  void inc() { add(1.0); }
  void dec() { add(-1.0); }
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0.0};
};

/// Observations counted into buckets by upper bound (`le`), with their sum and count.
class histogram {
public:
  /// `bounds`: strictly increasing, finite upper bounds (+Inf is implicit).
  explicit histogram(std::vector<double> bounds);
  void observe(double v);

  /// A consistent-enough copy: cumulative bucket counts (the last one is +Inf), sum and count
  /// (count equals the +Inf bucket).
  struct snapshot {
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  snapshot read() const;
  const std::vector<double>& bounds() const { return bounds_; }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, not cumulative; last: +Inf
  std::atomic<double> sum_{0.0};
};

/// Job durations: 1 ms to 5 min.
const std::vector<double>& duration_buckets();

class registry {
public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// The process-wide registry.
  static registry& global();

  /// The metric `name` with `labels`, created on first use. `help` is kept from the first call.
  counter& get_counter(std::string_view name, std::string_view help, const labels& l = {});
  gauge& get_gauge(std::string_view name, std::string_view help, const labels& l = {});
  histogram& get_histogram(std::string_view name, std::string_view help,
                           const std::vector<double>& bounds, const labels& l = {});

  /// Every metric in the text exposition format 0.0.4: families by name, series by labels.
  std::string render() const;

private:
  enum class kind { counter, gauge, histogram };
  struct family {
    kind type;
    std::string help;
    std::vector<double> bounds;  // histograms
    std::map<labels, std::unique_ptr<counter>> counters;
    std::map<labels, std::unique_ptr<gauge>> gauges;
    std::map<labels, std::unique_ptr<histogram>> histograms;
  };
  family& family_for(std::string_view name, std::string_view help, kind type,
                     const labels& l);  // mutex held

  mutable std::mutex mutex_;
  std::map<std::string, family, std::less<>> families_;
};

/// Prometheus' value syntax: `NaN`, `+Inf`, `-Inf`, else the shortest decimal that reads back.
std::string format_value(double v);
/// A label value escaped for the text format (backslash, double quote, line feed).
std::string escape_label_value(std::string_view v);
/// A HELP text escaped for the text format (backslash, line feed).
std::string escape_help(std::string_view v);
/// True for a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool valid_metric_name(std::string_view name);
/// True for a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with `__`.
bool valid_label_name(std::string_view name);

}  // namespace pqrt::prom
