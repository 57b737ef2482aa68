#include "transport/redis_connection.hpp"

#include <openssl/sha.h>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "transport/detail/resp.hpp"
#include "transport/detail/stream.hpp"

namespace pqrt::transport {

namespace {

constexpr size_t read_chunk = 64 * 1024;

std::string server_name(const redis_url& url) {
  return "redis " + url.endpoint();
}

// What the server said at connect, turned into the error a person can act on.
caf::error handshake_error(const redis_url& url, const redis_command& cmd,
                           const redis_reply& reply) {
  auto who = server_name(url);
  if (cmd[0] == "AUTH") {
    auto as = url.user.empty() ? std::string{} : " (user " + url.user + ")";
    return make_error(errc::auth_failed, who + ": AUTH refused" + as + ": " + reply.str);
  }
  if (reply.is_error_code("NOAUTH"))
    return make_error(errc::auth_failed,
                      who + ": the server requires a password, the URL has none (NOAUTH)");
  return make_error(errc::redis_error, who + ": " + cmd[0] + " at connect: " + reply.str);
}

std::vector<redis_command> handshake_commands(const redis_url& url) {
  std::vector<redis_command> cmds;
  if (!url.password.empty() && url.user.empty()) cmds.push_back({"AUTH", url.password});
  if (!url.password.empty() && !url.user.empty()) cmds.push_back({"AUTH", url.user, url.password});
  if (url.db != 0) cmds.push_back({"SELECT", std::to_string(url.db)});
  // PING proves that a RESP server answers (and that no password is missing) before the
  // connection is handed out.
  cmds.push_back({"PING"});
  return cmds;
}

}  // namespace

std::string script_sha(const std::string& script) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(script.data()), script.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 0xf];
  }
  return out;
}

redis_connection::redis_connection(redis_url url, std::unique_ptr<detail::stream> stream)
    : url_(std::move(url)),
      timeout_(url_.timeout),
      stream_(std::move(stream)),
      reader_(std::make_unique<detail::reply_reader>()),
      buffer_(read_chunk) {
  // nop
}

redis_connection::~redis_connection() = default;
redis_connection::redis_connection(redis_connection&&) noexcept = default;
redis_connection& redis_connection::operator=(redis_connection&&) noexcept = default;

caf::expected<redis_connection> redis_connection::connect(const redis_url& url) {
  if (!url.password.empty()) log::add_secret(url.password);
  auto until = detail::clock::now() + url.timeout;
  auto stream = detail::open_stream(url, until);
  if (!stream) return std::move(stream.error());
  redis_connection conn{url, std::move(*stream)};
  auto cmds = handshake_commands(url);
  auto replies = conn.exchange(cmds, until);
  if (!replies) return std::move(replies.error());
  for (size_t i = 0; i < cmds.size(); ++i)
    if ((*replies)[i].is_error()) return handshake_error(url, cmds[i], (*replies)[i]);
  return conn;
}

caf::expected<redis_reply> redis_connection::command(const redis_command& cmd) {
  auto replies = pipeline({cmd});
  if (!replies) return std::move(replies.error());
  return as_result(cmd, std::move(replies->front()));
}

caf::expected<std::vector<redis_reply>> redis_connection::pipeline(
    const std::vector<redis_command>& cmds) {
  return exchange(cmds, detail::clock::now() + timeout_);
}

caf::expected<redis_reply> redis_connection::transaction(const std::vector<redis_command>& cmds) {
  std::vector<redis_command> all;
  all.reserve(cmds.size() + 2);
  all.push_back({"MULTI"});
  all.insert(all.end(), cmds.begin(), cmds.end());
  all.push_back({"EXEC"});
  auto replies = pipeline(all);
  if (!replies) return std::move(replies.error());
  auto& exec = replies->back();
  if (!exec.is_error()) return std::move(exec);
  // EXECABORT says only that something was rejected; the queued reply says what and why.
  for (size_t i = 0; i + 1 < all.size(); ++i)
    if ((*replies)[i].is_error()) return as_result(all[i], std::move((*replies)[i]));
  return as_result(all.back(), std::move(exec));
}

caf::expected<redis_reply> redis_connection::evalsha(const std::string& sha,
                                                     const std::string& script,
                                                     const std::vector<std::string>& keys,
                                                     const std::vector<std::string>& args) {
  redis_command cmd{"EVALSHA", sha, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  auto replies = pipeline({cmd});
  if (!replies) return std::move(replies.error());
  if (!replies->front().is_error_code("NOSCRIPT")) return as_result(cmd, replies->front());
  cmd[0] = "EVAL";
  cmd[1] = script;
  return command(cmd);
}

bool redis_connection::idle_and_open() {
  return stream_ != nullptr && stream_->idle_and_open();
}

caf::expected<std::vector<redis_reply>> redis_connection::exchange(
    const std::vector<redis_command>& cmds, deadline until) {
  if (!stream_)
    return make_error(errc::unavailable, server_name(url_) + ": connection already closed");
  if (cmds.empty()) return std::vector<redis_reply>{};
  for (const auto& cmd : cmds)
    if (cmd.empty()) return make_error(errc::invalid_argument, "redis: an empty command");
  std::string out;
  for (const auto& cmd : cmds)
    detail::append_command(out, cmd);
  if (auto err = stream_->write_all(out, until)) return fail(std::move(err));
  return read_replies(cmds.size(), until);
}

caf::expected<std::vector<redis_reply>> redis_connection::read_replies(size_t count,
                                                                       deadline until) {
  std::vector<redis_reply> replies;
  replies.reserve(count);
  while (replies.size() < count) {
    auto next = reader_->next();
    if (!next) return fail(std::move(next.error()));
    if (*next) {
      replies.push_back(std::move(**next));
      continue;
    }
    auto got = stream_->read_some(buffer_.data(), buffer_.size(), until);
    if (!got) return fail(std::move(got.error()));
    reader_->feed(buffer_.data(), *got);
  }
  return replies;
}

caf::expected<std::optional<redis_reply>> redis_connection::receive(
    std::chrono::milliseconds wait) {
  if (!stream_) return make_error(errc::unavailable, url_.describe() + ": not connected");
  auto until = detail::clock::now() + wait;
  for (;;) {
    auto next = reader_->next();
    if (!next) return fail(std::move(next.error()));
    if (*next) return std::optional<redis_reply>{std::move(**next)};
    auto got = stream_->read_some(buffer_.data(), buffer_.size(), until);
    if (!got && is(got.error(), errc::timeout)) return std::optional<redis_reply>{};
    if (!got) return fail(std::move(got.error()));
    reader_->feed(buffer_.data(), *got);
  }
}

// Any failure mid-exchange leaves unread replies or half a request behind: the connection is
// closed so that no later call can read another call's reply.
caf::error redis_connection::fail(caf::error err) {
  stream_.reset();
  reader_ = std::make_unique<detail::reply_reader>();
  if (!is(err, errc::timeout)) return err;
  return make_error(errc::timeout,
                    context_of(err) + " (timeout " + std::to_string(timeout_.count()) + " ms)");
}

caf::expected<redis_reply> redis_connection::as_result(const redis_command& cmd,
                                                       redis_reply reply) const {
  if (!reply.is_error()) return reply;
  return make_error(errc::redis_error, server_name(url_) + ": " + cmd[0] + ": " + reply.str);
}

}  // namespace pqrt::transport
