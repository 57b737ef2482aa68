#include "transport/redis_client.hpp"

#include <algorithm>
#include <thread>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt::transport {

namespace {

using std::chrono::milliseconds;

constexpr const char* component = "redis";

// Refused, reset, unresolved and slow servers come back; bad credentials and certificates don't.
bool is_outage(const caf::error& err) {
  return is(err, errc::unavailable) || is(err, errc::timeout);
}

}  // namespace

redis_client::redis_client(redis_url url, redis_client_options options)
    : url_(std::move(url)),
      options_(options),
      timeout_(url_.timeout),
      rng_(std::random_device{}()) {
  if (!url_.password.empty()) log::add_secret(url_.password);
}

caf::error redis_client::connect() {
  return ensure_connected();
}

caf::expected<redis_reply> redis_client::command(const redis_command& cmd) {
  return run([&](redis_connection& conn) { return conn.command(cmd); });
}

caf::expected<std::vector<redis_reply>> redis_client::pipeline(
    const std::vector<redis_command>& cmds) {
  return run([&](redis_connection& conn) { return conn.pipeline(cmds); });
}

caf::expected<redis_reply> redis_client::transaction(const std::vector<redis_command>& cmds) {
  return run([&](redis_connection& conn) { return conn.transaction(cmds); });
}

caf::expected<redis_reply> redis_client::evalsha(const std::string& sha, const std::string& script,
                                                 const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& args) {
  return run([&](redis_connection& conn) { return conn.evalsha(sha, script, keys, args); });
}

void redis_client::set_timeout(milliseconds timeout) {
  timeout_ = timeout;
  if (conn_) conn_->set_timeout(timeout);
}

template <class Call>
auto redis_client::run(Call call) -> decltype(call(std::declval<redis_connection&>())) {
  if (auto err = ensure_connected()) return err;
  auto result = call(*conn_);
  if (!result && !conn_->usable()) return broken(std::move(result.error()));
  return result;
}

// A connection the server closed while idle (restart, idle timeout) is replaced before a
// request goes out, so that such a request is never lost on the way.
caf::error redis_client::ensure_connected() {
  if (conn_ && conn_->idle_and_open()) return {};
  if (conn_) log::debug(component, "connection closed while idle", {{"server", url_.describe()}});
  conn_.reset();
  for (;;) {
    auto err = try_connect();
    if (!err) {
      end_outage();
      return {};
    }
    if (!is_outage(err)) return err;
    begin_outage(err);
    ++attempts_;
    auto waited = clock::now() - *outage_start_;
    if (waited >= options_.give_up_after) return give_up(err);
    std::this_thread::sleep_for(
        std::min<clock::duration>(backoff(), options_.give_up_after - waited));
  }
}

caf::error redis_client::give_up(const caf::error& last) const {
  return make_error(errc::unavailable, "gave up on " + url_.describe() + " after " +
                                           std::to_string(options_.give_up_after.count()) +
                                           " ms without a connection (" +
                                           std::to_string(attempts_) +
                                           " attempts); last error: " + render(last));
}

// Within an outage, an attempt may not outlast what is left of `give_up_after`.
caf::error redis_client::try_connect() {
  auto url = url_;
  if (outage_start_) {
    auto left =
        options_.give_up_after - std::chrono::ceil<milliseconds>(clock::now() - *outage_start_);
    url.timeout = std::clamp(left, milliseconds{1}, url_.timeout);
  }
  auto conn = redis_connection::connect(url);
  if (!conn) return std::move(conn.error());
  conn->set_timeout(timeout_);
  conn_.emplace(std::move(*conn));
  return {};
}

void redis_client::begin_outage(const caf::error& cause) {
  if (outage_start_) return;
  outage_start_ = clock::now();
  attempts_ = 0;
  log::warn(component, "redis server unreachable, reconnecting",
            {{"server", url_.describe()}, {"error", render(cause)}});
}

void redis_client::end_outage() {
  if (!outage_start_) return;
  auto lasted = std::chrono::duration_cast<milliseconds>(clock::now() - *outage_start_);
  log::info(component, "redis server reachable again",
            {{"server", url_.describe()},
             {"outage_ms", std::to_string(lasted.count())},
             {"attempts", std::to_string(attempts_)}});
  outage_start_.reset();
  attempts_ = 0;
}

// The broken connection is dropped; the next call reconnects. A lost connection starts an
// outage; a timeout does not (the server answered too slowly, it did not go away).
caf::error redis_client::broken(caf::error err) {
  conn_.reset();
  if (!is(err, errc::unavailable)) return err;
  begin_outage(err);
  return make_error(errc::unavailable, context_of(err) +
                                           "; the call was not acknowledged and may or may not "
                                           "have run");
}

milliseconds redis_client::backoff() {
  auto shift = std::min(std::max(attempts_ - 1, 0), 16);
  auto ceiling = std::min(options_.backoff_cap, options_.backoff_base * (int64_t{1} << shift));
  std::uniform_int_distribution<int64_t> pick{0, ceiling.count()};
  return milliseconds{pick(rng_)};
}

}  // namespace pqrt::transport
