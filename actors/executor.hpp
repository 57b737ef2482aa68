#pragma once

/// executor: runs one job at a time: decodes its RQ call, runs the built-in function under the
/// job's timeout, answers with the outcome (including the retry delay when retries are left).
/// Never throws a job's failure at its owner: every failure is an outcome.
///
/// In: `run_atom, rq_job` → `job_outcome`.

#include <caf/fwd.hpp>

#include "transport/rq_job.hpp"

namespace pqrt {

/// The behavior of an executor (spawn it detached: jobs block).
caf::behavior executor(caf::event_based_actor* self, transport::rq_serializer serializer);

/// Seconds before retry n of a job: RQ's `retry_intervals` when the job has them, otherwise
/// exponential backoff (1 s doubling, at most 5 min) with full jitter over its upper half.
int64_t retry_delay_for(const transport::rq_job& job);

}  // namespace pqrt
