// pqrt report --run-id ID --out FILE   a run's report: one self-contained HTML file
// Everything comes from Redis: the run hash, its bitmaps, each record's status record (read 1,000
// at a time and folded into counts, bins and capped tables as they come, so a run of millions of
// records is summed in bounded memory) and the run's two time series (the run monitor's samples,
// the autoscaler's decisions). The page loads nothing: inline CSS, inline SVG, and a
// Content-Security-Policy that forbids every request. It holds no record data and no result blob
// names, only counts, ids and error texts, every one HTML-escaped (error texts are user data).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/version.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/jobs/record_job.hpp"
#include "runtime/roles/roles.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/tools/tool_io.hpp"
#include "transport/rq_store.hpp"
#include "transport/rq_time.hpp"

namespace po = boost::program_options;

namespace pqrt {

namespace {

constexpr uint64_t status_batch = 1000;
constexpr size_t max_failures = 1000;
constexpr size_t max_error_chars = 500;
constexpr size_t max_worker_rows = 500;
constexpr size_t chart_bins = 200;
constexpr size_t series_points = 300;
/// Fine bins of a time histogram: their width doubles whenever the span needs more, so a
/// display of 200 bins is at most about 1% off in time.
constexpr size_t fine_bins = 4096;
/// Job durations: log-spaced bins, four per decade from 0.1 ms to 10^6 s.
constexpr int bins_per_decade = 4;
constexpr int lowest_decade = -4;
constexpr int duration_bins = (6 - lowest_decade) * bins_per_decade;

// --- text ----------------------------------------------------------------------------------

/// HTML text or attribute value; C0 controls but tab and line feed dropped.
std::string esc(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 16);
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out += c;
    }
  }
  return out;
}

/// At most `max` characters (UTF-8 code points) of `text`, never cutting one in two.
std::string truncate_utf8(const std::string& text, size_t max, bool& cut) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // a continuation byte
    if (chars++ == max) {
      cut = true;
      return text.substr(0, i);
    }
  }
  cut = false;
  return text;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

/// 1.5 ms, 12.3 s, 4.2 min, 3.1 h.
std::string secs_text(double s) {
  char buf[32];
  if (s < 1)
    std::snprintf(buf, sizeof(buf), "%.3g ms", s * 1000);
  else if (s < 120)
    std::snprintf(buf, sizeof(buf), "%.3g s", s);
  else if (s < 7200)
    std::snprintf(buf, sizeof(buf), "%.3g min", s / 60);
  else
    std::snprintf(buf, sizeof(buf), "%.3g h", s / 3600);
  return buf;
}

/// How much of a time `utc_text` shows.
enum class time_part { date_time, clock, clock_tenths };

/// `2026-11-23 20:57:17` (UTC), `20:57:17` or `20:57:17.4`.
std::string utc_text(int64_t ms, time_part part = time_part::date_time) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), part == time_part::date_time ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S",
                &tm);
  if (part != time_part::clock_tenths) return buf;
  return std::string{buf} + "." + std::to_string(ms % 1000 / 100);
}

int64_t epoch_ms(transport::utc_time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<int64_t> rq_ms(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto t = transport::parse_rq_timestamp(text);
  if (!t) return std::nullopt;
  return epoch_ms(*t);
}

std::optional<double> number(const std::string& text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !(v >= 0))
    return std::nullopt;
  return v;
}

int64_t count_of(const std::string& text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc{} && end == text.data() + text.size() && n >= 0 ? n : 0;
}

// --- aggregates ----------------------------------------------------------------------------

/// Counts of events over time in at most `fine_bins` bins of a width that doubles as the span
/// grows: bounded memory for a run of any length.
class time_histogram {
public:
  void add(int64_t ms) {
    lo_ = std::min(lo_, ms);
    hi_ = std::max(hi_, ms);
    ++counts_[floor_div(ms, width_)];
    while (counts_.size() > fine_bins)
      coarsen();
  }
  bool empty() const { return counts_.empty(); }
  int64_t lo() const { return lo_; }
  int64_t hi() const { return hi_; }

