#include "actors/rq_enqueuer.hpp"

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"
#include "transport/rq_time.hpp"

namespace pqrt {

namespace {

struct rq_enqueuer_state {
  std::shared_ptr<const pipeline_settings> settings;
  std::unique_ptr<transport::job_store> store;
  peer writer{peer_names::status_writer};
  static inline const char* name = "rq_enqueuer";
};

using rq_enqueuer_actor = caf::stateful_actor<rq_enqueuer_state>;

caf::behavior rq_enqueuer(rq_enqueuer_actor* self, worker_settings ws,
                          std::shared_ptr<const pipeline_settings> ps) {
  auto& st = self->state;
  st.settings = std::move(ps);
  st.store = open_store(ws);
  self->set_down_handler([=](caf::down_msg& dm) { self->state.writer.down(dm); });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        self->state.writer.wire(self, name, handle);
      },
      // The run described; the reply is its records per job (the value of its first scheduler).
      [=](hello_atom, const std::string& dataset,
          const std::string& key_check) -> caf::result<uint64_t> {
        auto& st = self->state;
        const auto& ps = *st.settings;
        auto info = st.store->run_info(ps.run_id);
        if (!info) return info.error();
        std::vector<std::pair<std::string, std::string>> fields{
            {"dataset", dataset},     {"queue", ps.queue},    {"processor", ps.processor},
            {"key_check", key_check}, {"data", ps.data_blob}, {"results", ps.results_container}};
        uint64_t per_job = ps.records_per_job;
        if (info->count("created_at") == 0) {
          fields.emplace_back("created_at", transport::rq_now());
          fields.emplace_back("state", "enqueuing");
          fields.emplace_back("records_per_job", std::to_string(per_job));
        } else if (info->at("dataset") != dataset) {
          return make_error(errc::invalid_argument, "run " + ps.run_id + " exists for data set '" +
                                                        info->at("dataset") + "', not '" + dataset +
                                                        "': choose another run id");
        } else {
          // The run's jobs exist as its first scheduler cut them (a run from before
          // records_per_job has one record per job): the same cut finds them again.
          per_job = 1;
          if (auto it = info->find("records_per_job"); it != info->end()) {
            try {
              per_job = std::max<uint64_t>(1, std::stoull(it->second));
            } catch (const std::exception&) {
              return make_error(errc::bad_format, "run " + ps.run_id + ": records_per_job '" +
                                                      it->second + "' is not a number");
            }
          }
          if (per_job != ps.records_per_job)
            log::info("rq_enqueuer", "the run keeps the records per job it was enqueued with",
                      {{"run", ps.run_id},
                       {"records_per_job", std::to_string(per_job)},
                       {"configured", std::to_string(ps.records_per_job)}});
        }
        if (auto err = st.store->set_run_info(ps.run_id, fields)) return err;
        return per_job;
      },
      [=](jobs_atom, std::vector<transport::job_spec>& jobs) -> caf::result<size_t> {
        auto added = self->state.store->enqueue(std::move(jobs));
        if (!added) return added.error();
        prom::registry::global()
            .get_counter("pqrt_jobs_enqueued_total",
                         "Records this scheduler enqueued (existing or ended ones not counted)",
                         {{"queue", self->state.settings->queue}})
            .inc(static_cast<double>(*added));
        return *added;
      },
      [=](done_atom, uint64_t total, uint64_t added) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        auto info = st.store->run_info(st.settings->run_id);
        if (!info) return info.error();
        std::vector<std::pair<std::string, std::string>> fields{{"total", std::to_string(total)}};
        if (info->count("enqueued_at") == 0)
          fields.emplace_back("enqueued_at", transport::rq_now());
        if (info->count("state") == 0 || info->at("state") == "enqueuing")
          fields.emplace_back("state", "running");
        if (auto err = st.store->set_run_info(st.settings->run_id, fields)) return err;
        auto json = json::object{}
                        .field("event", "jobs_queued")
                        .field("run", st.settings->run_id)
                        .field("total", total)
                        .field("new", added)
                        .field("at", transport::rq_now())
                        .str();
        st.writer.send(self, event_atom::value, std::move(json));
        return caf::ok_atom::value;
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_rq_enqueuer(caf::actor_system& sys, const worker_settings& ws,
                             std::shared_ptr<const pipeline_settings> ps, spawn_mode mode) {
  return spawn_in(sys, mode, rq_enqueuer, ws, std::move(ps));
}

}  // namespace pqrt
