// pqrt upload [--container C] [--name N] FILE...     files into a blob container
// pqrt download --container C --name N --out FILE    a blob into a file
// pqrt results --run-id ID --out FILE [--with-index] a run's results, decrypted, in record order
// pqrt status --run-id ID [--watch [--interval 2s]] a run's progress, from Redis; --watch
//                                                    redraws it until the run is complete
// The storage (local or Azure), key source and containers come from the configuration, as for
// the roles: --config, PQRT_* variables, or a flag per field (--storage local ...).
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string_view>

#include <unistd.h>

#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/jobs/record_job.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/tools/tool_io.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_store.hpp"
#include "transport/rq_time.hpp"

namespace po = boost::program_options;

namespace pqrt {

namespace {

constexpr size_t io_chunk = 1 << 20;

/// Lines of a blob, read through a bounded buffer.
class blob_lines {
public:
  explicit blob_lines(std::unique_ptr<transport::blob_reader> reader)
      : reader_(std::move(reader)) {}

  /// The next line (without its newline), or nullopt at the end.
  caf::expected<std::optional<std::string>> next() {
    for (;;) {
      auto nl = buffer_.find('\n', pos_);
      if (nl != std::string::npos) {
        auto line = buffer_.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        return std::optional<std::string>{std::move(line)};
      }
      buffer_.erase(0, pos_);
      pos_ = 0;
      if (eof_) {
        if (buffer_.empty()) return std::optional<std::string>{};
        return std::optional<std::string>{std::exchange(buffer_, {})};
      }
      auto chunk = reader_->read(64 * 1024);
      if (!chunk) return chunk.error();
      if (chunk->empty()) eof_ = true;
      buffer_ += *chunk;
    }
  }

private:
  std::unique_ptr<transport::blob_reader> reader_;
  std::string buffer_;
  size_t pos_ = 0;
  bool eof_ = false;
};

/// A tiny reader of the manifest's flat JSON lines: the string or number value of `key`.
std::string json_field(const std::string& line, const std::string& key) {
  auto at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return {};
  at += key.size() + 3;
  if (at < line.size() && line[at] == '"') {
    std::string out;
    for (auto i = at + 1; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        out += line[++i];
        continue;
      }
      if (line[i] == '"') break;
      out += line[i];
    }
    return out;
  }
  auto end = line.find_first_of(",}", at);
  return line.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// --- pqrt status --watch ---------------------------------------------------------------------

/// A watch's interval: "2s", "500ms", "1m" or bare seconds; at least 100 ms.
std::optional<std::chrono::milliseconds> watch_interval(const std::string& text) {
  caf::timespan span{};
  if (!parse_duration(text, span)) return std::nullopt;
  auto out = std::chrono::duration_cast<std::chrono::milliseconds>(span);
  if (out < std::chrono::milliseconds{100}) return std::nullopt;
  return out;
}

/// What one refresh reads: the run hash, its bitmaps' counts and the run monitor's latest sample.
struct run_snapshot {
  std::map<std::string, std::string> info;
  transport::run_counts counts;
  std::optional<int64_t> total;  ///< known once the scheduler has enqueued the whole data set
  std::string sample;            ///< the newest entry of pqrt:run:<id>:samples, or empty
};

caf::expected<run_snapshot> take_snapshot(transport::rq_store& store, const std::string& run,
                                          bool with_sample) {
  run_snapshot snap;
  auto info = store.run_info(run);
  if (!info) return info.error();
  if (info->empty()) return make_error(errc::not_found, "no run " + run + " in Redis");
  snap.info = std::move(*info);
  auto counts = store.count_run(run);
  if (!counts) return counts.error();
  snap.counts = *counts;
  if (auto it = snap.info.find("total"); it != snap.info.end()) {
    int64_t n = 0;
    const auto& v = it->second;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc{} && end == v.data() + v.size()) snap.total = n;
  }
  if (!with_sample) return snap;
  // LINDEX, not the whole series: a long run keeps tens of thousands of samples.
  auto last = store.client().command({"LINDEX", transport::rq_keys::run(run) + ":samples", "-1"});
  if (!last) return last.error();
  if (last->type == transport::redis_reply::kind::string) snap.sample = std::move(last->str);
  return snap;
}

std::string one_decimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

/// One refresh: a screen (terminal) or a line (anything else).
void draw(bool tty, const std::string& run, const run_snapshot& snap, std::optional<double> rate) {
  auto done = snap.counts.finished + snap.counts.failed;
  auto total = snap.total ? std::to_string(*snap.total) : std::string{"?"};
  auto field = [&](const char* key) {
    auto v = json_field(snap.sample, key);
    return v.empty() ? std::string{"-"} : v;
  };
  auto state = snap.info.count("state") ? snap.info.at("state") : std::string{"-"};
  auto rate_text = rate ? one_decimal(*rate) : std::string{"-"};
  if (!tty) {
    std::cout << transport::rq_now() << " run=" << run << " state=" << state << " done=" << done
              << "/" << total << " finished=" << snap.counts.finished
              << " failed=" << snap.counts.failed << " queued=" << field("queued")
              << " in_flight=" << field("in_flight") << " records_per_s=" << rate_text << std::endl;
    return;
  }
  constexpr int bar = 40;
  double share = snap.total && *snap.total > 0
                     ? std::min(1.0, static_cast<double>(done) / static_cast<double>(*snap.total))
                     : (snap.total ? 1.0 : 0.0);
  auto filled = static_cast<int>(share * bar);
  std::cout << "\x1b[H\x1b[2J"
            << "run " << run << " (" << state << ")\n"
            << "[" << std::string(static_cast<size_t>(filled), '#')
            << std::string(static_cast<size_t>(bar - filled), '-') << "] "
            << one_decimal(share * 100) << "%\n"
            << "done:      " << done << "/" << total << " (finished " << snap.counts.finished
            << ", failed " << snap.counts.failed << ")\n"
            << "jobs:      " << field("queued") << " queued, " << field("in_flight")
            << " in flight\n"
            << "rate:      " << rate_text << " records/s\n"
            << "(Ctrl-C to stop watching)" << std::endl;
}

/// Redraws until the run is complete (exit 0, or 1 when records failed) or a signal ends the
/// watch (128 + its number: no caller mistakes an interrupted watch for a run's end).
int watch_status(transport::rq_store& store, const std::string& run,
                 std::chrono::milliseconds every) {
  using steady = std::chrono::steady_clock;
  const bool tty = isatty(STDOUT_FILENO) == 1;
  std::optional<std::pair<steady::time_point, int64_t>> before;
  for (;;) {
    auto snap = take_snapshot(store, run, true);
    if (!snap) return tools::fail("status", snap.error());
    auto now = steady::now();
    auto done = snap->counts.finished + snap->counts.failed;
    std::optional<double> rate;
    if (before && now > before->first)  // records taken back to run again count down: not a rate
      rate = static_cast<double>(std::max<int64_t>(0, done - before->second)) /
             std::chrono::duration<double>(now - before->first).count();
    else if (auto r = json_field(snap->sample, "rate"); !r.empty())
      rate = std::strtod(r.c_str(), nullptr);
    before = {now, done};
    draw(tty, run, *snap, rate);
    if (snap->total && done >= *snap->total)
      return snap->counts.failed > 0 ? exit_failure : exit_ok;
    if (int sig = wait_shutdown_signal(every)) return 128 + sig;
  }
}

}  // namespace