  /// Cumulative counts at the ends of `bins` equal spans of [from, to].
  std::vector<uint64_t> cumulative(int64_t from, int64_t to, size_t bins) const {
    std::vector<uint64_t> out(bins, 0);
    const double span = static_cast<double>(std::max<int64_t>(1, to - from));
    for (const auto& [k, n] : counts_) {
      auto t = std::clamp(k * width_, lo_, hi_);
      auto b =
          static_cast<size_t>(static_cast<double>(t - from) / span * static_cast<double>(bins));
      out[std::min(bins - 1, b)] += n;
    }
    for (size_t i = 1; i < bins; ++i)
      out[i] += out[i - 1];
    return out;
  }

private:
  static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0); }
  void coarsen() {
    std::map<int64_t, uint64_t> merged;
    for (const auto& [k, n] : counts_)
      merged[floor_div(k, 2)] += n;
    counts_.swap(merged);
    width_ *= 2;
  }

  int64_t width_ = 1;  // ms
  int64_t lo_ = std::numeric_limits<int64_t>::max();
  int64_t hi_ = std::numeric_limits<int64_t>::min();
  std::map<int64_t, uint64_t> counts_;
};

struct worker_counts {
  uint64_t processed = 0;
  uint64_t failed = 0;
};

struct failure_row {
  uint64_t index = 0;
  std::string job_id;
  int64_t attempts = 0;
  std::string error;
  bool cut = false;
};

/// What the report says about the records, summed over their status records.
struct record_stats {
  uint64_t read = 0, finished = 0, failed = 0, pending = 0, missing = 0, retried = 0;
  uint64_t jobs = 0, jobs_timed = 0;
  double job_secs_sum = 0, job_secs_min = 0, job_secs_max = 0;
  std::vector<uint64_t> duration_counts = std::vector<uint64_t>(duration_bins, 0);
  std::optional<int64_t> first_start, first_start_estimate, last_end;
  time_histogram finished_at, failed_at;
  std::map<std::string, worker_counts> workers;
  std::vector<failure_row> failures;
  uint64_t failures_left_out = 0;
  std::string last_job;  // records of a job are contiguous: a new id is a new job
};

/// The status record fields read, in this order.
const std::vector<std::string> status_fields{"state",      "attempts", "job_id", "worker",
                                             "started_at", "ended_at", "error",  "job_secs"};
enum field { f_state, f_attempts, f_job, f_worker, f_started, f_ended, f_error, f_secs };

void note_job(record_stats& s, const std::string& job, std::optional<double> secs) {
  if (job == s.last_job) return;
  s.last_job = job;
  ++s.jobs;
  if (!secs) return;
  s.job_secs_min = s.jobs_timed ? std::min(s.job_secs_min, *secs) : *secs;
  s.job_secs_max = s.jobs_timed ? std::max(s.job_secs_max, *secs) : *secs;
  s.job_secs_sum += *secs;
  ++s.jobs_timed;
  auto k = static_cast<int>(std::floor(std::log10(std::max(*secs, 1e-4)) * bins_per_decade)) -
           lowest_decade * bins_per_decade;
  ++s.duration_counts[static_cast<size_t>(std::clamp(k, 0, duration_bins - 1))];
}

void note_failure(record_stats& s, uint64_t index, const std::vector<std::string>& r,
                  const std::string& job) {
  if (s.failures.size() >= max_failures) {
    ++s.failures_left_out;
    return;
  }
  failure_row row{index, job, count_of(r[f_attempts]), {}, false};
  row.error = truncate_utf8(r[f_error], max_error_chars, row.cut);
  s.failures.push_back(std::move(row));
}

void note_times(record_stats& s, const std::vector<std::string>& r, std::optional<double> secs) {
  auto started = rq_ms(r[f_started]);
  auto ended = rq_ms(r[f_ended]);
  if (started) s.first_start = std::min(s.first_start.value_or(*started), *started);
  if (!ended) return;
  s.last_end = std::max(s.last_end.value_or(*ended), *ended);
  auto estimate = *ended - static_cast<int64_t>(secs.value_or(0) * 1000);
  s.first_start_estimate = std::min(s.first_start_estimate.value_or(estimate), estimate);
  (r[f_state] == "finished" ? s.finished_at : s.failed_at).add(*ended);
}

