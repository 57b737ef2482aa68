// The metrics role: the fleet's CPU, disk and network from Azure Monitor (no VM extension), and
// pqrt's own figures from Redis, written to the metrics queue (or --out). `--once` runs one round
// and exits (0, or 1 naming the resource group and the cause); `--interval D` runs a round every
// D until SIGTERM, a failed round being logged and tried again at the next. Tree, in start order:
// metrics_writer, metrics_fetcher, resource_lister, and the clock that starts the rounds.
#include <mutex>

#include <caf/all.hpp>

#include "actors/metrics_actors.hpp"
#include "actors/metrics_protocol.hpp"
#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/roles/roles.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/stores.hpp"

namespace pqrt {

namespace {

using tick_clock_atom = caf::atom_constant<caf::atom("mtick")>;

/// What a --once run reports at the end.
struct metrics_outcome {
  std::mutex mutex;
  std::string error;
  uint64_t rounds_ok = 0;
};

struct clock_state {
  uint64_t round = 0;
  bool busy = false;
  peer lister{peer_names::resource_lister};
  peer supervisor{peer_names::supervisor};
  static inline const char* name = "metrics_clock";
};

using clock_actor = caf::stateful_actor<clock_state>;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The window of a round: whole minutes (Monitor's grain) ending at the last full minute,
/// covering the interval (at least one minute).
metrics_window window_for(uint64_t round, caf::timespan interval) {
  constexpr int64_t minute = 60'000;
  auto end = now_ms() / minute * minute;
  auto span = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count();
  auto minutes = std::max<int64_t>(1, (span + minute - 1) / minute);
  return {round, end - minutes * minute, end};
}

caf::behavior metrics_clock(clock_actor* self, std::shared_ptr<metrics_outcome> outcome,
                            std::string resource_group, bool once, caf::timespan interval) {
  self->set_down_handler([=](caf::down_msg& dm) {
    down_peer({&self->state.lister, &self->state.supervisor}, dm);
  });
  // The first round starts once the lister is wired.
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        auto& st = self->state;
        if (wire_peers(self, {&st.lister, &st.supervisor}, name, handle) && st.round == 0 &&
            st.lister.wired() && st.supervisor.wired() && !st.busy)
          self->send(self, tick_clock_atom::value);
      },
      [=](tick_clock_atom) {
        auto& st = self->state;
        if (st.busy) return;
        st.busy = true;
        auto started = std::chrono::steady_clock::now();
        auto w = window_for(++st.round, interval);
        auto next = [=] {
          self->state.busy = false;
          if (once) {
            self->state.supervisor.send(self, shutdown_atom::value,
                                        caf::timespan{std::chrono::seconds{30}});
            return;
          }
          auto spent = std::chrono::steady_clock::now() - started;
          auto wait = interval > spent ? interval - spent : caf::timespan{0};
          self->delayed_send(self, wait, tick_clock_atom::value);
        };
        const auto& lister = self->state.lister.handle();
        if (!lister) {
          log::warn("metrics", "resource_lister is restarting; round skipped");
          return next();
        }
        self->request(lister, caf::infinite, round_atom::value, w)
            .then(
                [=](caf::ok_atom) {
                  std::lock_guard<std::mutex> guard{outcome->mutex};
                  ++outcome->rounds_ok;
                  outcome->error.clear();
                  next();
                },
                [=](caf::error& err) {
                  auto text = "metrics round " + std::to_string(w.round) + " for resource group " +
                              resource_group + " failed: " + render(err);
                  if (once) {
                    std::lock_guard<std::mutex> guard{outcome->mutex};
                    outcome->error = text;
                  } else {
                    log::error("metrics", text + "; trying again next round");
                  }
                  next();
                });
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

int run_metrics(const config::settings& cfg, const role_options& opt, caf::timespan grace) {
  auto fail_config = [](const caf::error& err) {
    log::error("metrics", render(err));
    return exit_config;
  };
  if (cfg.subscription_id.empty())
    return fail_config(make_error(errc::config_invalid, "subscription_id: required for metrics"));
  if (cfg.metrics_vm_resource_group.empty())
    return fail_config(
        make_error(errc::config_invalid, "metrics_vm_resource_group: required for metrics"));
  auto credential = azure_credential(cfg);
  if (!credential) return fail_config(credential.error());
  azure::arm_options arm;
  arm.endpoint = cfg.arm_endpoint;
  arm.credential = *credential;
  arm.http = azure_http_options(cfg);
  auto client = azure::arm_client::make(std::move(arm));
  if (!client) return fail_config(client.error());
  auto ms = std::make_shared<metrics_settings>();
  ms->subscription = cfg.subscription_id;
  ms->resource_group = cfg.metrics_vm_resource_group;
  ms->arm = *client;
  if (auto url = redis_url_from(cfg)) ms->redis = *url;
  ms->queue = cfg.metrics_queue_name;
  ms->out_file = opt.out;
  if (opt.out.empty()) {
    if (auto queues = make_queue_store(cfg); !queues) return fail_config(queues.error());
    ms->make_queues = [cfg] { return make_queue_store(cfg); };
  }
  std::shared_ptr<const metrics_settings> settings = ms;
  auto outcome = std::make_shared<metrics_outcome>();
  log::info("metrics", "starting",
            {{"resource_group", cfg.metrics_vm_resource_group},
             {"mode", opt.once ? "once" : "interval"},
             {"interval_ms",
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(opt.interval).count())},
             {"output", opt.out.empty() ? "queue " + cfg.metrics_queue_name : opt.out}});
  std::vector<child_spec> children{
      {"metrics_writer", restart_policy::permanent,
       [settings](caf::actor_system& s) { return spawn_metrics_writer(s, settings); }},
      {"metrics_fetcher",
       restart_policy::permanent,
       [settings](caf::actor_system& s) { return spawn_metrics_fetcher(s, settings); },
       {peer_names::metrics_writer}},
      {"resource_lister",
       restart_policy::permanent,
       [settings](caf::actor_system& s) { return spawn_resource_lister(s, settings); },
       {peer_names::metrics_fetcher}},
      {"metrics_clock",
       restart_policy::transient,
       [outcome, rg = cfg.metrics_vm_resource_group, once = opt.once, interval = opt.interval](
           caf::actor_system& s) { return s.spawn(metrics_clock, outcome, rg, once, interval); },
       {peer_names::resource_lister, peer_names::supervisor}},
  };
  auto code = run_role_tree(cfg, "metrics", std::move(children), grace);
  std::lock_guard<std::mutex> guard{outcome->mutex};
  if (code == exit_ok && !outcome->error.empty()) {
    log::error("metrics", outcome->error);
    return exit_failure;
  }
  if (code == exit_ok && opt.once && outcome->rounds_ok == 0) {
    log::error("metrics", "stopped before the round ended");
    return exit_failure;
  }
  return code;
}

}  // namespace pqrt
