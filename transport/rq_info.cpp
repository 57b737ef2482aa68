// rq_store: reading jobs, results, queues and workers back, as `rq info` and Job.fetch do.
#include <algorithm>
#include <charconv>
#include <optional>

#include "transport/detail/rq_util.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_store.hpp"
#include "transport/rq_time.hpp"

namespace pqrt::transport {

using detail::evalsha;
using detail::flat_strings;

caf::expected<rq_job> rq_store::fetch(const std::string& id) {
  auto r = client_.command({"HGETALL", rq_keys::job(id)});
  if (!r) return r.error();
  return make_rq_job(id, flat_strings(*r));
}

caf::expected<std::vector<std::string>> rq_store::latest_result(const std::string& id) {
  auto r = client_.command({"XREVRANGE", rq_keys::results(id), "+", "-", "COUNT", "1"});
  if (!r) return r.error();
  if (r->elements.empty() || r->elements[0].elements.size() != 2) return std::vector<std::string>{};
  return flat_strings(r->elements[0].elements[1]);
}

caf::expected<std::vector<queue_info>> rq_store::queues_info() {
  auto keys = client_.command({"SMEMBERS", rq_keys::queues});
  if (!keys) return keys.error();
  std::vector<std::string> names;
  for (const auto& k : keys->elements)
    if (k.str.rfind("rq:queue:", 0) == 0) names.push_back(k.str.substr(9));
  std::sort(names.begin(), names.end());
  auto now = std::to_string(unix_seconds(std::chrono::system_clock::now()));
  std::vector<redis_command> cmds;
  for (const auto& q : names) {
    // Expired registry entries are not counted (RQ's reader would clean them up first).
    cmds.push_back({"LLEN", rq_keys::queue(q)});
    cmds.push_back({"ZCARD", rq_keys::wip(q)});
    cmds.push_back({"ZCOUNT", rq_keys::finished(q), "(" + now, "+inf"});
    cmds.push_back({"ZCOUNT", rq_keys::failed(q), "(" + now, "+inf"});
    cmds.push_back({"ZCOUNT", rq_keys::failed(q), "-1", "-1"});
    cmds.push_back({"ZCARD", rq_keys::deferred(q)});
    cmds.push_back({"ZCARD", rq_keys::scheduled(q)});
  }
  auto r = client_.pipeline(cmds);
  if (!r) return r.error();
  std::vector<queue_info> out;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto* v = &(*r)[7 * i];
    out.push_back({names[i], v[0].integer, v[1].integer, v[2].integer, v[3].integer + v[4].integer,
                   v[5].integer, v[6].integer});
  }
  return out;
}

caf::expected<std::optional<double>> rq_store::oldest_queued_age(const std::string& queue) {
  // RQ pushes on the right and workers pop from the left: the head is the oldest.
  auto head = client_.command({"LINDEX", rq_keys::queue(queue), "0"});
  if (!head) return head.error();
  if (head->type != redis_reply::kind::string) return std::optional<double>{};
  auto at = client_.command({"HGET", rq_keys::job(head->str), "enqueued_at"});
  if (!at) return at.error();
  auto when = parse_rq_timestamp(at->str);
  if (!when) return std::optional<double>{};
  auto age = std::chrono::duration<double>(std::chrono::system_clock::now() - *when).count();
  return std::optional<double>{std::max(0.0, age)};
}

caf::expected<queue_load> rq_store::load(const std::string& queue) {
  auto r = client_.pipeline({{"LLEN", rq_keys::queue(queue)}, {"ZCARD", rq_keys::wip(queue)}});
  if (!r) return r.error();
  for (const auto& reply : *r)
    if (reply.type != redis_reply::kind::integer)
      return make_error(errc::protocol_error, "LLEN/ZCARD of queue " + queue + ": not an integer");
  return queue_load{(*r)[0].integer, (*r)[1].integer};
}

caf::expected<std::vector<worker_info>> rq_store::workers_info() {
  auto keys = client_.command({"SMEMBERS", rq_keys::workers});
  if (!keys) return keys.error();
  std::vector<redis_command> cmds;
  for (const auto& k : keys->elements)
    cmds.push_back({"HMGET", k.str, "state", "queues", "current_job", "hostname", "pid", "death",
                    "successful_job_count", "failed_job_count"});
  auto r = client_.pipeline(cmds);
  if (!r) return r.error();
  std::vector<worker_info> out;
  for (size_t i = 0; i < keys->elements.size(); ++i) {
    const auto& f = (*r)[i].elements;
    if (f.size() != 8 || f[0].is_nil() || !f[5].is_nil()) continue;  // gone, or dead
    auto count = [](const redis_reply& r) -> int64_t {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), n);
      return ec == std::errc{} && end == r.str.data() + r.str.size() && n >= 0 ? n : 0;
    };
    out.push_back({keys->elements[i].str.substr(10), f[0].str, f[1].str, f[2].str, f[3].str,
                   f[4].str, count(f[6]), count(f[7])});
  }
  std::sort(out.begin(), out.end(),
            [](const worker_info& a, const worker_info& b) { return a.name < b.name; });
  return out;
}

}  // namespace pqrt::transport