int run_upload(const std::vector<std::string>& args) {
  po::options_description opts{"pqrt upload [--container C] [--name N] FILE..."};
  opts.add_options()  //
      ("container", po::value<std::string>(),
       "blob container (default: the inputs container, storage_container_name)")               //
      ("name", po::value<std::string>(), "blob name (one file only; default: its file name)")  //
      ("files", po::value<std::vector<std::string>>()->composing(), "files to upload");
  po::positional_options_description pos;
  pos.add("files", -1);
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("upload", args, opts, pos, vm, cfg, code)) return code;
  if (!vm.count("files")) return usage_error("upload", "no file given");
  auto files = vm["files"].as<std::vector<std::string>>();
  if (vm.count("name") && files.size() != 1)
    return usage_error("upload", "--name needs exactly one file");
  auto container =
      vm.count("container") ? vm["container"].as<std::string>() : cfg.storage_container_name;
  auto store = make_blob_store(cfg);
  if (!store) return tools::fail("upload", store.error());
  if (auto err = (*store)->create_container(container)) return tools::fail("upload", err);
  for (const auto& path : files) {
    auto name = vm.count("name") ? vm["name"].as<std::string>()
                                 : std::filesystem::path{path}.filename().string();
    auto in = tools::input_file::open(path);
    if (!in) return tools::fail("upload", in.error());
    auto writer = (*store)->open_write(container, name);
    if (!writer) return tools::fail("upload", writer.error());
    std::string buf(io_chunk, '\0');
    uint64_t total = 0;
    for (;;) {
      (*in)->stream().read(buf.data(), static_cast<std::streamsize>(buf.size()));
      auto n = static_cast<size_t>((*in)->stream().gcount());
      if (n == 0) break;
      if (auto err = (*writer)->write({buf.data(), n})) return tools::fail("upload", err);
      total += n;
    }
    if ((*in)->stream().bad())
      return tools::fail("upload", make_error(errc::io_error, path + ": read failed"));
    if (auto err = (*writer)->commit()) return tools::fail("upload", err);
    log::info("upload", "uploaded",
              {{"file", path}, {"blob", container + "/" + name}, {"bytes", std::to_string(total)}});
  }
  return exit_ok;
}

