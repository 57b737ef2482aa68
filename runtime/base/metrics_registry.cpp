#include "runtime/base/metrics_registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace pqrt::prom {

namespace {

void atomic_add(std::atomic<double>& target, double by) {
  auto old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + by, std::memory_order_relaxed)) {
  }
}

bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

void render_labels(std::string& out, const labels& l, const char* extra_name = nullptr,
                   const std::string& extra_value = {}) {
  if (l.empty() && !extra_name) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : l) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (extra_name) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += escape_label_value(extra_value);
    out += '"';
  }
  out += '}';
}

void write_sample(std::string& out, std::string_view name, std::string_view suffix, const labels& l,
                  const std::string& value, const char* extra_name = nullptr,
                  const std::string& extra_value = {}) {
  out += name;
  out += suffix;
  render_labels(out, l, extra_name, extra_value);
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

void counter::inc(double by) {
  if (!(by >= 0)) return;  // a counter never goes down (NaN ignored too)
  atomic_add(value_, by);
}

void gauge::add(double by) {
  atomic_add(value_, by);
}

histogram::histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i] > bounds_[i - 1])))
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) {
  size_t index = bounds_.size();  // +Inf (also where NaN goes)
  if (!std::isnan(v))
    index =
        static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

const std::vector<double>& duration_buckets() {
  static const std::vector<double> bounds{0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                          1,     5,     10,   30,   60,  300};
  return bounds;
}

registry& registry::global() {
  static registry* instance = new registry;  // never destroyed: usable until the process ends
  return *instance;
}

registry::family& registry::family_for(std::string_view name, std::string_view help, kind type,
                                       const labels& l) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    if (!valid_metric_name(name))
      throw std::invalid_argument("invalid metric name '" + std::string{name} + "'");
    it =
        families_.emplace(std::string{name}, family{type, std::string{help}, {}, {}, {}, {}}).first;
  } else if (it->second.type != type) {
    throw std::invalid_argument("metric '" + std::string{name} +
                                "' is already registered with another type");
  }
  for (const auto& [k, v] : l) {
    if (!valid_label_name(k) || (type == kind::histogram && k == "le"))
      throw std::invalid_argument("invalid label name '" + k + "' on metric '" + std::string{name} +
                                  "'");
  }
  return it->second;
}

counter& registry::get_counter(std::string_view name, std::string_view help, const labels& l) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& f = family_for(name, help, kind::counter, l);
  auto& slot = f.counters[l];
  if (!slot) slot = std::make_unique<counter>();
  return *slot;
}

gauge& registry::get_gauge(std::string_view name, std::string_view help, const labels& l) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& f = family_for(name, help, kind::gauge, l);
  auto& slot = f.gauges[l];
  if (!slot) slot = std::make_unique<gauge>();
  return *slot;
}

histogram& registry::get_histogram(std::string_view name, std::string_view help,
                                   const std::vector<double>& bounds, const labels& l) {
  std::lock_guard<std::mutex> guard{mutex_};
  bool fresh = families_.find(name) == families_.end();
  auto& f = family_for(name, help, kind::histogram, l);
  if (fresh) {
    f.bounds = bounds;
  } else if (f.bounds != bounds) {
    throw std::invalid_argument("histogram '" + std::string{name} +
                                "' is already registered with other buckets");
  }
  auto& slot = f.histograms[l];
  if (!slot) slot = std::make_unique<histogram>(bounds);
  return *slot;
}

std::string registry::render() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + ' ' + escape_help(f.help) + '\n';
    switch (f.type) {
      case kind::counter:
        out += "# TYPE " + name + " counter\n";
        for (const auto& [l, c] : f.counters)
          write_sample(out, name, "", l, format_value(c->value()));
        break;
      case kind::gauge:
        out += "# TYPE " + name + " gauge\n";
        for (const auto& [l, g] : f.gauges)
          write_sample(out, name, "", l, format_value(g->value()));
        break;
      case kind::histogram:
        out += "# TYPE " + name + " histogram\n";
        for (const auto& [l, h] : f.histograms) {
          auto s = h->read();
          for (size_t i = 0; i < s.cumulative.size(); ++i) {
            auto le = i < f.bounds.size() ? format_value(f.bounds[i]) : std::string{"+Inf"};
            write_sample(out, name, "_bucket", l, std::to_string(s.cumulative[i]), "le", le);
          }
          write_sample(out, name, "_sum", l, format_value(s.sum));
          write_sample(out, name, "_count", l, std::to_string(s.count));
        }
        break;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, true)) return false;
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, false)) return false;
  return true;
}

}  // namespace pqrt::prom
