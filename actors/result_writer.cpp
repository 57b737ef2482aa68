#include "actors/result_writer.hpp"

#include <algorithm>
#include <map>
#include <thread>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "crypto/random.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"

namespace pqrt {

namespace {

constexpr size_t batch_bytes = 1 << 20;
constexpr size_t batch_results = 4096;
constexpr auto batch_delay = std::chrono::milliseconds{100};

struct batch {
  std::vector<pending_result> results;
  size_t bytes = 0;
  size_t count = 0;  // records
};

struct result_writer_state {
  worker_settings ws;
  std::shared_ptr<const pipeline_settings> settings;
  std::unique_ptr<transport::blob_store> store;
  bool container_ready = false;
  std::string instance;  // tells this actor's blobs from a restarted one's
  uint64_t seq = 0;
  std::map<std::string, batch> batches;  // by run
  bool flush_scheduled = false;
  peer status{peer_names::status_writer};
  static inline const char* name = "result_writer";
};

using result_writer_actor = caf::stateful_actor<result_writer_state>;

caf::error write_batch(result_writer_actor* self, const std::string& run, batch& b) {
  auto& st = self->state;
  if (!st.store) {
    auto store = st.settings->make_blobs();
    if (!store) return store.error();
    st.store = std::move(*store);
  }
  const auto& container = st.settings->results_container;
  if (!st.container_ready) {
    if (auto err = st.store->create_container(container)) return err;
    st.container_ready = true;
  }
  // In index order, as `pqrt results` reads a blob.
  std::vector<const pending_record*> order;
  for (const auto& r : b.results)
    for (const auto& rec : r.records)
      order.push_back(&rec);
  std::sort(order.begin(), order.end(),
            [](const pending_record* x, const pending_record* y) { return x->index < y->index; });
  std::string body;
  body.reserve(b.bytes + order.size());
  for (const auto* rec : order) {
    body += rec->sealed;
    body += '\n';
  }
  char seq[16];
  std::snprintf(seq, sizeof(seq), "%06llu", static_cast<unsigned long long>(st.seq));
  auto name = run + "/results/" + st.ws.identity.name + "-" + st.instance + "-" + seq;
  if (auto err = st.store->put(container, name, body)) return err;
  ++st.seq;
  static auto& written = prom::registry::global().get_counter(
      "pqrt_results_written_total", "Encrypted results written to storage");
  static auto& written_bytes = prom::registry::global().get_counter(
      "pqrt_result_bytes_written_total", "Bytes of encrypted results written to storage");
  written.inc(static_cast<double>(order.size()));
  written_bytes.inc(static_cast<double>(body.size()));
  std::vector<transport::job_outcome> outcomes;
  outcomes.reserve(b.results.size());
  for (auto& r : b.results) {
    r.outcome.result_ref = name;
    r.outcome.result_bytes = body.size();  // the scheduler checks the blob against it
    outcomes.push_back(std::move(r.outcome));
  }
  st.status.send(self, record_atom::value, std::move(outcomes));
  b = batch{};
  return caf::none;
}

/// Writes every batch; false when one failed (kept for the next try).
bool write_all(result_writer_actor* self) {
  bool ok = true;
  for (auto& [run, b] : self->state.batches) {
    if (b.results.empty()) continue;
    if (auto err = write_batch(self, run, b)) {
      log::warn("result_writer", "writing results failed, will retry",
                {{"run", run}, {"results", std::to_string(b.count)}, {"error", render(err)}});
      ok = false;
    }
  }
  return ok;
}

caf::behavior result_writer(result_writer_actor* self, worker_settings ws,
                            std::shared_ptr<const pipeline_settings> ps) {
  auto& st = self->state;
  st.ws = std::move(ws);
  st.settings = std::move(ps);
  st.instance = crypto::random_name(8);
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto delay = std::chrono::milliseconds{200};
    for (int attempt = 0; attempt < 10 && !write_all(self); ++attempt) {
      std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, std::chrono::milliseconds{2000});
    }
    self->quit(em.reason);
  });
  self->set_down_handler([=](caf::down_msg& dm) { self->state.status.down(dm); });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        self->state.status.wire(self, name, handle);
      },
      [=](result_atom, pending_result& r) {
        auto& st = self->state;
        auto& b = st.batches[r.run_id];
        for (const auto& rec : r.records)
          b.bytes += rec.sealed.size() + 1;
        b.count += r.records.size();
        b.results.push_back(std::move(r));  // a job's results go into one blob together
        if (b.bytes >= batch_bytes || b.count >= batch_results) {
          write_all(self);
        } else if (!st.flush_scheduled) {
          st.flush_scheduled = true;
          self->delayed_send(self, batch_delay, flush_atom::value);
        }
      },
      [=](flush_atom) {
        auto& st = self->state;
        st.flush_scheduled = false;
        if (!write_all(self)) {
          st.flush_scheduled = true;
          self->delayed_send(self, std::chrono::seconds{1}, flush_atom::value);
        }
      },
      [=](sync_atom) -> caf::ok_atom {
        write_all(self);
        return caf::ok_atom::value;
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_result_writer(caf::actor_system& sys, const worker_settings& ws,
                               std::shared_ptr<const pipeline_settings> ps, spawn_mode mode) {
  return spawn_in(sys, mode, result_writer, ws, std::move(ps));
}

}  // namespace pqrt
