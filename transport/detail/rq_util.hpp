#pragma once

/// Small helpers shared by the rq_store and rq_scripts translation units.

#include <initializer_list>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "runtime/base/error.hpp"
#include "transport/redis_connection.hpp"
#include "transport/redis_reply.hpp"
#include "transport/rq_scripts.hpp"

namespace pqrt::transport::detail {

/// An EVALSHA command for script `s`.
inline redis_command evalsha(const rq_scripts::script& s, const std::vector<std::string>& keys,
                             std::vector<std::string> args) {
  redis_command cmd{"EVALSHA", s.sha, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  for (auto& a : args)
    cmd.push_back(std::move(a));
  return cmd;
}

/// `protocol_error` naming `what` when `reply` is not one of `kinds`: a server that answers with
/// a reply of another kind (an integer where a script returns an array) does not speak this
/// protocol, and its answer must never be read as an empty queue or a zero count.
inline caf::error expect_kind(const std::string& what, const redis_reply& reply,
                              std::initializer_list<redis_reply::kind> kinds) {
  auto why = wrong_kind(reply, kinds);
  if (why.empty()) return caf::none;
  return make_error(errc::protocol_error, what + ": " + why);
}

/// `expect_kind` for every reply of a pipeline.
inline caf::error expect_all(const std::string& what, const std::vector<redis_reply>& replies,
                             std::initializer_list<redis_reply::kind> kinds) {
  for (const auto& r : replies)
    if (auto err = expect_kind(what, r, kinds)) return err;
  return caf::none;
}

/// The strings of an array reply (HGETALL, XRANGE fields).
inline std::vector<std::string> flat_strings(const redis_reply& reply) {
  std::vector<std::string> out;
  out.reserve(reply.elements.size());
  for (const auto& e : reply.elements)
    out.push_back(e.str);
  return out;
}

/// pqrt's run tracking, shared by the scripts: a job enqueued by a pqrt scheduler carries
/// `pqrt_run`, `pqrt_index` and `pqrt_status` (the key of its status record, a hash: job_id, state,
/// attempts, worker, queued_at, started_at, ended_at, error, result, and rerun: why a finished
/// record was taken back to run again). `track` moves the record
/// along and, when the job ends for good, sets its bit in the run's finished or failed bitmap.
/// Jobs without `pqrt_run` (plain RQ jobs) are left alone. Returns the job's run (nil for those).
/// `t`, when given, is the job's `pqrt_run`, `pqrt_index`, `pqrt_status` and `pqrt_count` already
/// read.
///
/// A job of many records (`pqrt_count` of them from `pqrt_index` on) has a status record per
/// record, at `pqrt_status` (then a prefix) followed by the record's index. The finish_records
/// script records each; `track` counts the job's starts (`pqrt_starts`, each record's attempts)
/// and, when the job fails for good as a whole (a worker that keeps dying, a job that does not
/// decode), fails every record of it that has not ended. `ended_records` tells which have: a
/// string of '1' (finished or failed for good) and '0', one per record.
constexpr const char* track_lua = R"lua(
local function ended_records(run, first, n)
  local rk = 'pqrt:run:' .. run
  local lo = math.floor(first / 8)
  local fin = redis.call('GETRANGE', rk .. ':finished', lo, math.floor((first + n - 1) / 8))
  local fail = redis.call('GETRANGE', rk .. ':failed', lo, math.floor((first + n - 1) / 8))
  local out = {}
  for k = 0, n - 1 do
    local i = first + k
    local at = math.floor(i / 8) - lo + 1
    local mask = bit.lshift(1, 7 - (i % 8))  -- bit 0 is the most significant of byte 0
    local b = bit.bor(string.byte(fin, at) or 0, string.byte(fail, at) or 0)
    out[k + 1] = bit.band(b, mask) ~= 0 and '1' or '0'
  end
  return table.concat(out)
end
local function track_records(jk, state, now_ts, text, t)
  if state == 'started' then
    redis.call('HINCRBY', jk, 'pqrt_starts', 1)
  elseif state == 'failed' then
    local first, n = tonumber(t[2]), tonumber(t[4])
    local ended = ended_records(t[1], first, n)
    local rk = 'pqrt:run:' .. t[1]
    local attempts = redis.call('HGET', jk, 'pqrt_starts') or '0'
    for k = 0, n - 1 do
      if string.sub(ended, k + 1, k + 1) == '0' then
        redis.call('HSET', t[3] .. (first + k), 'state', 'failed', 'ended_at', now_ts, 'error', text,
                   'attempts', attempts)
        redis.call('SETBIT', rk .. ':failed', first + k, 1)
      end
    end
  end  -- queued again, scheduled: each record keeps its state until the job's next outcome
  return t[1]
end
local function track(jk, state, now_ts, worker, text, t)
  t = t or redis.call('HMGET', jk, 'pqrt_run', 'pqrt_index', 'pqrt_status', 'pqrt_count')
  if not t[1] or not t[3] then return end
  if t[4] then return track_records(jk, state, now_ts, text, t) end
  local sk, idx = t[3], tonumber(t[2])
  local rk = 'pqrt:run:' .. t[1]
  if state == 'started' then
    redis.call('HSET', sk, 'state', 'started', 'started_at', now_ts, 'worker', worker)
    redis.call('HINCRBY', sk, 'attempts', 1)
  elseif state == 'finished' then
    redis.call('HSET', sk, 'state', 'finished', 'ended_at', now_ts, 'worker', worker,
               'result', text, 'error', '')
    redis.call('SETBIT', rk .. ':failed', idx, 0)
    redis.call('SETBIT', rk .. ':finished', idx, 1)
  elseif state == 'failed' then
    redis.call('HSET', sk, 'state', 'failed', 'ended_at', now_ts, 'error', text)
    redis.call('SETBIT', rk .. ':finished', idx, 0)
    redis.call('SETBIT', rk .. ':failed', idx, 1)
  else  -- queued again (retry, recovery) or scheduled for a retry
    redis.call('HSET', sk, 'state', state, 'error', text)
  end
  return t[1]
end
)lua";

/// A script with its SHA1.
inline rq_scripts::script make_script(std::string name, std::string source) {
  auto sha = script_sha(source);
  return {std::move(name), std::move(source), std::move(sha)};
}

}  // namespace pqrt::transport::detail