int run_download(const std::vector<std::string>& args) {
  po::options_description opts{"pqrt download --container C --name N --out FILE"};
  opts.add_options()                                                         //
      ("container", po::value<std::string>()->required(), "blob container")  //
      ("name", po::value<std::string>()->required(), "blob name")            //
      ("out", po::value<std::string>()->required(), "output file (- for stdout)");
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("download", args, opts, {}, vm, cfg, code)) return code;
  auto store = make_blob_store(cfg);
  if (!store) return tools::fail("download", store.error());
  auto reader =
      (*store)->open_read(vm["container"].as<std::string>(), vm["name"].as<std::string>());
  if (!reader) return tools::fail("download", reader.error());
  auto out = tools::atomic_output::open(vm["out"].as<std::string>());
  if (!out) return tools::fail("download", out.error());
  for (;;) {
    auto chunk = (*reader)->read(io_chunk);
    if (!chunk) return tools::fail("download", chunk.error());
    if (chunk->empty()) break;
    (*out)->stream().write(chunk->data(), static_cast<std::streamsize>(chunk->size()));
  }
  if (auto err = (*out)->commit()) return tools::fail("download", err);
  return exit_ok;
}

int run_results(const std::vector<std::string>& args) {
  po::options_description opts{"pqrt results --run-id ID --out FILE"};
  opts.add_options()                                                               //
      ("out", po::value<std::string>()->required(), "output file (- for stdout)")  //
      ("with-index", "prefix each result with its record index and a tab");
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("results", args, opts, {}, vm, cfg, code)) return code;
  if (cfg.run_id.empty()) return usage_error("results", "--run-id is required");
  auto store = make_blob_store(cfg);
  if (!store) return tools::fail("results", store.error());
  const auto& container = cfg.results_container_name;
  const auto& run = cfg.run_id;
  // The manifest: which blob holds each record's result (the one its status record names).
  auto manifest_reader = (*store)->open_read(container, run + "/manifest.jsonl");
  if (!manifest_reader)
    return tools::fail(
        "results", make_error(errc::not_found,
                              "run " + run + " has no results manifest in " + container + " (" +
                                  render(manifest_reader.error()) + "): has the run finished?"));
  blob_lines manifest{std::move(*manifest_reader)};
  auto head = manifest.next();
  if (!head || !*head)
    return tools::fail("results", make_error(errc::bad_format, "empty manifest"));
  auto dataset = json_field(**head, "dataset");
  uint64_t total = std::stoull("0" + json_field(**head, "total"));
  std::vector<int32_t> blob_of(total, -1);
  std::vector<std::string> blobs;
  std::map<std::string, int32_t> blob_ids;
  std::vector<uint64_t> last_of;  // per blob: its last record, after which it is closed
  uint64_t failed = 0;
  for (uint64_t i = 0; i < total; ++i) {
    auto line = manifest.next();
    if (!line) return tools::fail("results", line.error());
    if (!*line) return tools::fail("results", make_error(errc::truncated, "manifest ends early"));
    if (json_field(**line, "state") != "finished") {
      ++failed;
      continue;
    }
    auto blob = json_field(**line, "result");
    auto [it, added] = blob_ids.emplace(blob, static_cast<int32_t>(blobs.size()));
    if (added) {
      blobs.push_back(blob);
      last_of.push_back(i);
    }
    blob_of[i] = it->second;
    last_of[static_cast<size_t>(it->second)] = i;
  }
  auto key_source = make_key_source(cfg);
  if (!key_source) return tools::fail("results", key_source.error());
  auto wrapped_bytes = (*store)->get(cfg.storage_container_name, cfg.encrypted_aes_key_filename);
  if (!wrapped_bytes) return tools::fail("results", wrapped_bytes.error());
  auto wrapped = crypto::parse_wrapped_key(*wrapped_bytes);
  if (!wrapped) return tools::fail("results", wrapped.error());
  auto key = (*key_source)->unwrap(*wrapped);
  if (!key) return tools::fail("results", key.error());
  crypto::record_cipher cipher{std::make_shared<const crypto::secure_buffer>(std::move(*key))};
  auto binding = result_binding(dataset, run);
  auto out = tools::atomic_output::open(vm["out"].as<std::string>());
  if (!out) return tools::fail("results", out.error());
  auto with_index = vm.count("with-index") > 0;
  // Results blobs hold their records in index order: walk the records in order, reading each
  // blob forward, and close a blob once its last record is out.
  std::map<int32_t, blob_lines> open;
  for (uint64_t i = 0; i < total; ++i) {
    auto b = blob_of[i];
    if (b < 0) continue;
    auto it = open.find(b);
    if (it == open.end()) {
      auto reader = (*store)->open_read(container, blobs[static_cast<size_t>(b)]);
      if (!reader) return tools::fail("results", reader.error());
      it = open.emplace(b, blob_lines{std::move(*reader)}).first;
    }
    std::optional<std::string> found;
    for (;;) {
      auto line = it->second.next();
      if (!line) return tools::fail("results", line.error());
      if (!*line) break;
      auto index = crypto::sealed_index(**line);
      if (index && *index == i) {
        found = std::move(**line);
        break;
      }
      if (index && *index > i) break;
    }
    if (!found)
      return tools::fail(
          "results",
          make_error(errc::not_found, "result of record " + std::to_string(i) + " missing from " +
                                          blobs[static_cast<size_t>(b)]));
    auto plain = cipher.open(binding, i, *found);
    if (!plain)
      return tools::fail("results",
                         make_error(errc::auth_failed, "result of record " + std::to_string(i) +
                                                           " in " + blobs[static_cast<size_t>(b)] +
                                                           ": " + render(plain.error())));
    auto& os = (*out)->stream();
    if (with_index) os << i << '\t';
    os << *plain;
    if (plain->empty() || plain->back() != '\n') os << '\n';
    if (last_of[static_cast<size_t>(b)] == i) open.erase(it);
  }
  if (auto err = (*out)->commit()) return tools::fail("results", err);
  log::info("results", "results decrypted",
            {{"run", run},
             {"records", std::to_string(total)},
             {"results", std::to_string(total - failed)},
             {"failed", std::to_string(failed)}});
  if (failed > 0)
    log::warn("results", "failed records have no result; the manifest names them and why",
              {{"failed", std::to_string(failed)},
               {"manifest", container + "/" + run + "/manifest.jsonl"}});
  return exit_ok;
}

