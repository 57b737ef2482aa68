// pqrt runs in Redis: the run hash, its finished/failed bitmaps and the jobs' status records
// (written by the scripts' `track`, read here by the scheduler's run monitor and the tools).
#include <algorithm>
#include <charconv>

#include "runtime/base/error.hpp"
#include "transport/detail/rq_util.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_scripts.hpp"
#include "transport/rq_store.hpp"

namespace pqrt::transport {

namespace {

/// Status records fetched per round trip.
constexpr size_t status_batch = 1000;
/// Records per call of the rerun script (pipelined).
constexpr size_t rerun_chunk = 200;

}  // namespace

caf::expected<std::map<std::string, std::string>> rq_store::run_info(const std::string& run) {
  auto reply = client_.command({"HGETALL", rq_keys::run(run)});
  if (!reply) return reply.error();
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < reply->elements.size(); i += 2)
    out[reply->elements[i].str] = reply->elements[i + 1].str;
  return out;
}

caf::error rq_store::set_run_info(const std::string& run,
                                  const std::vector<std::pair<std::string, std::string>>& fields) {
  if (fields.empty()) return caf::none;
  redis_command cmd{"HSET", rq_keys::run(run)};
  for (const auto& [name, value] : fields) {
    cmd.push_back(name);
    cmd.push_back(value);
  }
  auto reply = client_.command(cmd);
  if (!reply) return reply.error();
  if (reply->is_error()) return make_error(errc::redis_error, "run " + run + ": " + reply->str);
  return caf::none;
}

caf::expected<run_counts> rq_store::count_run(const std::string& run) {
  auto replies = client_.pipeline(
      {{"BITCOUNT", rq_keys::run_finished(run)}, {"BITCOUNT", rq_keys::run_failed(run)}});
  if (!replies) return replies.error();
  return run_counts{(*replies)[0].integer, (*replies)[1].integer};
}

caf::expected<std::vector<bool>> rq_store::run_bitmap(const std::string& run, bool failed,
                                                      uint64_t total) {
  auto reply =
      client_.command({"GET", failed ? rq_keys::run_failed(run) : rq_keys::run_finished(run)});
  if (!reply) return reply.error();
  std::vector<bool> bits(total, false);
  const auto& bytes = reply->str;  // Redis bitmaps: bit 0 is the most significant of byte 0
  for (uint64_t i = 0; i < total && i / 8 < bytes.size(); ++i)
    bits[i] = (static_cast<unsigned char>(bytes[i / 8]) >> (7 - i % 8)) & 1;
  return bits;
}

caf::expected<std::vector<std::vector<std::string>>> rq_store::status_records(
    const std::vector<std::string>& keys, const std::vector<std::string>& fields) {
  std::vector<std::vector<std::string>> out;
  out.reserve(keys.size());
  for (size_t start = 0; start < keys.size(); start += status_batch) {
    std::vector<redis_command> calls;
    for (size_t i = start; i < std::min(keys.size(), start + status_batch); ++i) {
      redis_command cmd{"HMGET", keys[i]};
      cmd.insert(cmd.end(), fields.begin(), fields.end());
      calls.push_back(std::move(cmd));
    }
    auto replies = client_.pipeline(calls);
    if (!replies) return replies.error();
    for (auto& r : *replies) {
      std::vector<std::string> values;
      for (auto& e : r.elements)
        values.push_back(std::move(e.str));
      values.resize(fields.size());
      out.push_back(std::move(values));
    }
  }
  return out;
}

caf::expected<std::unordered_map<std::string, uint64_t>> rq_store::run_blob_sizes(
    const std::string& run) {
  const auto what = "run " + run + ": result blob sizes";
  std::unordered_map<std::string, uint64_t> out;
  std::string cursor = "0";
  do {  // HSCAN, not HGETALL: a run of many blobs does not hold Redis up
    auto reply = client_.command({"HSCAN", rq_keys::run_blobs(run), cursor, "COUNT", "1000"});
    if (!reply) return reply.error();
    if (auto err = detail::expect_kind(what, *reply, {redis_reply::kind::array})) return err;
    if (reply->elements.size() != 2 || !reply->elements[1].is_array())
      return make_error(errc::protocol_error, what + ": HSCAN reply is not [cursor, fields]");
    cursor = reply->elements[0].str;
    const auto& fields = reply->elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      const auto& v = fields[i + 1].str;
      uint64_t size = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), size);
      if (ec != std::errc{} || end != v.data() + v.size())
        return make_error(errc::bad_format, what + ": " + fields[i].str + " has size '" + v + "'");
      out[fields[i].str] = size;
    }
  } while (cursor != "0");
  return out;
}

caf::expected<size_t> rq_store::rerun_records(const std::string& run, const std::string& queue,
                                              const std::vector<record_to_rerun>& records) {
  std::vector<redis_command> calls;
  for (size_t start = 0; start < records.size(); start += rerun_chunk) {
    std::vector<std::string> args{run, queue};
    for (size_t i = start; i < std::min(records.size(), start + rerun_chunk); ++i) {
      const auto& r = records[i];
      args.insert(args.end(), {r.job_id, std::to_string(r.index), r.status_key, r.blob, r.reason});
    }
    calls.push_back(detail::evalsha(rq_scripts::rerun(), {}, std::move(args)));
  }
  auto replies = run_scripts(std::move(calls));
  if (!replies) return replies.error();
  size_t taken = 0;
  for (const auto& r : *replies) {
    if (r.is_error()) return make_error(errc::redis_error, "run " + run + ": rerun: " + r.str);
    if (auto err = detail::expect_kind("rerun", r, {redis_reply::kind::integer})) return err;
    taken += static_cast<size_t>(r.integer);
  }
  return taken;
}

caf::error rq_store::append_run_series(const std::string& run, const std::string& series,
                                       const std::string& entry, size_t keep) {
  auto key = rq_keys::run(run) + ":" + series;
  auto r =
      client_.pipeline({{"RPUSH", key, entry},
                        {"LTRIM", key, "-" + std::to_string(std::max<size_t>(keep, 1)), "-1"}});
  if (!r) return r.error();
  for (const auto& reply : *r)
    if (reply.is_error()) return make_error(errc::redis_error, key + ": " + reply.str);
  return caf::none;
}

caf::expected<std::vector<std::string>> rq_store::run_series(const std::string& run,
                                                             const std::string& series) {
  auto key = rq_keys::run(run) + ":" + series;
  auto reply = client_.command({"LRANGE", key, "0", "-1"});
  if (!reply) return reply.error();
  if (reply->is_error()) return make_error(errc::redis_error, key + ": " + reply->str);
  std::vector<std::string> out;
  out.reserve(reply->elements.size());
  for (auto& e : reply->elements)
    out.push_back(std::move(e.str));
  return out;
}

}  // namespace pqrt::transport
