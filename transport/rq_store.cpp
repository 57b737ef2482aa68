#include "transport/rq_store.hpp"

#include <future>
#include <map>

#include "runtime/base/error.hpp"
#include "transport/detail/rq_util.hpp"
#include "transport/rq_keys.hpp"
#include "transport/rq_scripts.hpp"
#include "transport/rq_time.hpp"

namespace pqrt::transport {

using detail::evalsha;
using detail::expect_kind;
using detail::flat_strings;
using kind = redis_reply::kind;

namespace {

/// Jobs per enqueue script call: big enough for few round trips, small enough to keep Redis
/// responsive while one runs.
constexpr size_t enqueue_chunk = 500;

/// Error text kept in a run's status record (RQ's own record keeps all of it).
constexpr size_t max_status_error = 2000;

const std::map<std::string, const rq_scripts::script*>& scripts_by_sha() {
  static const std::map<std::string, const rq_scripts::script*> table = [] {
    std::map<std::string, const rq_scripts::script*> t;
    for (const auto* s :
         {&rq_scripts::enqueue(), &rq_scripts::reserve(), &rq_scripts::claim(),
          &rq_scripts::reclaim(), &rq_scripts::finish(), &rq_scripts::finish_records(),
          &rq_scripts::fail(), &rq_scripts::recover(), &rq_scripts::heartbeat(),
          &rq_scripts::promote(), &rq_scripts::rerun()})
      t.emplace(s->sha, s);
    return t;
  }();
  return table;
}

caf::error reply_error(const std::string& what, const redis_reply& reply) {
  return make_error(errc::unavailable, what + ": " + reply.str);
}

std::string fmt_secs(double secs) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6f", secs);
  return buf;
}

}  // namespace

rq_store::rq_store(redis_url url, rq_serializer serializer, redis_client_options options)
    : client_(std::move(url), options), serializer_(serializer) {
  // nop
}

caf::error rq_store::connect() {
  return client_.connect();
}

caf::expected<std::vector<redis_reply>> rq_store::run_scripts(std::vector<redis_command> calls) {
  if (!scripts_loaded_) {  // else a fresh server answers NOSCRIPT and every payload goes twice
    std::vector<redis_command> loads;
    for (const auto& [sha, script] : scripts_by_sha())
      loads.push_back({"SCRIPT", "LOAD", script->source});
    if (client_.pipeline(loads)) scripts_loaded_ = true;
  }
  auto replies = client_.pipeline(calls);
  if (!replies) return replies.error();
  // A restarted or flushed server forgot the scripts: EVAL (which also loads) what said NOSCRIPT.
  std::vector<size_t> retry;
  std::vector<redis_command> evals;
  for (size_t i = 0; i < replies->size(); ++i) {
    if (!(*replies)[i].is_error_code("NOSCRIPT")) continue;
    auto cmd = calls[i];
    cmd[0] = "EVAL";
    cmd[1] = scripts_by_sha().at(cmd[1])->source;
    retry.push_back(i);
    evals.push_back(std::move(cmd));
  }
  if (evals.empty()) return replies;
  auto again = client_.pipeline(evals);
  if (!again) return again.error();
  for (size_t k = 0; k < retry.size(); ++k)
    (*replies)[retry[k]] = std::move((*again)[k]);
  return replies;
}

caf::expected<size_t> rq_store::enqueue(std::vector<job_spec> jobs) {
  // Checked up front, so that a bad spec sends nothing (the rest of a spec's encoding cannot
  // fail on what a job_spec holds).
  for (const auto& spec : jobs)
    if (auto err = check_job_spec(spec)) return err;
  auto now = rq_now();
  // The script calls for jobs [from, to).
  auto build = [this, &jobs, &now](size_t from,
                                   size_t to) -> caf::expected<std::vector<redis_command>> {
    std::vector<redis_command> calls;
    for (size_t start = from; start < to; start += enqueue_chunk) {
      std::vector<std::string> args{now};
      for (size_t i = start; i < std::min(to, start + enqueue_chunk); ++i) {
        auto& spec = jobs[i];
        if (spec.id.empty()) spec.id = make_job_id();
        auto fields = job_fields(spec, serializer_);
        if (!fields) return fields.error();
        args.push_back(spec.id);
        args.push_back(spec.queue);
        args.push_back(std::to_string(fields->size()));
        for (auto& f : *fields)
          args.push_back(std::move(f));
      }
      calls.push_back(evalsha(rq_scripts::enqueue(), {}, std::move(args)));
    }
    return calls;
  };
  // Large batches go in windows: while Redis runs one window's scripts, the next is encoded on a
  // second thread, so the two costs (about equal per job) overlap instead of adding up.
  constexpr size_t window = 20 * enqueue_chunk;
  size_t added = 0;
  std::future<caf::expected<std::vector<redis_command>>> next;
  if (jobs.size() > window) next = std::async(std::launch::async, build, 0, window);
  for (size_t from = 0; from < jobs.size(); from += window) {
    auto to = std::min(jobs.size(), from + window);
    auto calls = next.valid() ? next.get() : build(from, to);
    if (!calls) return calls.error();
    if (to < jobs.size())
      next = std::async(std::launch::async, build, to, std::min(jobs.size(), to + window));
    auto replies = run_scripts(std::move(*calls));
    if (!replies) return replies.error();  // `next` is waited for as it goes
    for (const auto& r : *replies) {
      if (r.is_error()) return reply_error("enqueue", r);
      if (auto err = expect_kind("enqueue", r, {kind::integer})) return err;
      added += static_cast<size_t>(r.integer);
    }
  }
  return added;
}

