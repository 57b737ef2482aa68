#include "actors/rq_fetcher.hpp"

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

/// Most jobs reserved in one round trip.
constexpr size_t reserve_batch = 64;
/// How long one blocking wait on an empty queue lasts (bounds how long a stop waits).
constexpr auto idle_wait = std::chrono::milliseconds{1000};
constexpr auto error_pause = std::chrono::milliseconds{500};

struct fetcher_state {
  std::unique_ptr<transport::rq_store> store;
  worker_settings settings;
  size_t credits = 0;
  bool polling = false;
  bool quiet = false;
  bool reclaim_needed = false;  // a reserve failed: the server may have started jobs for us
  static inline const char* name = "rq_fetcher";
};

using fetcher_actor = caf::stateful_actor<fetcher_state>;

void hand_over(fetcher_actor* self, std::vector<transport::rq_job>& jobs) {
  auto pool = find_actor(self->system(), "pool");
  for (auto& job : jobs)
    self->send(pool, job_atom::value, std::move(job));
  self->state.credits -= jobs.size();
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
  if (st.reclaim_needed && !reclaim(self)) {
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
    self->send(find_actor(self->system(), "pool"), drained_atom::value);
    self->quit();
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
  st.store = std::make_unique<transport::rq_store>(settings.redis, settings.serializer);
  self->request(find_actor(self->system(), "pool"), caf::infinite, hello_atom::value)
      .then([=](size_t credits) { add_credits(self, credits); },
            [=](caf::error& err) { self->quit(err); });
  return {
      [=](credit_atom, size_t n) { add_credits(self, n); },
      [=](poll_atom) { poll(self); },
      [=](quiet_atom) { self->state.quiet = true; },
  };
}

}  // namespace

caf::actor spawn_rq_fetcher(caf::actor_system& sys, const worker_settings& settings) {
  return register_spawned(sys, "fetcher", sys.spawn<caf::detached>(rq_fetcher, settings));
}

}  // namespace pqrt
