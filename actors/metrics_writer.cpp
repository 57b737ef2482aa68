// metrics_writer: a round's documents to the metrics queue (JSON arrays, each message under the
// 64 KiB limit once base64-encoded) and to the --out file (JSON lines).
#include <fstream>

#include <caf/all.hpp>

#include "actors/metrics_actors.hpp"
#include "actors/metrics_protocol.hpp"
#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

// Azure queues carry text as base64: 48 KiB of text fill a 64 KiB message.
constexpr size_t message_budget = 46 * 1024;

/// The documents packed into JSON arrays under the budget (a larger document goes alone).
std::vector<std::string> pack(const std::vector<std::string>& docs) {
  std::vector<std::string> out;
  std::string body;
  for (const auto& d : docs) {
    if (!body.empty() && body.size() + d.size() + 2 > message_budget) {
      out.push_back("[" + body + "]");
      body.clear();
    }
    if (!body.empty()) body += ',';
    body += d;
  }
  if (!body.empty()) out.push_back("[" + body + "]");
  return out;
}

struct writer_state {
  std::unique_ptr<transport::queue_store> queues;
  bool queue_ready = false;
  static inline const char* name = "metrics_writer";
};

using writer_actor = caf::stateful_actor<writer_state>;

caf::error write_queue(writer_actor* self, const metrics_settings& ms,
                       const std::vector<std::string>& docs) {
  auto& st = self->state;
  if (!st.queues) {
    auto q = ms.make_queues();
    if (!q) return q.error();
    st.queues = std::move(*q);
  }
  if (!st.queue_ready) {
    if (auto err = st.queues->create_queue(ms.queue)) return err;
    st.queue_ready = true;
  }
  for (const auto& text : pack(docs))
    if (auto err = st.queues->put(ms.queue, text)) return err;
  return {};
}

caf::error write_file(const metrics_settings& ms, const std::vector<std::string>& docs) {
  std::ofstream out{ms.out_file, std::ios::app};
  for (const auto& d : docs)
    out << d << '\n';
  out.flush();
  if (!out) return make_error(errc::io_error, "cannot write " + ms.out_file);
  return {};
}

caf::behavior metrics_writer(writer_actor* self, std::shared_ptr<const metrics_settings> ms) {
  return {
      [=](write_atom, const metrics_window& w,
          const std::vector<std::string>& docs) -> caf::result<caf::ok_atom> {
        if (ms->make_queues)
          if (auto err = write_queue(self, *ms, docs))
            return make_error(static_cast<errc>(err.code()),
                              "metrics queue " + ms->queue + ": " + context_of(err));
        if (!ms->out_file.empty())
          if (auto err = write_file(*ms, docs)) return err;
        log::info("metrics_writer", "metrics written",
                  {{"round", std::to_string(w.round)},
                   {"documents", std::to_string(docs.size())},
                   {"queue", ms->make_queues ? ms->queue : std::string{"-"}},
                   {"file", ms->out_file.empty() ? std::string{"-"} : ms->out_file}});
        return caf::ok_atom::value;
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_metrics_writer(caf::actor_system& sys,
                                std::shared_ptr<const metrics_settings> settings, spawn_mode mode) {
  return spawn_in(sys, mode, metrics_writer, std::move(settings));
}

}  // namespace pqrt
