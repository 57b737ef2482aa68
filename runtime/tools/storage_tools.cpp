// pqrt upload [--container C] [--name N] FILE...     files into a blob container
// pqrt download --container C --name N --out FILE    a blob into a file
// pqrt results --run-id ID --out FILE [--with-index] a run's results, decrypted, in record order
// pqrt status --run-id ID                            a run's progress, from Redis
// The storage (local or Azure), key source and containers come from the configuration, as for
// the roles: --config, PQRT_* variables, or a flag per field (--storage local ...).
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/jobs/record_job.hpp"
#include "runtime/roles/pipeline.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/tools/tool_io.hpp"
#include "transport/rq_store.hpp"

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
  po::options_description opts{"pqrt status --run-id ID"};
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("status", args, opts, {}, vm, cfg, code)) return code;
  if (cfg.run_id.empty()) return usage_error("status", "--run-id is required");
  auto url = redis_url_from(cfg);
  if (!url) return tools::fail("status", url.error());
  transport::rq_store store{*url, transport::rq_serializer::pickle,
                            transport::redis_client_options{std::chrono::seconds{5}}};
  if (auto err = store.connect()) return tools::fail("status", err);
  auto info = store.run_info(cfg.run_id);
  if (!info) return tools::fail("status", info.error());
  if (info->empty())
    return tools::fail("status", make_error(errc::not_found, "no run " + cfg.run_id + " in Redis"));
  auto counts = store.count_run(cfg.run_id);
  if (!counts) return tools::fail("status", counts.error());
  std::cout << "run: " << cfg.run_id << "\n";
  for (const auto& [k, v] : *info)
    std::cout << k << ": " << v << "\n";
  std::cout << "finished: " << counts->finished << "\nfailed: " << counts->failed << "\n";
  return exit_ok;
}

}  // namespace pqrt
