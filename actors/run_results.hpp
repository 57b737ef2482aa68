#pragma once

/// The end of a run, for run_monitor: the check of its results in storage and the results
/// manifest. Before a run is declared done, every result blob a finished record names must be in
/// storage with the size its writer recorded (`transport::result_audit`); the records of a blob
/// that is missing or has another size are taken back in Redis, to be run again by an enqueue
/// pass, and the manifest is written only once every record's result checks out.
///
/// Blocking calls (Redis and storage), for a detached actor.

#include <cstdint>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/pipeline_settings.hpp"
#include "transport/job_store.hpp"
#include "transport/result_audit.hpp"
#include "transport/storage.hpp"

namespace pqrt {

/// An audit of the run's results: the listing of `<run>/results/` in the results container (one
/// List Blobs call per 5,000 blobs) and the sizes recorded in Redis. Any error of either is
/// returned, never read as an empty listing.
caf::expected<transport::result_audit> audit_results(transport::job_store& store,
                                                     transport::blob_store& blobs,
                                                     const pipeline_settings& ps);

/// Streams the manifest `<run>/manifest.jsonl` (a header line, then one line per record in index
/// order) while noting each finished record's blob in `audit`, and fills in `out`'s counts. It is
/// committed only when the audit stays clean; otherwise nothing is written and `out.manifest`
/// stays empty (the records to run again are in `audit`).
caf::error write_manifest(transport::job_store& store, transport::blob_store& blobs,
                          const pipeline_settings& ps, uint64_t total,
                          transport::result_audit& audit, run_outcome& out);

/// Logs one warning (how many blobs are missing or of another size, how many records run again,
/// the first few blobs' names) and counts them: `pqrt_result_blobs_lost_total` and
/// `pqrt_records_rerun_total`, per run.
void report_rerun(const pipeline_settings& ps, const transport::result_audit& audit);

/// Takes back, in Redis, the records the audit found to run again (see `rq_store::rerun_records`).
/// Returns how many were taken back.
caf::expected<size_t> take_back(transport::job_store& store, const pipeline_settings& ps,
                                const transport::result_audit& audit);

}  // namespace pqrt
