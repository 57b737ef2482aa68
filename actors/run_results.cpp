#include "actors/run_results.hpp"

#include <algorithm>
#include <charconv>

#include "runtime/base/json_writer.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"
#include "runtime/jobs/record_job.hpp"
#include "transport/rq_time.hpp"

namespace pqrt {

namespace {

constexpr size_t manifest_batch = 1000;
constexpr size_t rerun_batch = 1000;
constexpr size_t max_failed_named = 1000;
constexpr size_t max_blobs_named = 5;

/// A status record's attempts: a count, 0 when absent or not a number (a changed record).
int64_t attempts(const std::string& text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc{} && end == text.data() + text.size() && n >= 0 ? n : 0;
}

caf::expected<std::string> manifest_head(transport::job_store& store, const pipeline_settings& ps,
                                         uint64_t total) {
  auto info = store.run_info(ps.run_id);
  if (!info) return info.error();
  return json::object{}
             .field("run", ps.run_id)
             .field("dataset", (*info)["dataset"])
             .field("total", total)
             .field("results_container", ps.results_container)
             .field("created_at", (*info)["created_at"])
             .field("written_at", transport::rq_now())
             .str() +
         "\n";
}

}  // namespace

caf::expected<transport::result_audit> audit_results(transport::job_store& store,
                                                     transport::blob_store& blobs,
                                                     const pipeline_settings& ps) {
  // A container that does not exist yet lists as empty, not as an error.
  if (auto err = blobs.create_container(ps.results_container)) return err;
  auto listing = blobs.list(ps.results_container, ps.run_id + "/results/");
  if (!listing) return listing.error();
  auto recorded = store.run_blob_sizes(ps.run_id);
  if (!recorded) return recorded.error();
  std::unordered_map<std::string, uint64_t> listed;
  listed.reserve(listing->size());
  for (auto& item : *listing)
    listed.emplace(std::move(item.name), item.size);
  return transport::result_audit{std::move(listed), std::move(*recorded)};
}

caf::error write_manifest(transport::job_store& store, transport::blob_store& blobs,
                          const pipeline_settings& ps, uint64_t total,
                          transport::result_audit& audit, run_outcome& out) {
  auto name = ps.run_id + "/manifest.jsonl";
  auto writer = blobs.open_write(ps.results_container, name);
  if (!writer) return writer.error();
  auto head = manifest_head(store, ps, total);
  if (!head) return head.error();
  if (auto err = (*writer)->write(*head)) return err;
  const std::vector<std::string> fields{"state", "attempts", "result", "error", "job_id"};
  out.finished = out.failed = 0;
  out.failed_jobs.clear();
  out.manifest.clear();
  for (uint64_t start = 0; start < total; start += manifest_batch) {
    auto end = std::min<uint64_t>(total, start + manifest_batch);
    std::vector<std::string> keys;
    for (auto i = start; i < end; ++i)
      keys.push_back(ps.status_prefix + record_job_id(ps.run_id, i));
    auto records = store.status_records(keys, fields);
    if (!records) return records.error();
    std::string chunk;
    for (auto i = start; i < end; ++i) {
      const auto& r = (*records)[i - start];
      auto id = record_job_id(ps.run_id, i);  // names the record (its job may hold many)
      json::object line;
      line.field("index", i)
          .field("job_id", r[4].empty() ? id : r[4])
          .field("state", r[0])
          .field("attempts", attempts(r[1]));
      if (r[0] == "finished") {
        ++out.finished;
        audit.note(i, r[2]);
        line.field("result", r[2]);
      } else {
        ++out.failed;
        if (out.failed_jobs.size() < max_failed_named) out.failed_jobs.push_back(id);
        line.field("error", r[3]);
      }
      chunk += line.str() + "\n";
    }
    if (!audit.clean()) continue;  // this manifest is not committed: only the audit goes on
    if (auto err = (*writer)->write(chunk)) return err;
  }
  if (!audit.clean()) return caf::none;  // the writer goes uncommitted: nothing is written
  if (auto err = (*writer)->commit()) return err;
  out.manifest = ps.results_container + "/" + name;
  return caf::none;
}

caf::expected<size_t> take_back(transport::job_store& store, const pipeline_settings& ps,
                                const transport::result_audit& audit) {
  const auto& reruns = audit.reruns();
  const auto& bad = audit.bad_blobs();
  size_t taken = 0;
  for (size_t start = 0; start < reruns.size(); start += rerun_batch) {
    std::vector<transport::record_to_rerun> batch;
    for (size_t i = start; i < std::min(reruns.size(), start + rerun_batch); ++i) {
      auto id = record_job_id(ps.run_id, reruns[i].index);
      auto key = ps.status_prefix + id;
      batch.push_back({std::move(id), reruns[i].index, std::move(key), bad[reruns[i].blob].name,
                       audit.reason(reruns[i].blob)});
    }
    auto n = store.rerun_records(ps.run_id, ps.queue, batch);
    if (!n) return n.error();
    taken += *n;
  }
  return taken;
}

void report_rerun(const pipeline_settings& ps, const transport::result_audit& audit) {
  using transport::result_fault;
  std::string named;
  for (size_t i = 0; i < audit.bad_blobs().size() && i < max_blobs_named; ++i)
    named += (i ? ", " : "") + audit.bad_blobs()[i].name;
  const auto records = audit.reruns().size();
  log::warn("run_monitor",
            "result blobs are not in storage as written: running their records again",
            {{"run", ps.run_id},
             {"missing_blobs", std::to_string(audit.count(result_fault::missing))},
             {"wrong_size_blobs", std::to_string(audit.count(result_fault::wrong_size))},
             {"records", std::to_string(records)},
             {"blobs", named}});
  auto& reg = prom::registry::global();
  prom::labels run{{"run", ps.run_id}};
  reg.get_counter("pqrt_result_blobs_lost_total",
                  "Result blobs found missing from storage or of another size than written", run)
      .inc(static_cast<double>(audit.bad_blobs().size()));
  reg.get_counter("pqrt_records_rerun_total",
                  "Finished records run again because their result blob was lost", run)
      .inc(static_cast<double>(records));
}

}  // namespace pqrt
