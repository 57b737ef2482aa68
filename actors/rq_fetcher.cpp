#include "actors/rq_fetcher.hpp"

#include <set>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

/// Most jobs reserved in one round trip.
constexpr size_t reserve_batch = 64;
/// How long one blocking wait on an empty queue lasts (bounds how long a stop waits).
constexpr auto idle_wait = std::chrono::milliseconds{200};
constexpr auto error_pause = std::chrono::milliseconds{500};

struct fetcher_state {
  std::unique_ptr<transport::job_store> store;
  worker_settings settings;
  peer pool{peer_names::executor_pool};
  /// Jobs handed to the pool whose outcome is not recorded yet: what goes back to Redis when the
  /// pool ends without settling them.
  std::set<std::string> handed;
  /// Jobs to give back to their queues (the pool ended); retried while Redis is away.
  std::vector<std::string> to_release;
  size_t credits = 0;
  bool polling = false;
  bool quiet = false;
  bool reclaim_needed = false;  // a reserve failed: the server may have started jobs for us
  static inline const char* name = "rq_fetcher";
};

using fetcher_actor = caf::stateful_actor<fetcher_state>;

void hand_over(fetcher_actor* self, std::vector<transport::rq_job>& jobs) {
  auto& st = self->state;
  for (auto& job : jobs) {
    auto id = job.id;
    if (st.pool.send(self, job_atom::value, std::move(job)))
      st.handed.insert(std::move(id));
    else
      st.to_release.push_back(std::move(id));
  }
  st.credits -= std::min(st.credits, jobs.size());
}

/// Gives back what the pool held when it ended: each job that is still this worker's goes to the
/// front of its queue, not counted as an attempt (one whose outcome was recorded meanwhile is
/// skipped). False while Redis is away (the next poll tries again).
bool release_pending(fetcher_actor* self) {
  auto& st = self->state;
  if (st.to_release.empty()) return true;
  auto n = st.store->release(st.settings.identity, st.to_release);
  if (!n) {
    log::warn("rq_fetcher", "handing back the jobs of an ended pool failed; retrying",
              {{"jobs", std::to_string(st.to_release.size())}, {"error", render(n.error())}});
    return false;
  }
  log::info("rq_fetcher", "handed back the jobs an ended pool held",
            {{"jobs", std::to_string(st.to_release.size())}, {"returned", std::to_string(*n)}});
  st.to_release.clear();
  return true;
}

void on_pool_down(fetcher_actor* self, const caf::error& reason) {
  auto& st = self->state;
  log::warn("rq_fetcher", "executor_pool ended; its jobs go back to their queues",
            {{"jobs", std::to_string(st.handed.size())},
             {"reason", reason ? render(reason) : std::string{"normal"}}});
  st.to_release.insert(st.to_release.end(), st.handed.begin(), st.handed.end());
  st.handed.clear();
  st.credits = 0;  // the ended pool's credit is void; its successor grants its own
  release_pending(self);
}

/// Blocks up to `idle_wait` for one job on the first queue.
void wait_for_job(fetcher_actor* self) {
  auto& st = self->state;
  auto job = st.store->wait_and_reserve(st.settings.identity, idle_wait);
  if (!job) {
    log::warn("rq_fetcher", "waiting for jobs failed", {{"error", render(job.error())}});
    st.reclaim_needed = true;
    self->delayed_send(self, error_pause, poll_atom::value);
    return;
  }
  if (job->has_value()) {
    std::vector<transport::rq_job> one{std::move(**job)};
    hand_over(self, one);
  }
  self->send(self, poll_atom::value);
}

/// Takes over what a failed reserve may have started; false while Redis is still away.
bool reclaim(fetcher_actor* self) {
  auto& st = self->state;
  auto jobs = st.store->reclaim(st.settings.identity);
  if (!jobs) return false;
  if (!jobs->empty())
    log::info("rq_fetcher", "took over jobs a lost reply had reserved",
              {{"jobs", std::to_string(jobs->size())}});
  hand_over(self, *jobs);
  st.reclaim_needed = false;
  return true;
}

void poll(fetcher_actor* self) {
  auto& st = self->state;
  if ((st.reclaim_needed && !reclaim(self)) || !release_pending(self)) {
    self->delayed_send(self, error_pause, poll_atom::value);
    return;
  }
  if (st.quiet || st.credits == 0) {
    st.polling = false;
    return;
  }
  bool suspended = false;
  auto jobs =
      st.store->reserve(st.settings.identity, std::min(st.credits, reserve_batch), suspended);
  if (!jobs) {
    log::warn("rq_fetcher", "reserving jobs failed", {{"error", render(jobs.error())}});
    st.reclaim_needed = true;
    self->delayed_send(self, error_pause, poll_atom::value);
  } else if (suspended) {
    self->delayed_send(self, idle_wait, poll_atom::value);
  } else if (!jobs->empty()) {
    hand_over(self, *jobs);
    self->send(self, poll_atom::value);
  } else if (st.settings.burst) {
    log::info("rq_fetcher", "queues empty, burst done");
    st.quiet = true;
    st.polling = false;
    // Ends once the pool has it (held while the pool restarts).
    st.pool.with(self, [=](const caf::actor& pool) {
      self->send(pool, drained_atom::value);
      self->quit();
    });
  } else {
    wait_for_job(self);
  }
}

void add_credits(fetcher_actor* self, size_t n) {
  auto& st = self->state;
  st.credits += n;
  if (!st.polling && st.credits > 0) {
    st.polling = true;
    self->send(self, poll_atom::value);
  }
}

caf::behavior rq_fetcher(fetcher_actor* self, worker_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  st.store = open_store(settings, transport::redis_client_options{});
  self->set_down_handler([=](caf::down_msg& dm) {
    if (self->state.pool.down(dm)) on_pool_down(self, dm.reason);
  });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        if (!self->state.pool.wire(self, name, handle) || !handle) return;
        // A (new) pool: it grants its free executors and names the jobs it already holds (handed
        // over by this fetcher's predecessor), so they are handed back should it end.
        self->request(handle, caf::infinite, hello_atom::value)
            .then(
                [=](size_t credits, std::vector<std::string>& held) {
                  self->state.handed.insert(held.begin(), held.end());
                  add_credits(self, credits);
                },
                [=](caf::error&) {});  // it ended meanwhile: its down message says so
      },
      [=](credit_atom, size_t n) { add_credits(self, n); },
      [=](settled_atom, const std::vector<std::string>& ids) {
        for (const auto& id : ids)
          self->state.handed.erase(id);
      },
      [=](poll_atom) { poll(self); },
      [=](quiet_atom) { self->state.quiet = true; },
  };
}

}  // namespace

caf::actor spawn_rq_fetcher(caf::actor_system& sys, const worker_settings& settings,
                            spawn_mode mode) {
  return spawn_in(sys, mode, rq_fetcher, settings);
}

}  // namespace pqrt
