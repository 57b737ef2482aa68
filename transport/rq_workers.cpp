// rq_store: worker registration, liveness, recovery of dead workers, and reading state back.
#include <algorithm>

#include <unistd.h>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/version.hpp"
#include "transport/detail/rq_util.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_scripts.hpp"
#include "transport/rq_store.hpp"
#include "transport/rq_time.hpp"

namespace pqrt::transport {

using detail::evalsha;
using detail::expect_all;
using detail::expect_kind;
using detail::flat_strings;
using kind = redis_reply::kind;

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ",") + item;
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

/// RQ's worker death (§5.6): out of the worker sets, `death` set, gone in 60 s.
std::vector<redis_command> death_commands(const std::string& name,
                                          const std::vector<std::string>& queues) {
  auto wk = rq_keys::worker(name);
  std::vector<redis_command> cmds{{"SREM", rq_keys::workers, wk}};
  for (const auto& q : queues)
    cmds.push_back({"SREM", rq_keys::queue_workers(q), wk});
  cmds.push_back({"HSET", wk, "death", rq_now()});
  cmds.push_back({"EXPIRE", wk, "60"});
  cmds.push_back({"SREM", rq_keys::pqrt_workers, name});
  return cmds;
}

caf::error check_replies(const std::string& what, const caf::expected<redis_reply>& r) {
  if (!r) return r.error();
  if (auto err = expect_kind(what, *r, {kind::array})) return err;
  for (const auto& e : r->elements)
    if (e.is_error()) return make_error(errc::unavailable, what + ": " + e.str);
  return caf::none;
}

}  // namespace

caf::error rq_store::register_worker(const worker_identity& w) {
  auto wk = rq_keys::worker(w.name);
  auto existing = client_.pipeline(
      {{"EXISTS", rq_keys::alive(w.name)}, {"HEXISTS", wk, "death"}, {"EXISTS", wk}});
  if (!existing) return existing.error();
  if (auto err = expect_all("register worker", *existing, {kind::integer})) return err;
  if ((*existing)[0].integer == 1 && (*existing)[2].integer == 1 && (*existing)[1].integer == 0)
    return make_error(errc::invalid_argument, "a live worker named '" + w.name + "' exists");
  // A former worker of this name that crashed may still hold reserved jobs: return them first.
  auto back = client_.evalsha(rq_scripts::recover().sha, rq_scripts::recover().source,
                              {rq_keys::processing(w.name), rq_keys::alive(w.name)},
                              {w.name, rq_now(), "0", "1000000", "", "1", ""});
  if (!back) return back.error();
  if (auto err = expect_kind("register worker", *back, {kind::integer})) return err;
  auto now = rq_now();
  std::vector<redis_command> tx{{"DEL", wk},
                                {"HSET",
                                 wk,
                                 "birth",
                                 now,
                                 "last_heartbeat",
                                 now,
                                 "queues",
                                 join(w.queues),
                                 "pid",
                                 std::to_string(w.pid),
                                 "hostname",
                                 w.hostname,
                                 "ip_address",
                                 "unknown",
                                 "version",
                                 std::string{"pqrt-"} + version,
                                 "python_version",
                                 std::string{"pqrt "} + version + " (C++)",
                                 "state",
                                 "started"},
                                {"SADD", rq_keys::workers, wk}};
  for (const auto& q : w.queues)
    tx.push_back({"SADD", rq_keys::queue_workers(q), wk});
  for (const auto& q : w.queues)
    tx.push_back({"SADD", rq_keys::queues, rq_keys::queue(q)});
  tx.push_back({"EXPIRE", wk, std::to_string(liveness_.worker_ttl.count())});
  tx.push_back({"SADD", rq_keys::pqrt_workers, w.name});
  tx.push_back(
      {"SET", rq_keys::alive(w.name), "1", "PX", std::to_string(liveness_.alive_ttl.count())});
  return check_replies("register worker", client_.transaction(tx));
}

caf::expected<bool> rq_store::heartbeat(const worker_identity& w) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> args{rq_timestamp(now),
                                std::to_string(unix_seconds(now)),
                                std::to_string(liveness_.wip_ttl.count()),
                                std::to_string(liveness_.alive_ttl.count()),
                                std::to_string(liveness_.worker_ttl.count()),
                                w.name};
  args.insert(args.end(), w.queues.begin(), w.queues.end());
  auto r = client_.evalsha(
      rq_scripts::heartbeat().sha, rq_scripts::heartbeat().source,
      {rq_keys::processing(w.name), rq_keys::alive(w.name), rq_keys::worker(w.name)}, args);
  if (!r) return r.error();
  if (auto err = expect_kind("heartbeat", *r, {kind::integer})) return err;
  if (r->integer & 2)
    log::warn("rq", "this worker was taken for dead (its liveness lapsed); registered again",
              {{"worker", w.name}});
  return (r->integer & 1) == 1;
}

caf::error rq_store::set_state(const worker_identity& w, const std::string& state) {
  auto r = client_.command({"HSET", rq_keys::worker(w.name), "state", state});
  return r ? caf::none : r.error();
}

