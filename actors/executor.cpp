#include "actors/executor.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "runtime/builtins.hpp"
#include "runtime/error.hpp"

namespace pqrt {

namespace {

using steady = std::chrono::steady_clock;

steady::time_point deadline_for(const transport::rq_job& job) {
  auto secs = job.timeout_seconds();
  return secs > 0 ? steady::now() + std::chrono::seconds{secs} : steady::time_point::max();
}

std::string failure_text(const transport::rq_job& job, const caf::error& err) {
  if (is(err, errc::timeout))
    return "JobTimeoutException: Task exceeded maximum timeout value (" +
           std::to_string(job.timeout_seconds()) + " seconds)";
  auto text = context_of(err);
  return text.empty() ? render(err) : text;
}

transport::job_outcome run_job(const transport::rq_job& job, transport::rq_serializer serializer) {
  transport::job_outcome out;
  out.id = job.id;
  auto started = steady::now();
  auto call = transport::decode_job_data(job.field("data"), serializer);
  if (!call) {
    out.error_text = "DeserializationError: " + render(call.error());
    out.retry_delay = -1;  // the same bytes will not decode next time either
  } else {
    job_control::begin(job.id);
    auto result = run_builtin(job.id, call->func_name, call->args,
                              transport::py_value{call->kwargs}, deadline_for(job));
    auto stopped = job_control::stop_requested(job.id);
    auto killed = job_control::killed(job.id);
    job_control::end(job.id);
    out.ok = static_cast<bool>(result);
    if (result)
      out.result = std::move(*result);
    else
      out.error_text = failure_text(job, result.error());
    if (!out.ok) out.retry_delay = retry_delay_for(job);
    if (!out.ok && stopped && !killed) {  // RQ's stop-job: status stopped, never retried
      out.stopped = true;
      out.error_text = "Job stopped by user, work-horse terminated.";
    } else if (!out.ok && killed) {  // RQ's kill-horse: an ordinary failure
      out.error_text = "Work-horse terminated unexpectedly (kill-horse command)";
    }
  }
  out.working_secs = std::chrono::duration<double>(steady::now() - started).count();
  return out;
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

caf::behavior executor(caf::event_based_actor*, transport::rq_serializer serializer) {
  return {
      [=](run_atom, const transport::rq_job& job) -> transport::job_outcome {
        try {
          return run_job(job, serializer);
        } catch (const std::exception& e) {  // a broken invariant in one job fails only that job
          transport::job_outcome out;
          out.id = job.id;
          out.error_text = std::string{"pqrt: executor error: "} + e.what();
          return out;
        }
      },
  };
}

}  // namespace pqrt