caf::expected<std::vector<rq_job>> rq_store::parse_reserved(const redis_reply& reply) {
  if (reply.is_error()) return reply_error("reserve", reply);
  if (auto err = expect_kind("reserve", reply, {kind::array})) return err;
  std::vector<rq_job> jobs;
  for (const auto& entry : reply.elements) {
    if (!entry.is_array() || entry.elements.size() != 2 || !entry.elements[0].is_string() ||
        !entry.elements[1].is_array())
      return make_error(errc::protocol_error, "reserve: an entry is not [id, fields]");
    jobs.push_back(make_rq_job(entry.elements[0].str, flat_strings(entry.elements[1])));
  }
  return jobs;
}

caf::expected<std::vector<rq_job>> rq_store::reserve(const worker_identity& w, size_t max,
                                                     bool& suspended) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> keys{rq_keys::processing(w.name)};
  for (const auto& q : w.queues)
    keys.push_back(rq_keys::queue(q));
  auto replies = run_scripts(
      {evalsha(rq_scripts::reserve(), keys,
               {w.name, rq_timestamp(now), std::to_string(unix_seconds(now)),
                std::to_string(liveness_.wip_ttl.count()), std::to_string(max), next_token(w)})});
  if (!replies) return replies.error();
  const auto& reply = replies->front();
  suspended = reply.type == redis_reply::kind::status && reply.str == "SUSPENDED";
  if (suspended) return std::vector<rq_job>{};
  return parse_reserved(reply);
}

caf::expected<std::optional<rq_job>> rq_store::wait_and_reserve(const worker_identity& w,
                                                                std::chrono::milliseconds wait) {
  auto base = client_.url().timeout;
  client_.set_timeout(base + wait);
  next_token(w);  // a BLMOVE whose reply is lost leaves an unclaimed id: reclaim finds it
  auto moved =
      client_.command({"BLMOVE", rq_keys::queue(w.queues.front()), rq_keys::processing(w.name),
                       "LEFT", "RIGHT", fmt_secs(static_cast<double>(wait.count()) / 1000.0)});
  client_.set_timeout(base);
  if (!moved) return moved.error();
  if (auto err = expect_kind("reserve (BLMOVE)", *moved, {kind::nil, kind::string})) return err;
  if (moved->is_nil()) return std::optional<rq_job>{};
  auto now = std::chrono::system_clock::now();
  auto replies =
      run_scripts({evalsha(rq_scripts::claim(), {rq_keys::processing(w.name)},
                           {w.name, rq_timestamp(now), std::to_string(unix_seconds(now)),
                            std::to_string(liveness_.wip_ttl.count()), moved->str, token_})});
  if (!replies) return replies.error();
  const auto& reply = replies->front();
  if (reply.is_error()) return reply_error("claim", reply);
  if (auto err = expect_kind("claim", reply, {kind::nil, kind::array})) return err;
  if (reply.elements.size() != 2) return std::optional<rq_job>{};
  return std::optional<rq_job>{make_rq_job(reply.elements[0].str, flat_strings(reply.elements[1]))};
}

std::string rq_store::next_token(const worker_identity& w) {
  token_ = w.name + "#" + std::to_string(++token_count_);
  return token_;
}

caf::expected<std::vector<rq_job>> rq_store::reclaim(const worker_identity& w) {
  auto now = std::chrono::system_clock::now();
  auto replies = run_scripts({evalsha(rq_scripts::reclaim(), {rq_keys::processing(w.name)},
                                      {w.name, rq_timestamp(now), std::to_string(unix_seconds(now)),
                                       std::to_string(liveness_.wip_ttl.count()), token_})});
  if (!replies) return replies.error();
  return parse_reserved(replies->front());
}

namespace {

/// What a job of many records failed with, for RQ's exc_string and its status: how many records
/// failed, and the first few of them with their errors.
std::string chunk_failure_text(const job_outcome& o) {
  constexpr size_t named = 5;
  size_t failed = 0;
  std::string first;
  for (const auto& r : o.records) {
    if (r.ok) continue;
    if (++failed <= named)
      first += "; record " + std::to_string(r.index) + ": " + r.error_text.substr(0, 300);
  }
  if (failed == 0) return o.error_text;
  return "pqrt: " + std::to_string(failed) + " of " + std::to_string(o.records.size()) +
         " records failed" + first;
}

}  // namespace

