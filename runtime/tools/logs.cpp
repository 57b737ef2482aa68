// pqrt logs [--vm NAME] [--role R] [--since 10m] [--level warn] [--follow] [--run-id ID]
//           [--format text|json]
// Reads back what the azure log sink (runtime/log_shipper.hpp) wrote: the append blobs
// `<YYYY-MM-DD>/<vm>/<role>-<pid>.jsonl` of `log_container_name`, merged in time order across
// VMs, roles and processes. --run-id takes the run's time window from Redis (created_at to
// finished_at, or now while it runs, a minute either side) instead of --since. --follow keeps
// reading what is appended, every 2 s, until interrupted.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/stores.hpp"
#include "runtime/tools/tool_io.hpp"
#include "transport/rq_store.hpp"
#include "transport/rq_time.hpp"

namespace po = boost::program_options;

namespace pqrt {

namespace {

using sys_clock = std::chrono::system_clock;

/// The log line timestamp form (`2026-12-04T20:14:27.933Z`): sortable as text.
std::string log_time(sys_clock::time_point t) {
  auto secs = sys_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

std::string day_of(sys_clock::time_point t) {
  return log_time(t).substr(0, 10);
}

int level_rank(const std::string& name) {
  if (name == "debug") return 0;
  if (name == "warn") return 2;
  if (name == "error") return 3;
  return 1;
}

/// One shipped blob: where its VM and role come from, and how far it was read.
struct source {
  std::string vm, role;
  uint64_t offset = 0;
  std::string partial;  // a last line not complete yet
};

/// `<day>/<vm>/<role>-<pid>.jsonl` → vm and role; false for any other name.
bool parse_name(const std::string& name, std::string& vm, std::string& role) {
  auto a = name.find('/');
  auto b = a == std::string::npos ? a : name.find('/', a + 1);
  if (b == std::string::npos || name.size() < 6 || name.compare(name.size() - 6, 6, ".jsonl"))
    return false;
  vm = name.substr(a + 1, b - a - 1);
  auto file = name.substr(b + 1, name.size() - 6 - b - 1);
  auto dash = file.rfind('-');
  role = dash == std::string::npos ? file : file.substr(0, dash);
  return !vm.empty() && !role.empty();
}

struct line_out {
  std::string ts;
  std::string text;  // what to print
};

struct filter {
  std::string vm, role, run;
  std::string from, to;  // log_time bounds; `to` empty: none
  int min_level = 0;
  bool json = false;
};

/// Renders a parsed line for output; false when the filter drops it.
bool render_line(const filter& f, const source& src, const std::string& raw, line_out& out) {
  rapidjson::Document doc;
  doc.Parse(raw.c_str(), raw.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  auto str = [&](const char* k) -> std::string {
    auto it = doc.FindMember(k);
    return it != doc.MemberEnd() && it->value.IsString()
               ? std::string{it->value.GetString(), it->value.GetStringLength()}
               : std::string{};
  };
  auto ts = str("ts");
  auto lvl = str("level");
  if (ts.empty() || ts < f.from || (!f.to.empty() && ts > f.to)) return false;
  if (level_rank(lvl) < f.min_level) return false;
  out.ts = ts;
  if (f.json) {
    rapidjson::Document o(rapidjson::kObjectType);
    auto& a = o.GetAllocator();
    o.AddMember("ts", rapidjson::Value(ts.c_str(), a), a);
    o.AddMember("vm", rapidjson::Value(src.vm.c_str(), a), a);
    o.AddMember("role", rapidjson::Value(src.role.c_str(), a), a);
    for (auto& m : doc.GetObject())
      if (std::string{m.name.GetString()} != "ts")
        o.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    o.Accept(w);
    out.text = sb.GetString();
    return true;
  }
  out.text =
      ts + " " + lvl + " " + src.vm + " " + src.role + " " + str("component") + ": " + str("msg");
  for (auto& m : doc.GetObject()) {
    std::string k = m.name.GetString();
    if (k == "ts" || k == "level" || k == "component" || k == "msg" || !m.value.IsString())
      continue;
    std::string v = m.value.GetString();
    out.text += " " + k + "=";
    out.text +=
        v.empty() || v.find_first_of(" \t\"=") != std::string::npos ? log::json_string(v) : v;
  }
  return true;
}

/// Reads what is new in every matching blob of the days from `first_day` to today; the lines that
/// pass, in time order.
caf::expected<std::vector<line_out>> read_new(transport::blob_store& store,
                                              const std::string& container, const filter& f,
                                              const std::string& first_day,
                                              std::map<std::string, source>& sources) {
  std::vector<line_out> out;
  auto today = day_of(sys_clock::now());
  auto last_day = f.to.empty() ? today : std::min(today, f.to.substr(0, 10));
  // Day prefixes from first_day to last_day.
  std::vector<std::string> days;
  auto t = sys_clock::now();
  for (int back = 0; back < 400; ++back) {
    auto d = day_of(t - std::chrono::hours{24 * back});
    if (d < first_day) break;
    if (d <= last_day) days.push_back(d);
  }
  std::reverse(days.begin(), days.end());
  for (const auto& day : days) {
    auto listed = store.list(container, day + "/");
    if (!listed) {
      if (is(listed.error(), errc::not_found)) continue;  // no container yet: nothing shipped
      return listed.error();
    }
    for (const auto& item : *listed) {
      auto it = sources.find(item.name);
      if (it == sources.end()) {
        source s;
        if (!parse_name(item.name, s.vm, s.role)) continue;
        it = sources.emplace(item.name, std::move(s)).first;
      }
      auto& src = it->second;
      if ((!f.vm.empty() && src.vm != f.vm) || (!f.role.empty() && src.role != f.role)) continue;
      if (item.size <= src.offset) continue;
      auto reader = store.open_read(container, item.name, src.offset);
      if (!reader) return reader.error();
      std::string data = std::move(src.partial);
      src.partial.clear();
      for (;;) {
        auto chunk = (*reader)->read(1 << 20);
        if (!chunk) return chunk.error();
        if (chunk->empty()) break;
        src.offset += chunk->size();
        data += *chunk;
      }
      size_t start = 0;
      for (auto nl = data.find('\n'); nl != std::string::npos; nl = data.find('\n', start)) {
        line_out l;
        if (render_line(f, src, data.substr(start, nl - start), l)) out.push_back(std::move(l));
        start = nl + 1;
      }
      src.partial = data.substr(start);
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const line_out& a, const line_out& b) { return a.ts < b.ts; });
  return out;
}

}  // namespace

int run_logs(const std::vector<std::string>& args) {
  po::options_description opts{
      "pqrt logs [--vm NAME] [--role R] [--since 10m] [--level L] [--follow] [--run-id ID] "
      "[--format text|json]"};
  opts.add_options()                                                                         //
      ("vm", po::value<std::string>(), "only this VM's lines (its host name)")               //
      ("role", po::value<std::string>(), "only this role's: scheduler, worker, metrics...")  //
      ("since", po::value<std::string>()->default_value("1h"),
       "lines no older than this: 90s, 10m, 2h, 1d (ignored with --run-id)")  //
      ("level", po::value<std::string>()->default_value("debug"),
       "the lowest level shown: debug, info, warn, error")                        //
      ("follow,f", "keep printing lines as they are shipped, until interrupted")  //
      ("format", po::value<std::string>()->default_value("text"), "text or json (lines)");
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("logs", args, opts, {}, vm, cfg, code)) return code;
  filter f;
  if (vm.count("vm")) f.vm = vm["vm"].as<std::string>();
  if (vm.count("role")) f.role = vm["role"].as<std::string>();
  auto level = vm["level"].as<std::string>();
  log::level parsed{};
  if (!log::parse_level(level, parsed))
    return usage_error("logs", "--level: '" + level + "' is not debug, info, warn or error");
  f.min_level = level_rank(level);
  auto format = vm["format"].as<std::string>();
  if (format != "text" && format != "json")
    return usage_error("logs", "--format: '" + format + "' is not text or json");
  f.json = format == "json";
  caf::timespan since{};
  if (!parse_duration(vm["since"].as<std::string>(), since))
    return usage_error("logs", "--since: '" + vm["since"].as<std::string>() +
                                   "' is not an age (90s, 10m, 2h, 1d)");
  auto from = sys_clock::now() - std::chrono::duration_cast<sys_clock::duration>(since);
  f.from = log_time(from);
  if (!cfg.run_id.empty()) {
    // The run's window, from its hash in Redis.
    auto url = redis_url_from(cfg);
    if (!url) return tools::fail("logs", url.error());
    transport::rq_store store{*url, transport::rq_serializer::pickle,
                              transport::redis_client_options{std::chrono::seconds{5}}};
    if (auto err = store.connect()) return tools::fail("logs", err);
    auto info = store.run_info(cfg.run_id);
    if (!info) return tools::fail("logs", info.error());
    auto created = info->count("created_at") ? transport::parse_rq_timestamp(info->at("created_at"))
                                             : std::nullopt;
    if (!created)
      return tools::fail("logs", make_error(errc::not_found, "no run " + cfg.run_id + " in Redis"));
    from = *created - std::chrono::minutes{1};
    f.from = log_time(from);
    if (info->count("finished_at"))
      if (auto end = transport::parse_rq_timestamp(info->at("finished_at")))
        f.to = log_time(*end + std::chrono::minutes{1});
  }
  if (!cfg.log_blob_endpoint.empty()) cfg.blob_endpoint = cfg.log_blob_endpoint;
  auto store = make_blob_store(cfg);
  if (!store) return tools::fail("logs", store.error());
  std::map<std::string, source> sources;
  auto first_day = day_of(from);
  bool follow = vm.count("follow") > 0;
  for (;;) {
    auto lines = read_new(**store, cfg.log_container_name, f, first_day, sources);
    if (!lines) return tools::fail("logs", lines.error());
    for (const auto& l : *lines)
      std::cout << l.text << "\n";
    std::cout.flush();
    if (!follow || !f.to.empty()) return exit_ok;
    // Until interrupted: SIGTERM or SIGINT is the way a follow ends, so it ends with 0.
    if (wait_shutdown_signal(std::chrono::seconds{2})) return exit_ok;
  }
}

}  // namespace pqrt
