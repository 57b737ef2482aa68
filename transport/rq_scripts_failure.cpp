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

const script& finish_records() {
  static const script s =
      detail::make_script("finish_records", std::string{detail::track_lua} + fail_job_lua + R"lua(
-- Jobs of many records, one worker's, in one call. ARGV = name, now, now (int), default result
-- TTL; then per job: id, working seconds, result blob, its size, retry delay (-1: never), exc
-- string, status text, the number of records n, and n times: index, code, text. A record's code
-- is f (finished: its result is in the blob), x (failed for good) or r (failed, worth a retry).
-- Each record's status record and bit are written here. The job then ends as RQ's: finished, or
-- failed (some record failed for good, or to retry with no retries left), or back for a retry
-- with its ended records recorded. Returns one status per job, or 'gone' (not this worker's).
local name, now_ts, now_int = ARGV[1], ARGV[2], tonumber(ARGV[3])
local default_ttl = tonumber(ARGV[4])
local wk = 'rq:worker:' .. name
local finished_jobs, failed_jobs, working, done = 0, 0, 0, {}
-- BITFIELD SET u1 in slices (a Lua call takes a bounded number of arguments).
local function set_bits(key, idxs, value)
  for start = 1, #idxs, 200 do
    local args = {}
    for j = start, math.min(#idxs, start + 199) do
      args[#args + 1] = 'SET'
      args[#args + 1] = 'u1'
      args[#args + 1] = idxs[j]
      args[#args + 1] = value
    end
    redis.call('BITFIELD', key, unpack(args))
  end
end
local function finish_chunk(k, n)
  local id, secs, blob, size = ARGV[k], ARGV[k + 1], ARGV[k + 2], ARGV[k + 3]
  local delay, exc, text = tonumber(ARGV[k + 4]), ARGV[k + 5], ARGV[k + 6]
  local jk = 'rq:job:' .. id
  local h = redis.call('HMGET', jk, 'origin', 'result_ttl', 'pqrt_run', 'pqrt_status',
                       'retries_left', 'pqrt_starts')
  local origin = h[1]
  if not origin then redis.call('LREM', KEYS[1], -1, id) return 'gone' end
  if redis.call('LREM', KEYS[1], -1, id) == 0 then
    -- Recovered while we ran it (we were taken for dead). Queued again: take it back; else the
    -- worker now holding it records the outcome.
    if redis.call('HGET', jk, 'status') ~= 'queued' or
       redis.call('LREM', 'rq:queue:' .. origin, 1, id) == 0 then return 'gone' end
  end
  working = working + (tonumber(secs) or 0)
  done[id] = true
  local rk, prefix = 'pqrt:run:' .. h[3], h[4]
  local attempts = h[6] or '1'
  local retry = (tonumber(h[5] or '') or 0) > 0 and delay >= 0
  local fin, failed, some_failed, some_retry = {}, {}, false, false
  for j = 0, n - 1 do
    local r = k + 8 + 3 * j
    local idx, code, why = tonumber(ARGV[r]), ARGV[r + 1], ARGV[r + 2]
    local sk = prefix .. idx
    if code == 'f' then
      redis.call('HSET', sk, 'job_id', id, 'state', 'finished', 'ended_at', now_ts, 'worker',
                 name, 'result', blob, 'error', '', 'attempts', attempts, 'job_secs', secs or '')
      fin[#fin + 1] = idx
    elseif code == 'r' and retry then
      redis.call('HSET', sk, 'state', delay > 0 and 'scheduled' or 'queued', 'error', why,
                 'attempts', attempts)
      some_retry = true
    else
      redis.call('HSET', sk, 'job_id', id, 'state', 'failed', 'ended_at', now_ts, 'error', why,
                 'attempts', attempts, 'worker', name, 'job_secs', secs or '')
      failed[#failed + 1] = idx
      some_failed = true
    end
  end
  set_bits(rk .. ':failed', fin, 0)
  set_bits(rk .. ':finished', fin, 1)
  set_bits(rk .. ':finished', failed, 0)
  set_bits(rk .. ':failed', failed, 1)
  if #fin > 0 and size ~= '' then  -- what the run's scheduler checks storage against
    redis.call('HSET', rk .. ':blobs', blob, size)
  end
  if some_retry then
    failed_jobs = failed_jobs + 1
    return retry_job(id, origin, now_ts, now_int, delay, text)
  end
  if some_failed then
    failed_jobs = failed_jobs + 1
    fail_job(id, origin, 'failed', now_ts, now_int, exc, text)  -- every record has ended
    return 'failed'
  end
  finished_jobs = finished_jobs + 1
  redis.call('ZREM', 'rq:wip:' .. origin, id)
  local ttl = tonumber(h[2] or '') or default_ttl
  if ttl == 0 then
    redis.call('DEL', jk)
    return 'finished'
  end
  redis.call('HSET', jk, 'status', 'finished', 'ended_at', now_ts, 'last_heartbeat', now_ts)
  local rk2 = 'rq:results:' .. id
  redis.call('XADD', rk2, 'MAXLEN', '~', 10, '*', 'type', 1)
  if ttl > 0 then
    redis.call('EXPIRE', rk2, ttl)
    redis.call('ZADD', 'rq:finished:' .. origin, now_int + ttl, id)
    redis.call('EXPIRE', jk, ttl)
  else
    redis.call('PERSIST', rk2)
    redis.call('ZADD', 'rq:finished:' .. origin, '+inf', id)
  end
  return 'finished'
end
local out = {}
local k = 5
while k + 7 <= #ARGV do
  local n = tonumber(ARGV[k + 7])
  out[#out + 1] = finish_chunk(k, n)
  k = k + 8 + 3 * n
end
if finished_jobs > 0 then redis.call('HINCRBY', wk, 'successful_job_count', finished_jobs) end
if failed_jobs > 0 then redis.call('HINCRBY', wk, 'failed_job_count', failed_jobs) end
if finished_jobs + failed_jobs > 0 then
  redis.call('HINCRBYFLOAT', wk, 'total_working_time', string.format('%.6f', working))
  local current = redis.call('HGET', wk, 'current_job')
  if current and done[current] then redis.call('HDEL', wk, 'current_job') end
end
return out
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
