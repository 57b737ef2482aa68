#include "actors/job_parser.hpp"

#include <deque>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/jobs/record_job.hpp"

namespace pqrt {

namespace {

constexpr size_t max_batches_in_flight = 2;

struct job_parser_state {
  std::shared_ptr<const pipeline_settings> settings;
  std::string key_check;
  std::string dataset;
  bool header_seen = false;
  std::string carry;              // a partial line at the end of the last chunk
  std::deque<std::string> lines;  // complete lines not yet in a batch
  bool chunk_requested = false;
  bool eof = false;
  uint64_t next_index = 0;
  size_t in_flight = 0;
  uint64_t added = 0;
  bool finishing = false;
  peer fetcher{peer_names::blob_fetcher};
  peer decryptor{peer_names::decryptor};
  peer enqueuer{peer_names::rq_enqueuer};
  peer supervisor{peer_names::supervisor};
  static inline const char* name = "job_parser";
};

using job_parser_actor = caf::stateful_actor<job_parser_state>;

/// Runs `ask` with the peer's handle once it is wired (held while it restarts).
template <class F>
void with_peer(job_parser_actor* self, peer& to, F ask) {
  if (!to.with(self, std::move(ask)))
    self->quit(make_error(errc::unavailable, std::string{"too much held for "} + to.name()));
}

// The scheduler reports `why` once, as the run's outcome, when the tree has stopped.
void fail_run(job_parser_actor* self, const std::string& why) {
  log::info("job_parser", "stopping: the run cannot go on");
  abort_run(self, self->state.supervisor, *self->state.settings, why);
  self->quit();
}

transport::job_spec make_spec(job_parser_actor* self, uint64_t index, std::string line) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  transport::job_spec spec;
  spec.id = record_job_id(ps.run_id, index);
  spec.queue = ps.queue;
  spec.call = make_record_call({ps.run_id, st.dataset, index, std::move(line), ps.processor});
  spec.description = record_job_func + "(" + ps.run_id + ", " + std::to_string(index) + ")";
  spec.timeout = ps.script_timeout.count();
  spec.result_ttl = 86400;
  spec.retries = ps.max_attempts - 1;
  spec.extra_fields = {{"pqrt_run", ps.run_id},
                       {"pqrt_index", std::to_string(index)},
                       {"pqrt_status", ps.status_prefix + spec.id}};
  return spec;
}

void pump(job_parser_actor* self);
void on_chunk(job_parser_actor* self, std::string chunk);

/// Asks blob_fetcher for the next chunk of the data file (one request at a time).
void request_chunk(job_parser_actor* self) {
  self->state.chunk_requested = true;
  with_peer(self, self->state.fetcher, [=](const caf::actor& fetcher) {
    self->request(fetcher, caf::infinite, next_atom::value)
        .then([=](std::string& chunk) { on_chunk(self, std::move(chunk)); },
              [=](caf::error& err) { self->quit(err); });
  });
}

void send_batch(job_parser_actor* self) {
  auto& st = self->state;
  std::vector<transport::job_spec> batch;
  while (!st.lines.empty() && batch.size() < parser_batch) {
    batch.push_back(make_spec(self, st.next_index++, std::move(st.lines.front())));
    st.lines.pop_front();
  }
  ++st.in_flight;
  with_peer(self, st.enqueuer, [=, batch = std::move(batch)](const caf::actor& enqueuer) mutable {
    self->request(enqueuer, caf::infinite, jobs_atom::value, std::move(batch))
        .then(
            [=](size_t added) {
              --self->state.in_flight;
              self->state.added += added;
              pump(self);
            },
            [=](caf::error& err) { self->quit(err); });  // restarted: enqueues nothing twice
  });
}

/// The header line: the data set, and the key the records were sealed with.
void take_header(job_parser_actor* self, const std::string& line) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  auto header = crypto::parse_records_header(line);
  if (!header) {
    fail_run(self, ps.data_blob + " is not a pqrt records file (" + render(header.error()) +
                       "); encrypt data with `pqrt encrypt records`");
    return;
  }
  if (header->key_check != st.key_check) {
    fail_run(self, ps.data_blob + " was sealed with data key " + header->key_check + ", but " +
                       ps.key_blob + " holds key " + st.key_check);
    return;
  }
  if (!ps.dataset_id.empty() && ps.dataset_id != header->dataset_id) {
    fail_run(self, ps.data_blob + " holds data set '" + header->dataset_id +
                       "', the configuration names '" + ps.dataset_id + "'");
    return;
  }
  st.dataset = header->dataset_id;
  st.header_seen = true;
  with_peer(self, st.enqueuer, [=](const caf::actor& enqueuer) {
    auto& st = self->state;
    self->request(enqueuer, caf::infinite, hello_atom::value, st.dataset, st.key_check)
        .then([=](caf::ok_atom) { pump(self); }, [=](caf::error& err) { self->quit(err); });
  });
  // pump resumes once the run is described
}