void note_record(record_stats& s, uint64_t index, const std::vector<std::string>& r,
                 const std::string& fallback_job) {
  ++s.read;
  const auto& state = r[f_state];
  if (state.empty()) {
    ++s.missing;
    return;
  }
  if (count_of(r[f_attempts]) > 1) ++s.retried;
  if (state != "finished" && state != "failed") {
    ++s.pending;
    return;
  }
  const auto& job = r[f_job].empty() ? fallback_job : r[f_job];
  auto secs = number(r[f_secs]);
  if (!secs) {
    auto started = rq_ms(r[f_started]), ended = rq_ms(r[f_ended]);
    if (started && ended && *ended >= *started)
      secs = static_cast<double>(*ended - *started) / 1000;
  }
  note_job(s, job, secs);
  note_times(s, r, secs);
  auto& w = s.workers[r[f_worker].empty() ? "(not recorded)" : r[f_worker]];
  ++w.processed;
  if (state == "finished") {
    ++s.finished;
  } else {
    ++s.failed;
    ++w.failed;
    note_failure(s, index, r, job);
  }
}

/// Reads every status record of the run, `status_batch` per round trip.
caf::error read_records(transport::rq_store& store, const config::settings& cfg, uint64_t total,
                        uint64_t per_job, record_stats& s) {
  for (uint64_t start = 0; start < total; start += status_batch) {
    auto end = std::min(total, start + status_batch);
    std::vector<std::string> keys;
    keys.reserve(end - start);
    for (auto i = start; i < end; ++i)
      keys.push_back(cfg.job_status_key_prefix + record_job_id(cfg.run_id, i));
    auto rows = store.status_records(keys, status_fields);
    if (!rows) return rows.error();
    for (auto i = start; i < end; ++i)
      note_record(s, i, (*rows)[i - start], record_job_id(cfg.run_id, i - i % per_job));
  }
  return caf::none;
}

// --- time series ---------------------------------------------------------------------------

/// One entry of a run's time series: its time and the values asked for (NaN when absent).
struct sample {
  int64_t t = 0;
  std::vector<double> v;
  std::string action;
  bool dry_run = false;
};

std::vector<sample> parse_series(const std::vector<std::string>& entries,
                                 const std::vector<const char*>& names, size_t& bad) {
  std::vector<sample> out;
  for (const auto& e : entries) {
    rapidjson::Document d;
    d.Parse(e.data(), e.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("t") || !d["t"].IsNumber()) {
      ++bad;
      continue;
    }
    sample s{static_cast<int64_t>(d["t"].GetDouble()), {}, {}, false};
    for (const auto* name : names) {
      auto it = d.FindMember(name);
      bool ok = it != d.MemberEnd() && it->value.IsNumber();
      s.v.push_back(ok ? it->value.GetDouble() : std::nan(""));
    }
    if (auto it = d.FindMember("action"); it != d.MemberEnd() && it->value.IsString())
      s.action = it->value.GetString();
    if (auto it = d.FindMember("dry_run"); it != d.MemberEnd())
      s.dry_run = it->value.IsTrue() || (it->value.IsString() && it->value == "true");
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const sample& a, const sample& b) { return a.t < b.t; });
  return out;
}

// --- SVG -----------------------------------------------------------------------------------

struct chart_line {
  std::string name;
  const char* colour;
  std::vector<std::pair<int64_t, double>> points;  ///< (epoch ms, value), in time order
};

constexpr int chart_w = 960, chart_h = 300, pad_l = 70, pad_r = 20, pad_t = 30, pad_b = 40;

