// The failure side of the RQ scripts: fail (with retries), recover, heartbeat, promote.
#include "transport/detail/rq_util.hpp"
#include "transport/rq_scripts.hpp"

namespace pqrt::transport::rq_scripts {

namespace {

// RQ §5.5: the failed registry, a year of TTL by default, a type-2 entry in the results stream.
constexpr const char* fail_job_lua = R"lua(
local function fail_job(id, origin, status, now_ts, now_int, exc, text)
  local jk = 'rq:job:' .. id
  track(jk, 'failed', now_ts, '', text)
  local explicit = redis.call('HGET', jk, 'failure_ttl')
  local ttl = tonumber(explicit or '') or 31536000
  redis.call('ZREM', 'rq:wip:' .. origin, id)
  redis.call('HSET', jk, 'status', status, 'ended_at', now_ts)
  local rk = 'rq:results:' .. id
  redis.call('XADD', rk, 'MAXLEN', '~', 10, '*', 'type', 2, 'exc_string', exc)
  if ttl == -1 then
    redis.call('ZADD', 'rq:failed:' .. origin, -1, id)
  else
    redis.call('EXPIRE', jk, ttl)
    redis.call('EXPIRE', jk .. ':dependents', ttl)
    redis.call('EXPIRE', 'rq:job::' .. id .. ':dependencies', ttl)
    redis.call('ZADD', 'rq:failed:' .. origin, now_int + ttl, id)
    if explicit then redis.call('EXPIRE', rk, ttl) end
  end
end

-- RQ §5.5 retry: retries_left counts down; delay 0 requeues at the tail, else the scheduled
-- registry holds it until its time.
local function retry_job(id, origin, now_ts, now_int, delay, text)
  local jk = 'rq:job:' .. id
  redis.call('ZREM', 'rq:wip:' .. origin, id)
  redis.call('HINCRBY', jk, 'retries_left', -1)
  redis.call('HINCRBY', jk, 'pqrt_failures', 1)  -- drives pqrt's exponential backoff
  if delay <= 0 then
    redis.call('SADD', 'rq:queues', 'rq:queue:' .. origin)
    redis.call('HSET', jk, 'status', 'queued', 'enqueued_at', now_ts, 'started_at', '',
               'worker_name', '')
    redis.call('RPUSH', 'rq:queue:' .. origin, id)
    track(jk, 'queued', now_ts, '', text)
    return 'retried'
  end
  track(jk, 'scheduled', now_ts, '', text)
  redis.call('HSET', jk, 'status', 'scheduled', 'started_at', '', 'worker_name', '')
  redis.call('ZADD', 'rq:scheduled:' .. origin, now_int + delay, id)
  return 'scheduled'
end
)lua";

// A reserved job back at the front of its queue, as if never started (no attempt counted).
constexpr const char* return_job_lua = R"lua(
local function return_job(id, origin, now_ts, name)
  local jk = 'rq:job:' .. id
  redis.call('ZREM', 'rq:wip:' .. origin, id)
  redis.call('SADD', 'rq:queues', 'rq:queue:' .. origin)
  redis.call('HSET', jk, 'status', 'queued', 'started_at', '', 'worker_name', '')
  redis.call('LPUSH', 'rq:queue:' .. origin, id)
  track(jk, 'queued', now_ts, '', 'returned to its queue: worker ' .. name .. ' stopped or died')
end
)lua";

}  // namespace

const script& fail() {
  static const script s =
      detail::make_script("fail", std::string{detail::track_lua} + fail_job_lua + R"lua(
local name, now_ts, now_int, status = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local delay, id = tonumber(ARGV[7]), ARGV[8]
local jk = 'rq:job:' .. id
local origin = redis.call('HGET', jk, 'origin')
if redis.call('LREM', KEYS[1], -1, id) == 0 or not origin then return 'gone' end
local wk = 'rq:worker:' .. name
redis.call('HINCRBY', wk, 'failed_job_count', 1)
redis.call('HINCRBYFLOAT', wk, 'total_working_time', ARGV[6])
if redis.call('HGET', wk, 'current_job') == id then redis.call('HDEL', wk, 'current_job') end
local left = tonumber(redis.call('HGET', jk, 'retries_left') or '') or 0
if status == 'failed' and left > 0 and delay >= 0 then
  return retry_job(id, origin, now_ts, now_int, delay, ARGV[9] or '')
end
fail_job(id, origin, status, now_ts, now_int, ARGV[5], ARGV[9] or '')
return 'failed'
)lua");
  return s;
}

