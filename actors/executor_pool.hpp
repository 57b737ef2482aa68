#pragma once

/// executor_pool: runs up to N jobs at a time on N executors. It grants the fetcher one credit per
/// free executor, so reserved jobs never pile up in a mailbox, plus a prefetch window while jobs
/// are short: up to `prefetch` jobs reserved ahead, about 50 ms of work at the recent mean job
/// time (none for jobs of 50 ms × N or longer, none before the first outcome), so that one
/// reserve round trip feeds many short jobs while a long job never waits in one worker that
/// another could start. Jobs reserved ahead go back to their queues at once when the pool goes
/// quiet or drains. It hands every outcome that is not
/// a stored result to the status_writer and tells the heartbeat whether the worker is busy or
/// idle. A record job's result does not come back here: its executor sends it on to
/// result_encryptor and tells the pool it did.
///
/// Peers: rq_fetcher, status_writer, heartbeat; with a pipeline also the decryptor (passed on
/// to its executors), result_encryptor (passed on, and watched) and result_writer (watched).
/// Every job it holds stays its own until status_writer settles its outcome; when a peer on the
/// result path ends, the outcomes it had go back to Redis as their jobs (see protocol.hpp).
///
/// In: `job_atom, rq_job` (fetcher); `hello_atom` → `size_t` credits and the ids of the jobs it
/// holds (a (re)started fetcher); `settled_atom, ids` (status_writer);
/// `drained_atom` (burst: the queues are empty); `quiet_atom`; `drain_atom, caf::timespan` (a
/// scheduled eviction: nothing more starts, reserved jobs that have not started go back to their
/// queues at once, and the jobs still running after the timespan are stopped and left for the
/// heartbeat to hand back, their outcomes dropped). On exit it waits for the jobs in flight,
/// makes sure their outcomes are written, then ends.

#include <caf/fwd.hpp>

#include "actors/worker_settings.hpp"

namespace pqrt {

/// Spawns an executor_pool; its peers are wired by its supervisor (actors/peer.hpp).
caf::actor spawn_executor_pool(caf::actor_system& sys, const worker_settings& settings);

}  // namespace pqrt