/// The top of a y axis of four steps for counts up to `v`: each step a whole 1, 2, 2.5 or 5
/// times a power of ten.
double axis_top(double v) {
  if (!(v > 4)) return 4;
  double step = v / 4, p = std::pow(10, std::floor(std::log10(step)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * p >= step && (m != 2.5 || p >= 10)) return 4 * m * p;
  return 40 * p;
}

std::string number_text(double v) {
  return v == std::floor(v) && std::fabs(v) < 1e15 ? std::to_string(static_cast<int64_t>(v))
                                                   : fixed(v, 2);
}

std::string y_axis(double ymax) {
  std::string out;
  const int plot_h = chart_h - pad_t - pad_b;
  for (int i = 0; i <= 4; ++i) {
    auto y = pad_t + plot_h - plot_h * i / 4;
    out += "<line class=\"grid\" x1=\"" + std::to_string(pad_l) + "\" x2=\"" +
           std::to_string(chart_w - pad_r) + "\" y1=\"" + std::to_string(y) + "\" y2=\"" +
           std::to_string(y) + "\"/><text class=\"tick\" x=\"" + std::to_string(pad_l - 6) +
           "\" y=\"" + std::to_string(y + 4) + "\" text-anchor=\"end\">" +
           number_text(ymax * i / 4) + "</text>";
  }
  return out;
}

std::string x_axis(int64_t x0, int64_t x1) {
  std::string out;
  const int plot_w = chart_w - pad_l - pad_r;
  const auto span = x1 - x0;
  auto part = span > 86400000 ? time_part::date_time
              : span < 30000  ? time_part::clock_tenths
                              : time_part::clock;
  for (int i = 0; i <= 5; ++i) {
    auto x = pad_l + plot_w * i / 5;
    auto t = x0 + span * i / 5;
    // The first and last labels end at the plot's edges, so that none is cut off.
    const char* anchor = i == 0 ? "start" : i == 5 ? "end" : "middle";
    out += "<text class=\"tick\" x=\"" + std::to_string(x) + "\" y=\"" +
           std::to_string(chart_h - pad_b + 18) + "\" text-anchor=\"" + anchor + "\">" +
           esc(utc_text(t, part)) + "</text>";
  }
  return out;
}

std::string legend(const std::vector<chart_line>& lines) {
  std::string out;
  int x = pad_l;
  for (const auto& l : lines) {
    out += "<rect x=\"" + std::to_string(x) + "\" y=\"8\" width=\"14\" height=\"4\" fill=\"" +
           l.colour + "\"/><text class=\"tick\" x=\"" + std::to_string(x + 18) + "\" y=\"14\">" +
           esc(l.name) + "</text>";
    x += 30 + static_cast<int>(l.name.size()) * 7;
  }
  return out;
}

/// Lines over time, x from the earliest to the latest point, y from 0.
std::string line_chart(const std::string& id, const std::vector<chart_line>& lines,
                       const std::string& label) {
  int64_t x0 = std::numeric_limits<int64_t>::max(), x1 = std::numeric_limits<int64_t>::min();
  double ymax = 0;
  for (const auto& l : lines)
    for (const auto& [t, v] : l.points) {
      x0 = std::min(x0, t);
      x1 = std::max(x1, t);
      if (!std::isnan(v)) ymax = std::max(ymax, v);
    }
  if (x0 > x1) return "<p class=\"none\">No data.</p>";
  if (x1 == x0) x1 = x0 + 1000;
  ymax = axis_top(ymax);
  const double plot_w = chart_w - pad_l - pad_r, plot_h = chart_h - pad_t - pad_b;
  auto px = [&](int64_t t) { return pad_l + plot_w * static_cast<double>(t - x0) / (x1 - x0); };
  auto py = [&](double v) { return pad_t + plot_h - plot_h * v / ymax; };
  std::string out = "<svg id=\"" + id + "\" class=\"chart\" viewBox=\"0 0 " +
                    std::to_string(chart_w) + " " + std::to_string(chart_h) +
                    "\" role=\"img\" aria-label=\"" + esc(label) + "\">" + y_axis(ymax) +
                    x_axis(x0, x1) + legend(lines);
  for (const auto& l : lines) {
    std::string pts;
    for (const auto& [t, v] : l.points)
      if (!std::isnan(v)) pts += fixed(px(t), 1) + "," + fixed(py(v), 1) + " ";
    if (l.points.size() == 1 && !std::isnan(l.points[0].second))
      out += "<circle cx=\"" + fixed(px(l.points[0].first), 1) + "\" cy=\"" +
             fixed(py(l.points[0].second), 1) + "\" r=\"3\" fill=\"" + l.colour + "\"/>";
    out += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + std::string{l.colour} +
           "\" points=\"" + pts + "\"><title>" + esc(l.name) + "</title></polyline>";
  }
  return out + "</svg>";
}

/// At most `series_points` points per line: each span's peak, at the span's last time.
std::vector<chart_line> series_lines(
    const std::vector<sample>& samples,
    const std::vector<std::pair<std::string, const char*>>& names) {
  std::vector<chart_line> lines;
  for (const auto& [name, colour] : names)
    lines.push_back({name, colour, {}});
  if (samples.empty()) return lines;
  const auto t0 = samples.front().t, span = std::max<int64_t>(1, samples.back().t - t0);
  size_t bucket = std::numeric_limits<size_t>::max();
  for (const auto& s : samples) {
    auto b = std::min(series_points - 1,
                      static_cast<size_t>(static_cast<double>(s.t - t0) / span * series_points));
    for (size_t i = 0; i < lines.size(); ++i) {
      auto& pts = lines[i].points;
      if (b != bucket || pts.empty()) {
        pts.emplace_back(s.t, s.v[i]);
      } else {
        pts.back().first = s.t;
        if (std::isnan(pts.back().second) || s.v[i] > pts.back().second) pts.back().second = s.v[i];
      }
    }
    bucket = b;
  }
  return lines;
}

/// The lower edge of duration bin `k`, in seconds.
double bin_edge(int k) {
  return std::pow(10, static_cast<double>(k) / bins_per_decade + lowest_decade);
}

std::string duration_chart(const std::vector<uint64_t>& bins) {
  int first = 0, last = duration_bins - 1;
  while (first < duration_bins && bins[static_cast<size_t>(first)] == 0)
    ++first;
  while (last >= 0 && bins[static_cast<size_t>(last)] == 0)
    --last;
  if (first > last) return "<p class=\"none\">No job durations were recorded.</p>";
  uint64_t top = *std::max_element(bins.begin(), bins.end());
  double ymax = axis_top(static_cast<double>(top));
  const int n = last - first + 1;
  const double plot_w = chart_w - pad_l - pad_r, plot_h = chart_h - pad_t - pad_b;
  const double bar_w = plot_w / n;
  std::string out = "<svg id=\"duration-chart\" class=\"chart\" viewBox=\"0 0 " +
                    std::to_string(chart_w) + " " + std::to_string(chart_h) +
                    "\" role=\"img\" aria-label=\"job durations\">" + y_axis(ymax);
  for (int k = first; k <= last; ++k) {
    auto count = bins[static_cast<size_t>(k)];
    double h = plot_h * static_cast<double>(count) / ymax;
    double x = pad_l + bar_w * (k - first);
    out += "<rect class=\"bar\" x=\"" + fixed(x + 1, 1) + "\" y=\"" + fixed(pad_t + plot_h - h, 1) +
           "\" width=\"" + fixed(std::max(1.0, bar_w - 2), 1) + "\" height=\"" + fixed(h, 1) +
           "\"><title>" + esc(secs_text(bin_edge(k))) + " to " + esc(secs_text(bin_edge(k + 1))) +
           ": " + std::to_string(count) + " jobs</title></rect>";
    if (n <= 12 || (k - first) % std::max(1, n / 10) == 0)
      out += "<text class=\"tick\" x=\"" + fixed(x + 2, 1) + "\" y=\"" +
             std::to_string(chart_h - pad_b + 18) + "\">" + esc(secs_text(bin_edge(k))) + "</text>";
  }
  return out + "</svg>";
}

// --- the page ------------------------------------------------------------------------------

constexpr const char* page_css = R"css(
body{font:14px/1.45 system-ui,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1000px;
color:#1d2330;background:#fafbfc;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5dae3}
.sub{color:#5b6475;margin:0 0 16px}table{border-collapse:collapse;margin:4px 0 8px}
th,td{border:1px solid #d5dae3;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#eef1f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.err{white-space:pre-wrap;word-break:break-word;font-family:"DejaVu Sans Mono",monospace;
font-size:12px;max-width:620px}.bad{color:#b42318;font-weight:600}.none{color:#5b6475}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #d5dae3}
.grid{stroke:#e4e8ef;stroke-width:1}.tick{font-size:11px;fill:#5b6475}.bar{fill:#3f6fd8}
)css";

std::string row(const std::string& name, const std::string& value, const std::string& id = {}) {
  return "<tr><th>" + esc(name) + "</th><td class=\"n\"" +
         (id.empty() ? "" : " id=\"" + id + "\"") + ">" + esc(value) + "</td></tr>";
}

struct report_input {
  std::string run;
  std::map<std::string, std::string> info;
  transport::run_counts counts;
  uint64_t total = 0;
  bool total_known = false;
  record_stats stats;
  std::vector<sample> samples, autoscale;
  size_t bad_entries = 0;
};

/// When the run started: the first record's start, else the first sample, else the first end
/// less its job's time.
std::optional<int64_t> run_start(const report_input& in) {
  if (in.stats.first_start) return in.stats.first_start;
  if (!in.samples.empty()) return in.samples.front().t;
  return in.stats.first_start_estimate;
}

std::string summary(const report_input& in) {
  const auto& s = in.stats;
  std::string out = "<h2>Summary</h2><table id=\"summary\">";
  out +=
      row("Records", in.total_known ? std::to_string(in.total) : "not known yet", "total-records");
  out += row("Finished", std::to_string(in.counts.finished), "finished-records");
  out += row("Failed", std::to_string(in.counts.failed), "failed-records");
  out += row("Retried (more than one attempt)", std::to_string(s.retried), "retried-records");
  if (s.pending + s.missing > 0)
    out += row("Not ended (queued, started, scheduled or not yet enqueued)",
               std::to_string(s.pending + s.missing), "pending-records");
  out += row("Jobs", std::to_string(s.jobs), "jobs");
  auto start = run_start(in);
  if (start) out += row("First record started (UTC)", utc_text(*start));
  if (s.last_end) out += row("Last record ended (UTC)", utc_text(*s.last_end));
  if (start && s.last_end && *s.last_end >= *start) {
    double secs = static_cast<double>(*s.last_end - *start) / 1000;
    out += row("Duration", secs_text(secs) + " (" + fixed(secs, 1) + " s)", "duration");
    auto ended = static_cast<double>(s.finished + s.failed);
    out += row("Throughput", fixed(secs > 0 ? ended / secs : 0, 1) + " records/s", "throughput");
  }
  return out + "</table>";
}

std::string run_table(const report_input& in) {
  // Only ids, settings and times: not the data blob, the results container or the manifest.
  static const std::vector<std::pair<const char*, const char*>> shown{
      {"state", "State"},
      {"dataset", "Data set id"},
      {"queue", "Queue"},
      {"processor", "Processor"},
      {"records_per_job", "Records per job"},
      {"created_at", "Created (UTC)"},
      {"enqueued_at", "Enqueued (UTC)"},
      {"finished_at", "Finished (UTC)"},
      {"rerun", "Records run again"}};
  std::string out = "<h2>Run</h2><table id=\"run\">" + row("Run id", in.run);
  for (const auto& [field, name] : shown)
    if (auto it = in.info.find(field); it != in.info.end() && !it->second.empty())
      out += row(name, rq_ms(it->second) ? utc_text(*rq_ms(it->second)) : it->second);
  return out + "</table>";
}

std::string finished_chart(const report_input& in) {
  const auto& s = in.stats;
  std::string out = "<h2>Records finished over time</h2>";
  if (s.finished_at.empty() && s.failed_at.empty())
    return out + "<p class=\"none\">No record has ended yet.</p>";
  auto to = std::max(s.finished_at.empty() ? 0 : s.finished_at.hi(),
                     s.failed_at.empty() ? 0 : s.failed_at.hi());
  auto lo = std::min(s.finished_at.empty() ? to : s.finished_at.lo(),
                     s.failed_at.empty() ? to : s.failed_at.lo());
  auto from = std::min(run_start(in).value_or(lo), lo);
  std::vector<chart_line> lines{{"finished", "#2e8540", {}}, {"failed", "#b42318", {}}};
  auto fin = s.finished_at.cumulative(from, to, chart_bins);
  auto bad = s.failed_at.cumulative(from, to, chart_bins);
  const double step = static_cast<double>(to - from) / chart_bins;
  lines[0].points.emplace_back(from, 0);
  lines[1].points.emplace_back(from, 0);
  for (size_t i = 0; i < chart_bins; ++i) {
    auto t = from + static_cast<int64_t>(step * static_cast<double>(i + 1));
    lines[0].points.emplace_back(t, static_cast<double>(fin[i]));
    lines[1].points.emplace_back(t, static_cast<double>(bad[i]));
  }
  return out + line_chart("finished-chart", lines, "records ended, cumulative");
}

std::string workers_table(const report_input& in) {
  std::vector<std::pair<std::string, worker_counts>> rows(in.stats.workers.begin(),
                                                          in.stats.workers.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.processed > b.second.processed;
  });
  std::string out = "<h2>Workers</h2>";
  if (rows.empty()) return out + "<p class=\"none\">No record has ended yet.</p>";
  out += "<table id=\"workers\"><tr><th>Worker</th><th>Records processed</th><th>Failed</th></tr>";
  for (size_t i = 0; i < rows.size() && i < max_worker_rows; ++i)
    out += "<tr class=\"worker\"><td>" + esc(rows[i].first) + "</td><td class=\"n\">" +
           std::to_string(rows[i].second.processed) + "</td><td class=\"n\">" +
           std::to_string(rows[i].second.failed) + "</td></tr>";
  out += "</table>";
  if (rows.size() > max_worker_rows)
    out += "<p>And " + std::to_string(rows.size() - max_worker_rows) + " more workers.</p>";
  return out;
}

std::string durations(const report_input& in) {
  const auto& s = in.stats;
  std::string out = "<h2>Job durations</h2>";
  if (s.jobs_timed > 0)
    out += "<p>" + std::to_string(s.jobs_timed) + " jobs: shortest " + secs_text(s.job_secs_min) +
           ", mean " + secs_text(s.job_secs_sum / static_cast<double>(s.jobs_timed)) +
           ", longest " + secs_text(s.job_secs_max) + " (log-spaced bins, " +
           std::to_string(bins_per_decade) + " per decade).</p>";
  return out + duration_chart(s.duration_counts);
}

std::string action_counts(const std::vector<sample>& autoscale) {
  std::map<std::string, uint64_t> actions;
  bool dry = false;
  for (const auto& a : autoscale) {
    ++actions[a.action.empty() ? "(none)" : a.action];
    dry = dry || a.dry_run;
  }
  std::string out = "<p>Autoscaler rounds: " + std::to_string(autoscale.size());
  for (const auto& [action, n] : actions)
    out += ", " + esc(action) + " " + std::to_string(n);
  return out + (dry ? " (dry run: no capacity was changed)" : "") + ".</p>";
}

std::string load_chart(const report_input& in) {
  std::string out = "<h2>Queue depth and workers over time</h2>";
  if (!in.autoscale.empty())
    return out + action_counts(in.autoscale) +
           line_chart("load-chart",
                      series_lines(in.autoscale, {{"jobs queued", "#3f6fd8"},
                                                  {"jobs in flight", "#e08a00"},
                                                  {"workers alive", "#2e8540"},
                                                  {"scale set capacity", "#7a4fc9"}}),
                      "queue depth and workers");
  if (!in.samples.empty())
    return out + "<p>From the run monitor's samples (no autoscaler ran for this run).</p>" +
           line_chart("load-chart",
                      series_lines(in.samples,
                                   {{"jobs queued", "#3f6fd8"}, {"jobs in flight", "#e08a00"}}),
                      "queue depth");
  return out + "<p class=\"none\">No samples were recorded for this run.</p>";
}

std::string failures_table(const report_input& in) {
  const auto& s = in.stats;
  std::string out = "<h2>Failures</h2>";
  if (s.failures.empty()) return out + "<p class=\"none\">No record failed.</p>";
  out +=
      "<table id=\"failures\"><tr><th>Record</th><th>Job</th><th>Attempts</th><th>Error</th></tr>";
  for (const auto& f : s.failures)
    out += "<tr class=\"failure\" data-index=\"" + std::to_string(f.index) + "\"><td class=\"n\">" +
           std::to_string(f.index) + "</td><td>" + esc(f.job_id) + "</td><td class=\"n\">" +
           std::to_string(f.attempts) + "</td><td class=\"err\">" + esc(f.error) +
           (f.cut ? "&hellip;" : "") + "</td></tr>";
  out += "</table>";
  if (s.failures_left_out > 0)
    out += "<p id=\"failures-left-out\">And " + std::to_string(s.failures_left_out) +
           " more failed records, not listed.</p>";
  return out;
}

std::string page(const report_input& in) {
  const auto now = epoch_ms(std::chrono::system_clock::now());
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>pqrt run " +
      esc(in.run) + "</title><style>" + page_css + "</style></head><body>";
  out += "<h1>pqrt run <span id=\"run-id\">" + esc(in.run) + "</span></h1><p class=\"sub\">" +
         "Report generated " + utc_text(now) + " UTC by pqrt " + esc(version) + ".</p>";
  if (!in.total_known)
    out +=
        "<p class=\"bad\">The run's total is not known yet (its scheduler is still "
        "enqueuing): the record tables below are empty.</p>";
  out += summary(in) + run_table(in) + finished_chart(in) + workers_table(in) + durations(in) +
         load_chart(in) + failures_table(in);
  if (in.bad_entries > 0)
    out += "<p class=\"none\">" + std::to_string(in.bad_entries) +
           " time series entries were not JSON objects with a time and were left out.</p>";
  return out + "</body></html>\n";
}

caf::error gather(transport::rq_store& store, const config::settings& cfg, report_input& in) {
  auto info = store.run_info(cfg.run_id);
  if (!info) return info.error();
  if (info->empty()) return make_error(errc::not_found, "no run " + cfg.run_id + " in Redis");
  in.info = std::move(*info);
  auto counts = store.count_run(cfg.run_id);
  if (!counts) return counts.error();
  in.counts = *counts;
  if (auto it = in.info.find("total"); it != in.info.end() && number(it->second)) {
    in.total = static_cast<uint64_t>(count_of(it->second));
    in.total_known = true;
  }
  auto per_job = in.info.count("records_per_job")
                     ? std::max<int64_t>(1, count_of(in.info.at("records_per_job")))
                     : int64_t{1};
  if (auto err = read_records(store, cfg, in.total, static_cast<uint64_t>(per_job), in.stats))
    return err;
  auto samples = store.run_series(cfg.run_id, "samples");
  if (!samples) return samples.error();
  in.samples = parse_series(*samples, {"queued", "in_flight"}, in.bad_entries);
  auto autoscale = store.run_series(cfg.run_id, "autoscale");
  if (!autoscale) return autoscale.error();
  in.autoscale =
      parse_series(*autoscale, {"queued", "in_flight", "workers", "current"}, in.bad_entries);
  return caf::none;
}

}  // namespace

int run_report(const std::vector<std::string>& args) {
  po::options_description opts{"pqrt report --run-id ID --out FILE"};
  opts.add_options()  //
      ("out", po::value<std::string>()->required(), "the HTML file to write (- for stdout)");
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("report", args, opts, {}, vm, cfg, code)) return code;
  if (cfg.run_id.empty()) return usage_error("report", "--run-id is required");
  auto url = redis_url_from(cfg);
  if (!url) return tools::fail("report", url.error());
  transport::rq_store store{*url, transport::rq_serializer::pickle,
                            transport::redis_client_options{std::chrono::seconds{10}}};
  if (auto err = store.connect()) return tools::fail("report", err);
  report_input in;
  in.run = cfg.run_id;
  if (auto err = gather(store, cfg, in)) return tools::fail("report", err);
  auto out = tools::atomic_output::open(vm["out"].as<std::string>());
  if (!out) return tools::fail("report", out.error());
  auto html = page(in);
  (*out)->stream().write(html.data(), static_cast<std::streamsize>(html.size()));
  if (auto err = (*out)->commit()) return tools::fail("report", err);
  log::info("report", "report written",
            {{"run", cfg.run_id},
             {"out", vm["out"].as<std::string>()},
             {"records", std::to_string(in.stats.read)},
             {"failed", std::to_string(in.stats.failed)},
             {"bytes", std::to_string(html.size())}});
  return exit_ok;
}

}  // namespace pqrt