const script& recover() {
  static const script s = detail::make_script(
      "recover", std::string{detail::track_lua} + fail_job_lua + return_job_lua + R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local name, now_ts, now_int = ARGV[1], ARGV[2], tonumber(ARGV[3])
local max_attempts, exc, count = tonumber(ARGV[4]), ARGV[5], ARGV[6] == '1'
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
local returned = 0
for i = #ids, 1, -1 do  -- back to front: the oldest ends up first in its queue again
  local id = ids[i]
  local jk = 'rq:job:' .. id
  local origin = redis.call('HGET', jk, 'origin')
  local status = redis.call('HGET', jk, 'status')
  if origin and status == 'queued' then
    -- Moved by a BLMOVE the worker died before claiming: it never started, so no attempt
    -- counts; dropped with the list it would be in no queue and no registry, lost.
    return_job(id, origin, now_ts, name)
    returned = returned + 1
  elseif origin and status == 'started' then
    local attempts = 0
    if count then attempts = redis.call('HINCRBY', jk, 'pqrt_attempts', 1) end
    if attempts >= max_attempts then
      fail_job(id, origin, 'failed', now_ts, now_int, exc, ARGV[7] or '')
    else
      return_job(id, origin, now_ts, name)
      returned = returned + 1
    end
  end
end
redis.call('DEL', KEYS[1])
return returned
)lua");
  return s;
}

const script& release() {
  static const script s =
      detail::make_script("release", std::string{detail::track_lua} + return_job_lua + R"lua(
local name, now_ts = ARGV[1], ARGV[2]
local returned = 0
for i = #ARGV, 3, -1 do  -- back to front: the first id ends up first in its queue
  local id = ARGV[i]
  local jk = 'rq:job:' .. id
  local origin = redis.call('HGET', jk, 'origin')
  if redis.call('LREM', KEYS[1], 0, id) > 0 and origin and
      redis.call('HGET', jk, 'status') == 'started' then
    return_job(id, origin, now_ts, name)
    returned = returned + 1
  end
end
return returned
)lua");
  return s;
}

const script& heartbeat() {
  static const script s = detail::make_script("heartbeat", R"lua(
local now_ts, now_int, wip_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
-- Taken for dead during a lapse (a stall, a long Redis outage): its jobs went back to their
-- queues; it is alive, so it joins the worker sets again, as a fresh registration would.
local lapsed = 0
if ARGV[6] and redis.call('SISMEMBER', 'pqrt:workers', ARGV[6]) == 0 then
  lapsed = 2
  redis.call('SADD', 'pqrt:workers', ARGV[6])
  redis.call('SADD', 'rq:workers', KEYS[3])
  for q = 7, #ARGV do redis.call('SADD', 'rq:workers:' .. ARGV[q], KEYS[3]) end
  redis.call('HDEL', KEYS[3], 'death')
end
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('HSET', KEYS[3], 'last_heartbeat', now_ts)
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local jk = 'rq:job:' .. id
  local origin = redis.call('HGET', jk, 'origin')
  if origin then
    redis.call('ZADD', 'rq:wip:' .. origin, 'XX', now_int + wip_ttl, id)
    redis.call('HSET', jk, 'last_heartbeat', now_ts)
  end
end
return redis.call('EXISTS', 'rq:suspended') + lapsed
)lua");
  return s;
}

const script& promote() {
  static const script s = detail::make_script("promote", R"lua(
local now_ts, now_int, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], 0, now_int, 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local jk = 'rq:job:' .. id
  local origin = redis.call('HGET', jk, 'origin')
  if origin then
    redis.call('SADD', 'rq:queues', 'rq:queue:' .. origin)
    redis.call('HSET', jk, 'status', 'queued', 'enqueued_at', now_ts)
    redis.call('RPUSH', 'rq:queue:' .. origin, id)
  end
end
return #ids
)lua");
  return s;
}

}  // namespace pqrt::transport::rq_scripts
