#include "transport/rq_scripts.hpp"

#include "transport/detail/rq_util.hpp"

namespace pqrt::transport::rq_scripts {

namespace {

// Shared by finish and fail (RQ §8): enqueue the children whose parents are all done. True when
// children are left waiting (the dependents set is still there); a job without dependents costs
// one SMEMBERS.
constexpr const char* enqueue_dependents_lua = R"lua(
local function enqueue_dependents(id, now_ts, parent_failed)
  local dk = 'rq:job:' .. id .. ':dependents'
  local children = redis.call('SMEMBERS', dk)
  if #children == 0 then return false end  -- no set: nothing to delete or expire
  local left = 0
  for _, child in ipairs(children) do
    local ck = 'rq:job:' .. child
    local allow = redis.call('HGET', ck, 'allow_dependency_failures') == '1'
    local ready = redis.call('EXISTS', ck) == 1 and (not parent_failed or allow)
    if ready then
      for _, dep in ipairs(redis.call('SMEMBERS', 'rq:job::' .. child .. ':dependencies')) do
        local st = redis.call('HGET', 'rq:job:' .. dep, 'status')
        if dep ~= id and st ~= 'finished' and not (allow and st == 'failed') then ready = false end
      end
    end
    if ready then
      local origin = redis.call('HGET', ck, 'origin')
      redis.call('ZREM', 'rq:deferred:' .. origin, child)
      redis.call('SADD', 'rq:queues', 'rq:queue:' .. origin)
      redis.call('HSET', ck, 'status', 'queued', 'enqueued_at', now_ts)
      if redis.call('HGET', ck, 'enqueue_at_front') == '1' then
        redis.call('LPUSH', 'rq:queue:' .. origin, child)
      else
        redis.call('RPUSH', 'rq:queue:' .. origin, child)
      end
      redis.call('SREM', dk, child)
    else
      left = left + 1
    end
  end
  if left == 0 then redis.call('DEL', dk) end
  return left > 0
end
)lua";

// A started job as a reserve returns it: its id and hash; for a job of many records also
// `pqrt_ended` (ended_records: the records the worker skips).
constexpr const char* job_reply_lua = R"lua(
local function job_reply(id, jk, t)
  local fields = redis.call('HGETALL', jk)
  if t[1] and t[4] then
    fields[#fields + 1] = 'pqrt_ended'
    fields[#fields + 1] = ended_records(t[1], tonumber(t[2]), tonumber(t[4]))
  end
  return {id, fields}
end
)lua";

// Registers a reserved id as started, as RQ's prepare_job_execution does (§5.2). With
// `batch`, the worker hash's current_job is left to the caller (set once per call).
constexpr const char* start_job_lua = R"lua(
local function start_job(id, name, now_ts, now_int, wip_ttl, processing, token, batch)
  local jk = 'rq:job:' .. id
  if redis.call('HEXISTS', jk, 'data') == 0 then
    redis.call('LREM', processing, -1, id)  -- RQ drops ids without a job, silently
    return nil
  end
  local h = redis.call('HMGET', jk, 'origin', 'pqrt_run', 'pqrt_index', 'pqrt_status', 'pqrt_count')
  local origin = h[1] or 'default'
  redis.call('ZADD', 'rq:wip:' .. origin, now_int + wip_ttl, id)
  redis.call('HSET', jk, 'status', 'started', 'started_at', now_ts, 'last_heartbeat', now_ts,
             'worker_name', name, 'pqrt_token', token)
  if not batch then
    redis.call('HSET', 'rq:worker:' .. name, 'current_job', id, 'last_heartbeat', now_ts)
  end
  redis.call('PERSIST', jk)
  track(jk, 'started', now_ts, name, '', {h[2], h[3], h[4], h[5]})
  return job_reply(id, jk, {h[2], h[3], h[4], h[5]})
end
)lua";

}  // namespace

