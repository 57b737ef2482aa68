#pragma once

/// executor: runs one job at a time: decodes its RQ call and runs it under the job's timeout,
/// answering with the outcome (including the retry delay when retries are left). Never throws a
/// job's failure at its owner: every failure is an outcome.
///
/// A record job (`pqrt.record`): opens the sealed record with the run's cipher_set (the run's
/// material is asked from the decryptor once, then kept), runs the processor on the plaintext (a
/// built-in record processor, or the decrypted script: through `run_script` in the `once` script
/// protocol, or through the executor's own long-lived `script_process` in `lines` and `framed`,
/// started at its first record and killed with the executor), and sends the plaintext result
/// straight on to result_encryptor (held while it restarts); the plaintext never leaves memory
/// and never goes back through the pool. A record that does not open (changed, swapped, another
/// key) fails its job at once, without retries: the same bytes never open. Other jobs run the
/// built-in functions.
///
/// Peers (wired through the pool): decryptor, result_encryptor.
/// In: `run_atom, rq_job` → `executor_reply` (actors/protocol.hpp): the outcome to record, or
/// that the result went forward.

#include <caf/fwd.hpp>

#include "actors/worker_settings.hpp"
#include "transport/rq_job.hpp"

namespace pqrt {

/// Spawns an executor (detached: jobs block), linked to `owner`.
caf::actor spawn_executor(caf::local_actor* owner, const worker_settings& settings);

/// Seconds before retry n of a job: RQ's `retry_intervals` when the job has them, otherwise
/// exponential backoff (1 s doubling, at most 5 min) with full jitter over its upper half.
int64_t retry_delay_for(const transport::rq_job& job);

}  // namespace pqrt