caf::error rq_store::deregister_worker(const worker_identity& w) {
  auto del = client_.command({"DEL", rq_keys::alive(w.name)});
  if (!del) return del.error();
  auto back = client_.evalsha(rq_scripts::recover().sha, rq_scripts::recover().source,
                              {rq_keys::processing(w.name), rq_keys::alive(w.name)},
                              {w.name, rq_now(), "0", "1000000", "", "0", ""});
  if (!back) return back.error();
  if (back->integer > 0)
    log::info("rq", "returned reserved jobs to their queues",
              {{"worker", w.name}, {"jobs", std::to_string(back->integer)}});
  return check_replies("deregister worker", client_.transaction(death_commands(w.name, w.queues)));
}

caf::expected<size_t> rq_store::release(const worker_identity& w,
                                        const std::vector<std::string>& ids) {
  if (ids.empty()) return size_t{0};
  std::vector<std::string> args{w.name, rq_now()};
  args.insert(args.end(), ids.begin(), ids.end());
  auto back = client_.evalsha(rq_scripts::release().sha, rq_scripts::release().source,
                              {rq_keys::processing(w.name)}, args);
  if (!back) return back.error();
  return static_cast<size_t>(std::max<int64_t>(back->integer, 0));
}

caf::expected<size_t> rq_store::recover_dead_workers() {
  auto names = client_.command({"SMEMBERS", rq_keys::pqrt_workers});
  if (!names) return names.error();
  if (auto err = expect_kind("recover dead workers", *names, {kind::array})) return err;
  std::vector<redis_command> probes;
  for (const auto& n : names->elements) {
    probes.push_back({"EXISTS", rq_keys::alive(n.str)});
    probes.push_back({"HGET", rq_keys::worker(n.str), "queues"});
  }
  auto alive = client_.pipeline(probes);
  if (!alive) return alive.error();
  size_t total = 0;
  for (size_t i = 0; i < names->elements.size(); ++i) {
    if ((*alive)[2 * i].integer == 1) continue;
    const auto& name = names->elements[i].str;
    auto text = "pqrt: the worker running this job died " + std::to_string(liveness_.max_attempts) +
                " times; giving up";
    auto exc = encode_exc_string(text);
    auto now = std::chrono::system_clock::now();
    auto r = client_.evalsha(rq_scripts::recover().sha, rq_scripts::recover().source,
                             {rq_keys::processing(name), rq_keys::alive(name)},
                             {name, rq_timestamp(now), std::to_string(unix_seconds(now)),
                              std::to_string(liveness_.max_attempts), exc, "1", text});
    if (!r) return r.error();
    if (auto err = expect_kind("recover dead workers", *r, {kind::integer})) return err;
    if (r->integer < 0) continue;  // came back to life meanwhile
    total += static_cast<size_t>(r->integer);
    log::warn("rq", "worker died; its reserved jobs are back in their queues",
              {{"worker", name}, {"jobs", std::to_string(r->integer)}});
    auto tx = client_.transaction(death_commands(name, split((*alive)[2 * i + 1].str)));
    if (auto err = check_replies("worker death", tx)) return err;
  }
  return total;
}

caf::expected<size_t> rq_store::promote_scheduled(const std::vector<std::string>& queues) {
  std::vector<redis_command> calls;
  auto now = std::chrono::system_clock::now();
  for (const auto& q : queues)
    calls.push_back(evalsha(rq_scripts::promote(), {rq_keys::scheduled(q)},
                            {rq_timestamp(now), std::to_string(unix_seconds(now)), "1000"}));
  auto replies = run_scripts(std::move(calls));
  if (!replies) return replies.error();
  if (auto err = expect_all("promote scheduled jobs", *replies, {kind::integer})) return err;
  size_t total = 0;
  for (const auto& r : *replies)
    total += static_cast<size_t>(r.integer);
  return total;
}

namespace {

class pubsub_feed final : public command_feed {
public:
  explicit pubsub_feed(redis_connection conn) : conn_(std::move(conn)) {}
  caf::expected<std::optional<std::string>> next(std::chrono::milliseconds wait) override {
    auto msg = conn_.receive(wait);
    if (!msg) return msg.error();
    // ["message", channel, payload]; subscribe confirmations and the like are not commands.
    if (*msg && (*msg)->type == redis_reply::kind::array && (*msg)->elements.size() == 3 &&
        (*msg)->elements[0].str == "message")
      return std::optional<std::string>{(*msg)->elements[2].str};
    return std::optional<std::string>{};
  }

private:
  redis_connection conn_;
};

}  // namespace

caf::expected<std::unique_ptr<command_feed>> rq_store::subscribe_commands(
    const worker_identity& w) {
  auto conn = redis_connection::connect(client_.url());
  if (!conn) return conn.error();
  auto r = conn->command({"SUBSCRIBE", rq_keys::pubsub(w.name)});
  if (!r) return r.error();
  return std::unique_ptr<command_feed>{std::make_unique<pubsub_feed>(std::move(*conn))};
}

}  // namespace pqrt::transport