const script& enqueue() {
  static const script s = detail::make_script("enqueue", std::string{detail::track_lua} + R"lua(
-- A record's status record, queued; one written before (a record run again) starts over but
-- keeps why it runs again.
local function queue_status(sk, id, now_ts, fresh)
  local why = nil
  if fresh then
    why = redis.call('HGET', sk, 'rerun')  -- set by rerun: why this record runs again
    redis.call('DEL', sk)
  end
  redis.call('HSET', sk, 'job_id', id, 'state', 'queued', 'attempts', 0, 'queued_at', now_ts)
  if why then redis.call('HSET', sk, 'rerun', why, 'error', why) end
end
local now_ts = ARGV[1]
local i = 2
local added = 0
-- The queues' pushes, in enqueue order, made once per queue at the end (one SADD, one RPUSH and
-- one LPUSH per queue, as many ids each; the same order as one push per job).
local order, tails, heads = {}, {}, {}
while i <= #ARGV do
  local id, queue, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local jk = 'rq:job:' .. id
  local first, last = i + 3, i + 2 + n  -- the job's field/value pairs in ARGV
  local run, idx, sk, count, front = nil, nil, nil, nil, false
  for k = first, last, 2 do
    local f = ARGV[k]
    if f == 'pqrt_run' then run = ARGV[k + 1]
    elseif f == 'pqrt_index' then idx = tonumber(ARGV[k + 1])
    elseif f == 'pqrt_status' then sk = ARGV[k + 1]
    elseif f == 'pqrt_count' then count = tonumber(ARGV[k + 1])
    elseif f == 'enqueue_at_front' then front = ARGV[k + 1] == '1' end
  end
  local known = redis.call('EXISTS', jk) == 1
  local ended, again = nil, false
  if count and run and idx and sk then
    -- A job of many records: left alone while it waits, runs or waits for a retry; run again
    -- (its ended records skipped) when some of its records have not ended.
    if known then
      local status = redis.call('HGET', jk, 'status')
      known = status == 'queued' or status == 'started' or status == 'scheduled' or
              status == 'deferred'
      again = not known
    end
    if not known then
      ended = ended_records(run, idx, count)
      known = not string.find(ended, '0', 1, true)
      again = again or string.find(ended, '1', 1, true) ~= nil
    end
  elseif not known and run and idx then  -- a run's job that ended for good stays ended
    local rk = 'pqrt:run:' .. run
    known = redis.call('GETBIT', rk .. ':finished', idx) == 1 or
            redis.call('GETBIT', rk .. ':failed', idx) == 1
  end
  if not known and again then  -- an ended job of many records: out of its registries
    redis.call('ZREM', 'rq:finished:' .. queue, id)
    redis.call('ZREM', 'rq:failed:' .. queue, id)
    redis.call('PERSIST', jk)
    redis.call('HDEL', jk, 'pqrt_attempts', 'pqrt_failures', 'ended_at', 'worker_name')
  end
  if not known then
    redis.call('HSET', jk, 'status', 'queued', 'created_at', now_ts, 'enqueued_at', now_ts,
               'origin', queue, unpack(ARGV, first, last))
    if not tails[queue] then
      order[#order + 1] = queue
      tails[queue], heads[queue] = {}, {}
    end
    local ids = front and heads[queue] or tails[queue]
    ids[#ids + 1] = id
    if count and ended then  -- a status record per record that has not ended
      for k = 0, count - 1 do
        if string.sub(ended, k + 1, k + 1) == '0' then
          queue_status(sk .. (idx + k), id, now_ts, again)
          added = added + 1
        end
      end
    else
      if sk then queue_status(sk, id, now_ts, true) end
      added = added + 1
    end
  end
  i = i + 3 + n
end
for _, queue in ipairs(order) do
  redis.call('SADD', 'rq:queues', 'rq:queue:' .. queue)
  if #tails[queue] > 0 then redis.call('RPUSH', 'rq:queue:' .. queue, unpack(tails[queue])) end
  if #heads[queue] > 0 then redis.call('LPUSH', 'rq:queue:' .. queue, unpack(heads[queue])) end
end
return added
)lua");
  return s;
}

const script& reserve() {
  static const script s = detail::make_script(
      "reserve", std::string{detail::track_lua} + job_reply_lua + start_job_lua + R"lua(
if redis.call('EXISTS', 'rq:suspended') == 1 then return redis.status_reply('SUSPENDED') end
local name, now_ts, now_int = ARGV[1], ARGV[2], tonumber(ARGV[3])
local wip_ttl, max = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
for q = 2, #KEYS do
  while #out < max do
    local id = redis.call('LMOVE', KEYS[q], KEYS[1], 'LEFT', 'RIGHT')
    if not id then break end
    local job = start_job(id, name, now_ts, now_int, wip_ttl, KEYS[1], ARGV[6], true)
    if job then out[#out + 1] = job end
  end
end
if #out > 0 then  -- the worker hash names the last job started, as RQ's does
  redis.call('HSET', 'rq:worker:' .. name, 'current_job', out[#out][1], 'last_heartbeat', now_ts)
end
return out
)lua");
  return s;
}

const script& claim() {
  static const script s = detail::make_script(
      "claim", std::string{detail::track_lua} + job_reply_lua + start_job_lua + R"lua(
local job = start_job(ARGV[5], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), KEYS[1],
                      ARGV[6])
if job then return job end
return {}
)lua");
  return s;
}

const script& reclaim() {
  static const script s = detail::make_script(
      "reclaim", std::string{detail::track_lua} + job_reply_lua + start_job_lua + R"lua(
local name, now_ts, now_int, wip_ttl, token = ARGV[1], ARGV[2], tonumber(ARGV[3]),
  tonumber(ARGV[4]), ARGV[5]
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local jk = 'rq:job:' .. id
  local status = redis.call('HGET', jk, 'status')
  if status == 'started' and redis.call('HGET', jk, 'pqrt_token') == token then
    out[#out + 1] = job_reply(id, jk, redis.call('HMGET', jk, 'pqrt_run', 'pqrt_index',
                                                'pqrt_status', 'pqrt_count'))
  elseif status == 'queued' then  -- moved by a BLMOVE whose reply was lost, never claimed
    local job = start_job(id, name, now_ts, now_int, wip_ttl, KEYS[1], token)
    if job then out[#out + 1] = job end
  end
end
return out
)lua");
  return s;
}

const script& finish() {
  static const script s =
      detail::make_script("finish", std::string{detail::track_lua} + enqueue_dependents_lua + R"lua(
-- Many finished jobs of one worker in one call: ARGV = name, now, now (int), default result TTL,
-- then six per job: working seconds, has a return value, the value, id, result blob, its size.
-- Returns one integer per job: 1 recorded, 0 gone (not this worker's any more).
local name, now_ts, now_int = ARGV[1], ARGV[2], tonumber(ARGV[3])
local default_ttl = tonumber(ARGV[4])
local wk = 'rq:worker:' .. name
local recorded, working, done = 0, 0, {}
local function finish_one(k)
  local id = ARGV[k + 3]
  local jk = 'rq:job:' .. id
  -- One read for everything this needs of the job's hash.
  local h = redis.call('HMGET', jk, 'origin', 'result_ttl', 'dependency_ids', 'pqrt_run',
                       'pqrt_index', 'pqrt_status', 'dependency_id', 'pqrt_count')
  local origin = h[1]
  if not origin then redis.call('LREM', KEYS[1], -1, id) return 0 end
  if redis.call('LREM', KEYS[1], -1, id) == 0 then
    -- Recovered while we ran it (we were taken for dead). Queued again: take it back; else the
    -- worker now holding it records the outcome.
    if redis.call('HGET', jk, 'status') ~= 'queued' or
       redis.call('LREM', 'rq:queue:' .. origin, 1, id) == 0 then return 0 end
  end
  local ttl = tonumber(h[2] or '') or default_ttl
  -- RQ's ::dependencies set exists only for a job enqueued with dependencies (RQ 1.13 writes
  -- dependency_ids; older versions only the legacy dependency_id).
  local has_parents = (h[3] and h[3] ~= '' and h[3] ~= '[]') or (h[7] and h[7] ~= '')
  redis.call('ZREM', 'rq:wip:' .. origin, id)
  recorded = recorded + 1
  working = working + (tonumber(ARGV[k]) or 0)
  done[id] = true
  -- (A job of many records is recorded by finish_records; here track would record none.)
  local run = track(jk, 'finished', now_ts, name, ARGV[k + 4], {h[4], h[5], h[6], h[8]})
  if run and ARGV[k + 5] ~= '' then  -- what the run's scheduler checks storage against
    redis.call('HSET', 'pqrt:run:' .. run .. ':blobs', ARGV[k + 4], ARGV[k + 5])
  end
  if ttl == 0 then
    redis.call('DEL', jk, jk .. ':dependents', 'rq:job::' .. id .. ':dependencies')
    return 1
  end
  redis.call('HSET', jk, 'status', 'finished', 'ended_at', now_ts, 'last_heartbeat', now_ts)
  local rk = 'rq:results:' .. id
  if ARGV[k + 1] == '1' then
    redis.call('XADD', rk, 'MAXLEN', '~', 10, '*', 'type', 1, 'return_value', ARGV[k + 2])
  else
    redis.call('XADD', rk, 'MAXLEN', '~', 10, '*', 'type', 1)
  end
  local waiting_children = enqueue_dependents(id, now_ts, false)
  if ttl > 0 then
    redis.call('EXPIRE', rk, ttl)
    redis.call('ZADD', 'rq:finished:' .. origin, now_int + ttl, id)
    redis.call('EXPIRE', jk, ttl)
    if waiting_children then redis.call('EXPIRE', jk .. ':dependents', ttl) end
    if has_parents then redis.call('EXPIRE', 'rq:job::' .. id .. ':dependencies', ttl) end
  else
    redis.call('PERSIST', rk)
    redis.call('ZADD', 'rq:finished:' .. origin, '+inf', id)
  end
  return 1
end
local out = {}
for k = 5, #ARGV - 5, 6 do out[#out + 1] = finish_one(k) end
if recorded > 0 then  -- the worker's counters, once for the call, as RQ's add up per job
  redis.call('HINCRBY', wk, 'successful_job_count', recorded)
  redis.call('HINCRBYFLOAT', wk, 'total_working_time', string.format('%.6f', working))
  local current = redis.call('HGET', wk, 'current_job')
  if current and done[current] then redis.call('HDEL', wk, 'current_job') end
end
return out
)lua");
  return s;
}

const script& rerun() {
  static const script s = detail::make_script("rerun", R"lua(
local rk = 'pqrt:run:' .. ARGV[1]
local taken = 0
for i = 3, #ARGV, 5 do
  local id, idx, sk, blob, why = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3],
    ARGV[i + 4]
  if redis.call('GETBIT', rk .. ':finished', idx) == 1 and redis.call('HGET', sk, 'result') == blob
  then
    id = redis.call('HGET', sk, 'job_id') or id  -- a job of many records: the whole job
    local jk = 'rq:job:' .. id
    local origin = redis.call('HGET', jk, 'origin') or ARGV[2]
    redis.call('ZREM', 'rq:finished:' .. origin, id)
    redis.call('DEL', jk, 'rq:results:' .. id)
    redis.call('SETBIT', rk .. ':finished', idx, 0)
    redis.call('HSET', sk, 'state', 'queued', 'result', '', 'rerun', why, 'error', why)
    taken = taken + 1
  end
end
return taken
)lua");
  return s;
}

}  // namespace pqrt::transport::rq_scripts
