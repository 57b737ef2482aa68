#pragma once

/// job_parser: streams the encrypted data file out of the storage (through blob_fetcher), one
/// record per line, and builds one RQ job per record; each record stays sealed. Checks the file's
/// header against the data key first (a wrong key or data set ends the run with a clear error
/// before anything is enqueued). Hands the jobs to rq_enqueuer in batches, at most two in flight,
/// pulling the next chunk of the file only when it needs more lines: memory stays flat whatever
/// the file's size. Ends normally once every record is enqueued; a restart starts again from the
/// top, which enqueues nothing twice (job ids are `<run id>-<index>`).

#include <caf/fwd.hpp>

#include "actors/pipeline_settings.hpp"

namespace pqrt {

/// Jobs per batch handed to rq_enqueuer.
constexpr size_t parser_batch = 1000;

/// Spawns a job_parser; its peers are wired by its supervisor (actors/peer.hpp).
caf::actor spawn_job_parser(caf::actor_system& sys, std::shared_ptr<const pipeline_settings> ps);

}  // namespace pqrt