void finish(job_parser_actor* self) {
  self->state.finishing = true;
  auto total = self->state.next_index;
  with_peer(self, self->state.enqueuer, [=](const caf::actor& to) {
    self->request(to, caf::infinite, done_atom::value, total, self->state.added)
        .then(
            [=](caf::ok_atom) {
              {
                const auto& out = self->state.settings->outcome;
                std::lock_guard<std::mutex> guard{out->mutex};
                out->enqueued = true;
              }
              log::info("job_parser", "every record is enqueued",
                        {{"run", self->state.settings->run_id},
                         {"jobs", std::to_string(total)},
                         {"new", std::to_string(self->state.added)}});
              self->quit();
            },
            [=](caf::error& err) { self->quit(err); });
  });
}

void on_chunk(job_parser_actor* self, std::string chunk) {
  auto& st = self->state;
  st.chunk_requested = false;
  if (chunk.empty()) {
    st.eof = true;
    if (!st.carry.empty()) st.lines.push_back(std::move(st.carry));
    st.carry.clear();
  } else {
    size_t start = 0;
    for (;;) {
      auto nl = chunk.find('\n', start);
      if (nl == std::string::npos) break;
      auto line = st.carry + chunk.substr(start, nl - start);
      st.carry.clear();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      st.lines.push_back(std::move(line));
      start = nl + 1;
    }
    st.carry += chunk.substr(start);
  }
  if (!st.header_seen && !st.lines.empty()) {
    auto header = std::move(st.lines.front());
    st.lines.pop_front();
    take_header(self, header);
    return;
  }
  if (!st.header_seen && st.eof) return fail_run(self, st.settings->data_blob + " is empty");
  pump(self);
}

/// Moves things along: batches out while the enqueuer has room, more of the file when lines run
/// low, the end once everything is enqueued.
void pump(job_parser_actor* self) {
  auto& st = self->state;
  if (st.finishing || !st.header_seen) return;
  while (st.in_flight < max_batches_in_flight &&
         (st.lines.size() >= parser_batch || (st.eof && !st.lines.empty())))
    send_batch(self);
  if (!st.eof && !st.chunk_requested && st.lines.size() < parser_batch) request_chunk(self);
  if (st.eof && st.lines.empty() && st.in_flight == 0) finish(self);
}

void open_data_file(job_parser_actor* self) {
  with_peer(self, self->state.fetcher, [=](const caf::actor& to) {
    const auto& ps = *self->state.settings;
    self->request(to, caf::infinite, open_atom::value, ps.inputs_container, ps.data_blob)
        .then(
            [=](uint64_t size) {
              log::info(
                  "job_parser", "reading the data file",
                  {{"blob", self->state.settings->data_blob}, {"bytes", std::to_string(size)}});
              request_chunk(self);
            },
            [=](caf::error& err) {
              if (is_permanent(err))
                return fail_run(
                    self, "data file " + self->state.settings->data_blob + ": " + render(err));
              self->quit(err);
            });
  });
}

void start(job_parser_actor* self) {
  with_peer(self, self->state.decryptor, [=](const caf::actor& to) {
    self->request(to, caf::infinite, material_atom::value, false)
        .then(
            [=](const run_material& m) {
              self->state.key_check = m.key_check;
              open_data_file(self);
            },
            [=](caf::error& err) {
              if (is_permanent(err)) return fail_run(self, render(err));
              self->quit(err);
            });
  });
}

caf::behavior job_parser(job_parser_actor* self, std::shared_ptr<const pipeline_settings> ps) {
  self->state.settings = std::move(ps);
  self->send(self, run_atom::value);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    down_peer({&st.fetcher, &st.decryptor, &st.enqueuer, &st.supervisor}, dm);
  });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        auto& st = self->state;
        wire_peers(self, {&st.fetcher, &st.decryptor, &st.enqueuer, &st.supervisor}, name, handle);
      },
      [=](run_atom) { start(self); },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_job_parser(caf::actor_system& sys, std::shared_ptr<const pipeline_settings> ps) {
  return sys.spawn(job_parser, std::move(ps));
}

}  // namespace pqrt
