// pqrt runs in Redis: the run hash, its finished/failed bitmaps and the jobs' status records
// (written by the scripts' `track`, read here by the scheduler's run monitor and the tools).
#include "runtime/error.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_store.hpp"

namespace pqrt::transport {

namespace {

/// Status records fetched per round trip.
constexpr size_t status_batch = 1000;

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

}  // namespace pqrt::transport
