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
  uint64_t per_job = 1;  // records per job, as the run has it (rq_enqueuer's hello)
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

/// The most sealed bytes one job of many records carries: far inside the decompression cap
/// (`job_data_max_mb`, 64 MiB by default, at least 1 MiB), whatever `records_per_job` says.
constexpr size_t max_job_bytes = 4 << 20;

/// The job of records `first`, `first + 1`, ... (one record: RQ's one job per record).
transport::job_spec make_spec(job_parser_actor* self, uint64_t first,
                              std::vector<std::string> lines) {
  auto& st = self->state;
  const auto& ps = *st.settings;
  auto n = lines.size();
  transport::job_spec spec;
  spec.id = record_job_id(ps.run_id, first);
  spec.queue = ps.queue;
  bool many = st.per_job > 1;
  spec.call = make_record_call(
      {ps.run_id, st.dataset, first, std::move(lines), ps.processor, many, ps.records_as_bytes});
  spec.compress = !(many && ps.records_as_bytes);  // sealed bytes do not compress
  spec.result_ttl = 86400;
  spec.retries = ps.max_attempts - 1;
  spec.extra_fields = {{"pqrt_run", ps.run_id}, {"pqrt_index", std::to_string(first)}};
  if (many) {
    spec.description = records_job_func + "(" + ps.run_id + ", " + std::to_string(first) + ".." +
                       std::to_string(first + n - 1) + ")";
    spec.timeout = ps.script_timeout.count() * static_cast<int64_t>(n);
    spec.extra_fields.emplace_back("pqrt_count", std::to_string(n));
    spec.extra_fields.emplace_back("pqrt_status", ps.status_prefix + ps.run_id + "-");
    spec.extra_fields.emplace_back("pqrt_record_timeout",
                                   std::to_string(ps.script_timeout.count()));
  } else {
    spec.description = record_job_func + "(" + ps.run_id + ", " + std::to_string(first) + ")";
    spec.timeout = ps.script_timeout.count();
    spec.extra_fields.emplace_back("pqrt_status", ps.status_prefix + spec.id);
  }
  return spec;
}

/// Lines per enqueue batch: whole jobs, at least `parser_batch` records' worth.
size_t batch_lines(const job_parser_state& st) {
  return std::max<size_t>(parser_batch, static_cast<size_t>(st.per_job));
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

/// Records of the next job: `per_job` lines, fewer where they pass max_job_bytes, fewer at the
/// end of the file. 0 when the lines held do not make a whole job yet. A job's records depend
/// only on the file, so a second scheduler for the run cuts the same jobs.
size_t next_job_size(const job_parser_state& st) {
  size_t n = 0, bytes = 0;
  while (n < st.per_job && n < st.lines.size()) {
    bytes += st.lines[n].size();
    if (n > 0 && bytes > max_job_bytes) return n;
    ++n;
  }
  return n == st.per_job || st.eof ? n : 0;
}

void send_batch(job_parser_actor* self) {
  auto& st = self->state;
  std::vector<transport::job_spec> batch;
  size_t taken = 0;
  while (taken < parser_batch) {
    auto n = next_job_size(st);
    if (n == 0) break;
    std::vector<std::string> lines;
    lines.reserve(n);
    for (size_t k = 0; k < n; ++k) {
      lines.push_back(std::move(st.lines.front()));
      st.lines.pop_front();
    }
    batch.push_back(make_spec(self, st.next_index, std::move(lines)));
    st.next_index += n;
    taken += n;
  }
  if (batch.empty()) return;
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
        .then(
            [=](uint64_t per_job) {
              self->state.per_job = std::max<uint64_t>(1, per_job);
              pump(self);
            },
            [=](caf::error& err) { self->quit(err); });
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
                         {"records", std::to_string(total)},
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
         (st.lines.size() >= batch_lines(st) || (st.eof && !st.lines.empty())))
    send_batch(self);
  if (!st.eof && !st.chunk_requested && st.lines.size() < batch_lines(st)) request_chunk(self);
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
