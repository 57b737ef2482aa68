#include "actors/executor.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/jobs/builtins.hpp"
#include "runtime/jobs/exec_processor.hpp"
#include "runtime/jobs/record_job.hpp"
#include "runtime/jobs/script_process.hpp"

namespace pqrt {

namespace {

using steady = std::chrono::steady_clock;

steady::time_point deadline_for(const transport::rq_job& job) {
  auto secs = job.timeout_seconds();
  return secs > 0 ? steady::now() + std::chrono::seconds{secs} : steady::time_point::max();
}

std::string failure_text(const transport::rq_job& job, const caf::error& err) {
  auto text = context_of(err);
  if (is(err, errc::timeout))
    return "JobTimeoutException: Task exceeded maximum timeout value (" +
           std::to_string(job.timeout_seconds()) + " seconds)" + (text.empty() ? "" : ": " + text);
  return text.empty() ? render(err) : text;
}

/// Applies RQ's stop-job / kill-horse semantics to a failed outcome.
void apply_stop(transport::job_outcome& out, bool stopped, bool killed) {
  if (!out.ok && stopped && !killed) {  // RQ's stop-job: status stopped, never retried
    out.stopped = true;
    out.error_text = "Job stopped by user, work-horse terminated.";
  } else if (!out.ok && killed) {  // RQ's kill-horse: an ordinary failure
    out.error_text = "Work-horse terminated unexpectedly (kill-horse command)";
  }
}

transport::job_outcome run_builtin_job(const transport::rq_job& job,
                                       const transport::job_call& call) {
  transport::job_outcome out;
  out.id = job.id;
  job_control::begin(job.id);
  auto result = run_builtin(job.id, call.func_name, call.args, transport::py_value{call.kwargs},
                            deadline_for(job));
  auto stopped = job_control::stop_requested(job.id);
  auto killed = job_control::killed(job.id);
  job_control::end(job.id);
  out.ok = static_cast<bool>(result);
  if (result)
    out.result = std::move(*result);
  else
    out.error_text = failure_text(job, result.error());
  if (!out.ok) out.retry_delay = retry_delay_for(job);
  apply_stop(out, stopped, killed);
  return out;
}

struct executor_state {
  worker_settings settings;
  std::optional<run_material> material;
  peer decryptor{peer_names::decryptor};         // wired through the pool
  peer encryptor{peer_names::result_encryptor};  // wired through the pool
  std::unique_ptr<script_process> process;       // lines, framed: started lazily
  static inline const char* name = "executor";
};

using executor_actor = caf::stateful_actor<executor_state>;

/// Runs the run's script on one record in the configured protocol; a long-lived process is kept
/// in the state, one per executor, and replaced when the run's script changes.
caf::expected<std::string> run_exec(executor_state& st, const run_material& m,
                                    const std::string& plain, const exec_limits& limits) {
  auto protocol = st.settings.pipeline->script_protocol;
  if (protocol == script_protocol::once) return run_script(*m.script, plain, limits);
  if (!st.process || st.process->script() != m.script.get())
    st.process = std::make_unique<script_process>(m.script, protocol);
  return st.process->run(plain, limits);
}

executor_reply to_record(transport::job_outcome outcome) {
  return {std::move(outcome), executor_reply::path::record};
}

/// A record job's results go on to result_encryptor; the pool learns only that they did.
executor_reply forward(executor_actor* self, pending_result r) {
  executor_reply reply;
  reply.outcome.id = r.outcome.id;
  reply.outcome.ok = r.outcome.ok;
  reply.outcome.working_secs = r.outcome.working_secs;
  reply.records = r.records.size();
  for (const auto& rec : r.outcome.records)
    reply.failed_records += rec.ok ? 0 : 1;
  // Held while result_encryptor restarts; refused only when far too much is held for it.
  reply.to = self->state.encryptor.send(self, seal_atom::value, std::move(r))
                 ? executor_reply::path::forwarded
                 : executor_reply::path::release;
  return reply;
}

/// The per-record timeout of a job of many records (`pqrt_record_timeout`), else the job's.
std::chrono::seconds record_timeout(const transport::rq_job& job) {
  const auto& text = job.field("pqrt_record_timeout");
  int64_t secs = 0;
  if (!text.empty() && text.size() < 10 &&
      text.find_first_not_of("0123456789") == std::string::npos)
    secs = std::stoll(text);
  return std::chrono::seconds{secs > 0 ? secs : job.timeout_seconds()};
}

/// Opens and processes one record: its result, or why it failed (`retry`: worth another try).
caf::expected<std::string> process_record(executor_actor* self, const transport::rq_job& job,
                                          const record_call& rc, uint64_t index,
                                          const std::string& sealed, bool& retry) {
  auto& st = self->state;
  const auto& m = *st.material;
  auto plain = m.cipher->open(rc.dataset_id, index, sealed);
  if (!plain) {
    retry = false;  // the same bytes never open
    return make_error(errc::auth_failed, "record " + std::to_string(index) + " of data set " +
                                             rc.dataset_id +
                                             " does not open: " + render(plain.error()));
  }
  auto timeout = record_timeout(job);
  auto deadline = timeout.count() > 0 ? steady::now() + timeout : steady::time_point::max();
  caf::expected<std::string> result{std::string{}};
  if (rc.processor == "exec") {
    exec_limits limits;
    limits.deadline = deadline;
    limits.interpreter = st.settings.pipeline->script_interpreter;
    auto id = job.id;
    limits.stop_requested = [id] { return job_control::stop_requested(id); };
    result = run_exec(st, m, *plain, limits);
  } else {
    result = run_record_processor(rc.processor, *plain, deadline);
  }
  OPENSSL_cleanse(plain->data(), plain->size());
  retry = true;
  if (!result && is(result.error(), errc::timeout))
    return make_error(
        errc::timeout,
        "JobTimeoutException: Task exceeded maximum timeout value (" +
            std::to_string(timeout.count()) + " seconds)" +
            (context_of(result.error()).empty() ? "" : ": " + context_of(result.error())));
  return result;
}

executor_reply run_record(executor_actor* self, const transport::rq_job& job,
                          const record_call& rc) {
  auto& st = self->state;
  pending_result r;
  auto& out = r.outcome;
  out.id = job.id;
  out.chunk = rc.many;
  auto started = steady::now();
  // A job run again skips the records that ended in an earlier attempt.
  const auto& ended = job.field("pqrt_ended");
  job_control::begin(job.id);
  bool stopped = false, killed = false, cut = false;
  for (size_t k = 0; k < rc.records.size(); ++k) {
    if (k < ended.size() && ended[k] == '1') continue;
    auto index = rc.first + k;
    bool retry = true;
    auto result = process_record(self, job, rc, index, rc.records[k], retry);
    stopped = job_control::stop_requested(job.id);
    killed = job_control::killed(job.id);
    // A stop ends the job here, as a whole (one record that succeeded anyway still counts).
    if ((stopped || killed) && (rc.many || !result)) {
      cut = true;
      break;
    }
    if (result) {
      r.records.push_back({index, std::move(*result), {}});
      out.records.push_back({index, true, {}, false});
    } else {
      auto text = context_of(result.error());
      if (text.empty()) text = render(result.error());
      out.records.push_back({index, false, std::move(text), retry});
    }
  }
  job_control::end(job.id);
  out.working_secs = std::chrono::duration<double>(steady::now() - started).count();
  out.retry_delay = retry_delay_for(job);
  if (cut) {  // RQ's stop-job and kill-horse end the whole job
    for (auto& rec : r.records)
      OPENSSL_cleanse(rec.plaintext.data(), rec.plaintext.size());
    transport::job_outcome whole;
    whole.id = job.id;
    whole.working_secs = out.working_secs;
    whole.retry_delay = out.retry_delay;
    apply_stop(whole, stopped, killed);
    return to_record(std::move(whole));
  }
  out.ok = std::all_of(out.records.begin(), out.records.end(),
                       [](const transport::record_outcome& o) { return o.ok; });
  if (!rc.many) {  // one record, recorded as one RQ job always was
    auto& rec = out.records.front();
    if (!rec.ok) {
      out.error_text = rec.error_text;
      if (!rec.retry) out.retry_delay = -1;
      out.records.clear();
      return to_record(std::move(out));
    }
    out.records.clear();
  } else if (!out.ok) {
    out.error_text = "pqrt: some records failed";
  }
  if (r.records.empty()) return to_record(std::move(out));  // nothing to store
  r.run_id = rc.run_id;
  r.dataset_id = rc.dataset_id;
  r.cipher = st.material->cipher;
  return forward(self, std::move(r));
}

executor_reply failed(const transport::rq_job& job, std::string text, int64_t retry_delay) {
  transport::job_outcome out;
  out.id = job.id;
  out.error_text = std::move(text);
  out.retry_delay = retry_delay;
  return to_record(std::move(out));
}

caf::result<executor_reply> run_job(executor_actor* self, const transport::rq_job& job) {
  auto& st = self->state;
  auto started = steady::now();
  auto call = transport::decode_job_data(job.field("data"), st.settings.serializer,
                                         st.settings.job_data_max);
  if (!call)  // the same bytes will not decode next time either
    return failed(job, "DeserializationError: " + render(call.error()), -1);
  if (!is_record_job(call->func_name)) {
    auto out = run_builtin_job(job, *call);
    out.working_secs = std::chrono::duration<double>(steady::now() - started).count();
    return to_record(std::move(out));
  }
  auto rc = parse_record_call(*call);
  if (!rc) return failed(job, render(rc.error()), -1);
  if (!st.settings.pipeline)
    return failed(job, "pqrt: this worker has no storage configured for record jobs",
                  retry_delay_for(job));
  bool need_script = rc->processor == "exec";
  if (st.material && (!need_script || st.material->script)) return run_record(self, job, *rc);
  auto rp = self->make_response_promise<executor_reply>();
  // Asked once the decryptor is there (held while it restarts).
  auto asked = st.decryptor.with(self, [=](const caf::actor& decryptor) mutable {
    self->request(decryptor, caf::infinite, material_atom::value, need_script)
        .then(
            [=](run_material& m) mutable {
              self->state.material = std::move(m);
              rp.deliver(run_record(self, job, *rc));
            },
            [=](caf::error& err) mutable {
              rp.deliver(failed(job,
                                "pqrt: the run's key or script is not available: " + render(err),
                                retry_delay_for(job)));
            });
  });
  if (!asked) return failed(job, "pqrt: the decryptor is restarting", retry_delay_for(job));
  return rp;
}

caf::behavior executor(executor_actor* self, worker_settings settings) {
  self->state.settings = std::move(settings);
  self->set_down_handler([=](caf::down_msg& dm) {
    down_peer({&self->state.decryptor, &self->state.encryptor}, dm);
  });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        wire_peers(self, {&self->state.decryptor, &self->state.encryptor}, name, handle);
      },
      [=](run_atom, const transport::rq_job& job) -> caf::result<executor_reply> {
        try {
          return run_job(self, job);
        } catch (const std::exception& e) {  // a broken invariant in one job fails only that job
          return failed(job, std::string{"pqrt: executor error: "} + e.what(), 0);
        }
      },
  };
}

}  // namespace

int64_t retry_delay_for(const transport::rq_job& job) {
  auto intervals = job.retry_intervals();
  auto left = job.retries_left();
  if (!intervals.empty()) {
    auto index = std::max<int64_t>(static_cast<int64_t>(intervals.size()) - left, 0);
    return intervals[std::min<size_t>(static_cast<size_t>(index), intervals.size() - 1)];
  }
  int64_t failures = 0;
  try {
    failures = job.field("pqrt_failures").empty() ? 0 : std::stoll(job.field("pqrt_failures"));
  } catch (const std::exception&) {
    failures = 0;
  }
  auto ceiling = std::min<int64_t>(300, int64_t{1} << std::min<int64_t>(failures, 9));
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> jitter{(ceiling + 1) / 2, ceiling};
  return jitter(rng);
}

caf::actor spawn_executor(caf::local_actor* owner, const worker_settings& settings) {
  if (settings.executors == spawn_mode::scheduled)
    return owner->spawn<caf::linked>(executor, settings);
  return owner->spawn<caf::detached + caf::linked>(executor, settings);
}

}  // namespace pqrt