int run_status(const std::vector<std::string>& args) {
  po::options_description opts{"pqrt status --run-id ID [--watch [--interval 2s]]"};
  opts.add_options()                                                                     //
      ("watch", "refresh until the run is complete (exit 0, or 1 when records failed)")  //
      ("interval", po::value<std::string>()->default_value("2s"),
       "with --watch: time between refreshes (500ms, 2s, 1m; at least 100ms)");
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("status", args, opts, {}, vm, cfg, code)) return code;
  if (cfg.run_id.empty()) return usage_error("status", "--run-id is required");
  auto every = watch_interval(vm["interval"].as<std::string>());
  if (!every)
    return usage_error("status", "--interval: not a duration of at least 100ms: '" +
                                     vm["interval"].as<std::string>() + "' (use 500ms, 2s, 1m)");
  auto url = redis_url_from(cfg);
  if (!url) return tools::fail("status", url.error());
  transport::rq_store store{*url, transport::rq_serializer::pickle,
                            transport::redis_client_options{std::chrono::seconds{5}}};
  if (auto err = store.connect()) return tools::fail("status", err);
  if (vm.count("watch")) return watch_status(store, cfg.run_id, *every);
  auto snap = take_snapshot(store, cfg.run_id, false);
  if (!snap) return tools::fail("status", snap.error());
  std::cout << "run: " << cfg.run_id << "\n";
  for (const auto& [k, v] : snap->info)
    std::cout << k << ": " << v << "\n";
  std::cout << "finished: " << snap->counts.finished << "\nfailed: " << snap->counts.failed << "\n";
  return exit_ok;
}

}  // namespace pqrt
