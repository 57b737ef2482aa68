#include "actors/executor_pool.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <set>

#include <caf/all.hpp>

#include "actors/executor.hpp"
#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"
#include "runtime/jobs/builtins.hpp"

namespace pqrt {

namespace {

using steady = std::chrono::steady_clock;

/// The job metrics of one queue (registered once, then only atomics). What is still in flight
/// when the pool ends (a crash) leaves the in-flight gauge with it.
struct queue_metrics {
  prom::counter* started;
  prom::counter* finished;
  prom::counter* failed;
  prom::counter* records_finished;
  prom::counter* records_failed;
  prom::gauge* in_flight;
  prom::histogram* took_finished;
  prom::histogram* took_failed;
  int64_t running = 0;

  explicit queue_metrics(const std::string& queue) {
    auto& reg = prom::registry::global();
    prom::labels q{{"queue", queue}};
    started = &reg.get_counter("pqrt_jobs_started_total", "Jobs handed to an executor", q);
    finished = &reg.get_counter("pqrt_jobs_finished_total",
                                "Jobs whose processor succeeded (each attempt counts)", q);
    failed =
        &reg.get_counter("pqrt_jobs_failed_total", "Job attempts that failed (retried or not)", q);
    records_finished = &reg.get_counter("pqrt_records_finished_total",
                                        "Records whose processor succeeded (a job of many records "
                                        "counts each; each attempt counts)",
                                        q);
    records_failed = &reg.get_counter("pqrt_records_failed_total",
                                      "Record attempts that failed (retried or not)", q);
    in_flight = &reg.get_gauge("pqrt_jobs_in_flight", "Jobs running in an executor now", q);
    const char* help = "Time from handing a job to an executor to its outcome, in seconds";
    took_finished = &reg.get_histogram("pqrt_job_duration_seconds", help, prom::duration_buckets(),
                                       {{"queue", queue}, {"outcome", "finished"}});
    took_failed = &reg.get_histogram("pqrt_job_duration_seconds", help, prom::duration_buckets(),
                                     {{"queue", queue}, {"outcome", "failed"}});
  }
  ~queue_metrics() { in_flight->add(-static_cast<double>(running)); }
  queue_metrics(const queue_metrics&) = delete;
  queue_metrics& operator=(const queue_metrics&) = delete;
};

struct pool_state {
  worker_settings settings;
  peer fetcher{peer_names::rq_fetcher};
  peer writer{peer_names::status_writer};
  peer heartbeat{peer_names::heartbeat};
  peer encryptor{peer_names::result_encryptor};
  peer result_writer{peer_names::result_writer};  // watched: what it holds is ours to hand back
  std::vector<caf::actor> executors;
  std::vector<caf::actor> idle;
  std::deque<transport::rq_job> waiting;  // arrived while every executor was busy
  size_t in_flight = 0;
  // Outcomes handed on (by an executor to result_encryptor, or by the pool to status_writer) and
  // not yet recorded in Redis: if a peer on that path ends, these jobs go back to their queues.
  // With each, the results it holds (a job of many records holds many): `unwritten` in all.
  std::map<std::string, size_t> forwarded;
  size_t unwritten = 0;
  // Settled while their executor's reply was still on its way (the result path is faster than
  // that reply only in theory, but nothing orders the two): not counted as handed on then.
  std::set<std::string> settled_early;
  size_t owed_credit = 0;  // executors freed while too many results were unwritten
  // Credit granted to the current fetcher and not yet used by a job it handed over.
  size_t promised = 0;
  // The mean time a job took in an executor (an exponentially weighted average; 0 until the
  // first outcome): how far ahead of its executors the pool may reserve (prefetch_window).
  double mean_job_secs = 0;
  // The ids of the jobs in the executors, and of those still running when a drain's time ran
  // out (handed back: their outcomes are dropped).
  std::set<std::string> running;
  std::set<std::string> handed_back;
  bool quiet = false;
  bool draining = false;  // a scheduled eviction: nothing more starts
  bool drained = false;
  bool stopping = false;
  bool finishing = false;
  caf::error stop_reason;
  std::map<std::string, queue_metrics> metrics;  // by queue
  static inline const char* name = "executor_pool";
};

using pool_actor = caf::stateful_actor<pool_state>;

/// Ends the pool once nothing is in flight and every outcome is recorded.
void maybe_finish(pool_actor* self) {
  auto& st = self->state;
  if (st.in_flight > 0 || !st.forwarded.empty() || !(st.drained || st.stopping)) return;
  if (st.finishing) return;
  st.finishing = true;
  auto done = [=] {
    if (self->state.drained && !self->state.stopping) {
      self->state.heartbeat.send(self, done_atom::value);
      self->state.writer.send(self, done_atom::value);
    }
    // Links do not carry a normal exit: stop the (idle) executors explicitly.
    for (auto& exec : self->state.idle)
      self->send_exit(exec, caf::exit_reason::user_shutdown);
    self->quit(self->state.stop_reason);
  };
  st.writer.with(self, [=](const caf::actor& writer) {
    self->request(writer, caf::infinite, sync_atom::value)
        .then([=](caf::ok_atom) { done(); }, [=](caf::error&) { done(); });
  });
}

void dispatch(pool_actor* self, transport::rq_job job);
void release_unstarted(pool_actor* self, std::vector<std::string> ids);

/// Results (records) waiting for storage beyond which freed executors get no new work.
constexpr size_t max_unwritten = 8192;
/// The work a prefetch window holds: about this long for the executors to get through.
constexpr double prefetch_horizon_secs = 0.05;

/// Jobs the pool may hold reserved beyond its executors: for short jobs, enough to keep every
/// executor busy across a reserve round trip (up to `prefetch`, about 50 ms of work at the
/// recent mean job time); none for long jobs, none before the first outcome, none while quiet,
/// so that a job never waits in one worker while another could start it.
size_t prefetch_window(const pool_state& st) {
  if (st.settings.prefetch == 0 || st.mean_job_secs <= 0 || st.quiet || st.draining) return 0;
  auto ahead = static_cast<double>(st.executors.size()) * prefetch_horizon_secs / st.mean_job_secs;
  return ahead >= static_cast<double>(st.settings.prefetch) ? st.settings.prefetch
                                                            : static_cast<size_t>(ahead);
}

void grant(pool_actor* self, size_t n) {
  auto& st = self->state;
  if (st.quiet || st.stopping || n == 0) return;
  if (st.unwritten >= max_unwritten) {
    st.owed_credit += n;
    return;
  }
  st.promised += n;
  st.fetcher.send(self, credit_atom::value, n);
}

/// Credit for every slot that is neither busy, nor filled, nor promised: a free executor each,
/// plus the prefetch window.
void refill(pool_actor* self) {
  auto& st = self->state;
  auto slots = st.executors.size() + prefetch_window(st);
  auto busy = st.executors.size() - st.idle.size();
  auto used = busy + st.waiting.size() + st.promised + st.owed_credit;
  if (used < slots) grant(self, slots - used);
}

/// Outcomes recorded (or handed back): the fetcher forgets them, held-back credit flows again.
void settle(pool_actor* self, const std::vector<std::string>& ids) {
  auto& st = self->state;
  for (const auto& id : ids) {
    auto it = st.forwarded.find(id);
    if (it != st.forwarded.end()) {
      st.unwritten -= it->second;
      st.forwarded.erase(it);
    } else if (st.running.count(id) > 0) {
      st.settled_early.insert(id);
    }
  }
  st.fetcher.send(self, settled_atom::value, ids);
  if (st.unwritten < max_unwritten && st.owed_credit > 0) {
    auto owed = st.owed_credit;
    st.owed_credit = 0;
    grant(self, owed);
  }
  maybe_finish(self);
}

/// Quiet: nothing more is reserved, and what was reserved ahead of the executors goes back to
/// its queue now rather than hold the shutdown up.
void go_quiet(pool_actor* self) {
  auto& st = self->state;
  st.quiet = true;
  std::vector<std::string> ids;
  for (auto& job : st.waiting)
    ids.push_back(job.id);
  st.waiting.clear();
  release_unstarted(self, std::move(ids));
  maybe_finish(self);
}

/// At-least-once during a drain: a reserved job that never started goes back to the front of its
/// queue now (a one-shot blocking actor makes the Redis call), so another worker takes it at
/// once; whatever this misses is still in the processing list, which the heartbeat's
/// deregistration returns.
void release_unstarted(pool_actor* self, std::vector<std::string> ids) {
  if (ids.empty()) return;
  auto release = [s = self->state.settings, ids] {
    auto n = open_store(s)->release(s.identity, ids);
    if (!n)
      log::warn("executor_pool", "handing back unstarted jobs failed; deregistering returns them",
                {{"error", render(n.error())}});
    else
      log::info("executor_pool", "handed back jobs that had not started",
                {{"jobs", std::to_string(*n)}});
  };
  // Where executors run on the scheduler (the unit suites), so does this call: their store
  // does not block, and the deterministic scheduler stays the only thread.
  if (self->state.settings.executors == spawn_mode::scheduled)
    release();
  else
    self->spawn([release](caf::blocking_actor*) { release(); });
}

/// A peer on the result path ended, and with it whatever it held: every outcome handed on and not
/// recorded goes back to its queue (one recorded meanwhile is skipped), to run again.
void on_peer_down(pool_actor* self, const peer& gone, const caf::error& reason) {
  auto& st = self->state;
  if (&gone == &st.fetcher || &gone == &st.heartbeat) return;  // held until re-wired
  std::vector<std::string> ids;
  for (const auto& held : st.forwarded)
    ids.push_back(held.first);
  log::warn("executor_pool", "a peer on the result path ended; its jobs go back to their queues",
            {{"peer", gone.name()},
             {"jobs", std::to_string(ids.size())},
             {"reason", reason ? render(reason) : std::string{"normal"}}});
  release_unstarted(self, ids);
  settle(self, ids);
}

void drain(pool_actor* self, caf::timespan handback_after) {
  auto& st = self->state;
  st.quiet = st.draining = true;
  std::vector<std::string> ids;
  for (auto& job : st.waiting)
    ids.push_back(job.id);
  st.waiting.clear();
  release_unstarted(self, std::move(ids));
  log::info("executor_pool", "draining: running jobs may finish, then they are handed back",
            {{"running", std::to_string(st.running.size())},
             {"hand_back_in_ms",
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(handback_after).count())}});
  self->delayed_send(self, handback_after, handback_atom::value);
}

/// The drain's time is up: the jobs still running are asked to stop and count as handed back
/// (they stay in the processing list until the heartbeat returns them); their outcomes are
/// dropped.
void hand_back_running(pool_actor* self) {
  auto& st = self->state;
  if (!st.running.empty())
    log::warn("executor_pool", "drain deadline: handing back the jobs still running",
              {{"jobs", std::to_string(st.running.size())}});
  for (const auto& id : st.running) {
    job_control::request_stop(id);
    st.handed_back.insert(id);
  }
  st.in_flight -= st.running.size();
  st.running.clear();
  maybe_finish(self);
}

void on_outcome(pool_actor* self, caf::actor exec, executor_reply& r, queue_metrics* m,
                steady::time_point started) {
  auto& st = self->state;
  auto id = r.outcome.id;
  bool early = st.settled_early.erase(id) > 0;
  if (st.handed_back.erase(id) > 0) {  // already handed back: not recorded here
    --m->running;
    m->in_flight->dec();
    st.idle.push_back(std::move(exec));
    maybe_finish(self);
    return;
  }
  st.running.erase(id);
  auto took = std::chrono::duration<double>(steady::now() - started).count();
  took = std::max(took, 1e-6);
  st.mean_job_secs = st.mean_job_secs <= 0 ? took : 0.9 * st.mean_job_secs + 0.1 * took;
  --m->running;
  m->in_flight->dec();
  (r.outcome.ok ? m->finished : m->failed)->inc();
  (r.outcome.ok ? m->took_finished : m->took_failed)->observe(took);
  if (r.to != executor_reply::path::record) {  // the outcome travels with its results
    m->records_finished->inc(static_cast<double>(r.records));
    m->records_failed->inc(static_cast<double>(r.failed_records));
  } else if (r.outcome.chunk) {
    for (const auto& rec : r.outcome.records)
      (rec.ok ? m->records_finished : m->records_failed)->inc();
  } else {
    (r.outcome.ok ? m->records_finished : m->records_failed)->inc();
  }
  using path = executor_reply::path;
  auto to = r.to;
  if (to == path::record && !st.writer.send(self, record_atom::value, std::move(r.outcome)))
    to = path::release;
  if (to == path::release)
    release_unstarted(self, {std::move(id)});
  else if (!early && st.forwarded.emplace(std::move(id), r.records).second)
    st.unwritten += r.records;
  st.idle.push_back(std::move(exec));
  --st.in_flight;
  if (!st.waiting.empty()) {  // a job reserved ahead takes the free executor
    auto next = std::move(st.waiting.front());
    st.waiting.pop_front();
    dispatch(self, std::move(next));
  } else if (st.in_flight == 0) {
    st.heartbeat.send(self, state_atom::value, std::string{"idle"});
  }
  refill(self);
  maybe_finish(self);
}

void dispatch(pool_actor* self, transport::rq_job job) {
  auto& st = self->state;
  if (st.draining) {  // reserved before the fetcher went quiet
    release_unstarted(self, {job.id});
    return;
  }
  if (st.idle.empty()) {  // reserved ahead (the prefetch window), or a restarted fetcher's
    st.waiting.push_back(std::move(job));  // predecessor's jobs still arriving
    return;
  }
  auto exec = st.idle.back();
  st.idle.pop_back();
  if (st.in_flight++ == 0) st.heartbeat.send(self, state_atom::value, std::string{"busy"});
  auto id = job.id;
  st.running.insert(id);
  auto* m = &st.metrics.try_emplace(job.origin(), job.origin()).first->second;
  m->started->inc();
  ++m->running;
  m->in_flight->inc();
  auto started = steady::now();
  self->request(exec, caf::infinite, run_atom::value, std::move(job))
      .then([=](executor_reply& r) { on_outcome(self, exec, r, m, started); },
            [=](caf::error& err) {
              executor_reply failed;
              failed.outcome.id = id;
              failed.outcome.error_text = "pqrt: executor failed: " + render(err);
              on_outcome(self, exec, failed, m, started);
            });
}

caf::behavior executor_pool(pool_actor* self, worker_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  for (size_t i = 0; i < settings.concurrency; ++i)
    st.executors.push_back(spawn_executor(self, settings));
  st.idle = st.executors;
  self->set_exit_handler([=](caf::exit_msg& em) {
    self->state.stopping = true;
    self->state.stop_reason = em.reason;
    maybe_finish(self);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    if (auto* gone =
            down_peer({&s.fetcher, &s.writer, &s.heartbeat, &s.encryptor, &s.result_writer}, dm))
      on_peer_down(self, *gone, dm.reason);
  });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        auto& s = self->state;
        if (name == peer_names::decryptor || name == peer_names::result_encryptor) {
          for (auto& exec : s.executors)  // the executors' peers: passed on to each
            self->send(exec, wire_atom::value, name, handle);
          if (name == peer_names::decryptor) return;
        }
        wire_peers(self, {&s.fetcher, &s.writer, &s.heartbeat, &s.encryptor, &s.result_writer},
                   name, handle);
      },
      [=](job_atom, transport::rq_job& job) {
        if (self->state.promised > 0) --self->state.promised;
        dispatch(self, std::move(job));
      },
      // A (re)started fetcher: the free executors, and every job this pool holds (so the
      // fetcher can hand them back should the pool end).
      [=](hello_atom) -> caf::result<size_t, std::vector<std::string>> {
        auto& s = self->state;
        std::set<std::string> held{s.running.begin(), s.running.end()};
        for (const auto& f : s.forwarded)
          held.insert(f.first);
        for (const auto& job : s.waiting)
          held.insert(job.id);
        // What the old fetcher was promised is void; the new one starts from nothing.
        s.promised = 0;
        auto slots = s.executors.size() + prefetch_window(s);
        auto used = s.executors.size() - s.idle.size() + s.waiting.size() + s.owed_credit;
        size_t credits = s.quiet || s.stopping || used >= slots ? 0 : slots - used;
        s.promised = credits;
        return {credits, std::vector<std::string>{held.begin(), held.end()}};
      },
      [=](settled_atom, const std::vector<std::string>& ids) { settle(self, ids); },
      [=](drained_atom) {
        self->state.drained = true;
        maybe_finish(self);
      },
      [=](quiet_atom) { go_quiet(self); },
      [=](drain_atom, caf::timespan handback_after) { drain(self, handback_after); },
      [=](handback_atom) { hand_back_running(self); },
  };
}

}  // namespace

caf::actor spawn_executor_pool(caf::actor_system& sys, const worker_settings& settings) {
  return sys.spawn(executor_pool, settings);
}

}  // namespace pqrt