caf::error rq_store::record(const worker_identity& w, const std::vector<job_outcome>& outcomes,
                            std::vector<std::string>* states) {
  auto now = std::chrono::system_clock::now();
  auto ts = rq_timestamp(now);
  auto now_int = std::to_string(unix_seconds(now));
  auto processing = rq_keys::processing(w.name);
  // Finished jobs go in batches, one finish script per run of consecutive ones (at most
  // `finish_batch`); each failure is a fail script of its own. `slots[i]` is outcome i's call and
  // its place in that call's reply.
  constexpr size_t finish_batch = 256;
  std::vector<redis_command> calls;
  std::vector<std::pair<size_t, size_t>> slots;
  slots.reserve(outcomes.size());
  std::vector<std::string> batch;
  size_t in_batch = 0;
  auto close_batch = [&] {
    if (in_batch == 0) return;
    calls.push_back(evalsha(rq_scripts::finish(), {processing}, std::move(batch)));
    batch.clear();
    in_batch = 0;
  };
  // Jobs of many records: one finish_records call per run of consecutive ones (at most
  // `records_batch` records).
  constexpr size_t records_batch = 4096;
  std::vector<std::string> chunks;
  size_t chunk_jobs = 0, chunk_records = 0;
  auto close_chunks = [&] {
    if (chunk_jobs == 0) return;
    calls.push_back(evalsha(rq_scripts::finish_records(), {processing}, std::move(chunks)));
    chunks.clear();
    chunk_jobs = chunk_records = 0;
  };
  for (const auto& o : outcomes) {
    if (o.chunk) {
      close_batch();
      if (chunk_jobs > 0 && chunk_records + o.records.size() > records_batch) close_chunks();
      if (chunk_jobs == 0) chunks = {w.name, ts, now_int, "500"};
      slots.emplace_back(calls.size(), chunk_jobs++);
      chunk_records += o.records.size();
      auto text = chunk_failure_text(o);
      chunks.insert(chunks.end(),
                    {o.id, fmt_secs(o.working_secs), o.result_ref,
                     o.result_ref.empty() ? "" : std::to_string(o.result_bytes),
                     std::to_string(o.retry_delay), encode_exc_string(text),
                     text.substr(0, max_status_error), std::to_string(o.records.size())});
      for (const auto& r : o.records)
        chunks.insert(chunks.end(), {std::to_string(r.index),
                                     r.ok      ? "f"
                                     : r.retry ? "r"
                                               : "x",
                                     r.error_text.substr(0, max_status_error)});
      continue;
    }
    close_chunks();
    if (o.ok) {
      auto rv = encode_return_value(o.result, serializer_);
      if (!rv) return rv.error();
      if (in_batch == finish_batch) close_batch();
      if (in_batch == 0) batch = {w.name, ts, now_int, "500"};
      slots.emplace_back(calls.size(), in_batch++);
      batch.insert(batch.end(),
                   {fmt_secs(o.working_secs), rv->has_value() ? "1" : "0", rv->value_or(""), o.id,
                    o.result_ref, o.result_ref.empty() ? "" : std::to_string(o.result_bytes)});
    } else {
      close_batch();
      slots.emplace_back(calls.size(), 0);
      calls.push_back(evalsha(
          rq_scripts::fail(), {processing},
          {w.name, ts, now_int, o.stopped ? "stopped" : "failed", encode_exc_string(o.error_text),
           fmt_secs(o.working_secs), std::to_string(o.stopped ? -1 : o.retry_delay), o.id,
           o.error_text.substr(0, max_status_error)}));
    }
  }
  close_batch();
  close_chunks();
  auto n_calls = calls.size();
  auto replies = run_scripts(std::move(calls));
  if (!replies) return replies.error();
  if (replies->size() != n_calls)
    return make_error(errc::protocol_error, "record outcome: not one reply per call");
  if (states) states->clear();
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const auto& r = (*replies)[slots[i].first];
    if (r.is_error()) return reply_error("record outcome", r);
    if (outcomes[i].chunk) {
      if (auto err = expect_kind("record outcome", r, {kind::array})) return err;
      if (slots[i].second >= r.elements.size())
        return make_error(errc::protocol_error, "record outcome: a batch answered too few jobs");
      const auto& one = r.elements[slots[i].second];
      if (auto err = expect_kind("record outcome", one, {kind::string, kind::status})) return err;
      if (states) states->push_back(one.str);
    } else if (outcomes[i].ok) {
      if (auto err = expect_kind("record outcome", r, {kind::array})) return err;
      if (slots[i].second >= r.elements.size())
        return make_error(errc::protocol_error, "record outcome: a batch answered too few jobs");
      const auto& one = r.elements[slots[i].second];
      if (auto err = expect_kind("record outcome", one, {kind::integer})) return err;
      if (states) states->push_back(one.integer == 1 ? "finished" : "gone");
    } else {
      if (auto err = expect_kind("record outcome", r, {kind::string})) return err;
      if (states) states->push_back(r.str == "failed" && outcomes[i].stopped ? "stopped" : r.str);
    }
  }
  return caf::none;
}

}  // namespace pqrt::transport
