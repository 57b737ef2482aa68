#pragma once

/// Every message and atom pqrt's actors exchange. One place, so a reader sees the whole protocol.
///
/// Contract of every supervised child: it accepts `quiet_atom` (take no new work, finish what is
/// in flight) and stops when it receives an exit message from its supervisor, handing back or
/// finishing in-flight work within the grace period.
///
/// Worker flow (credits, never unbounded mailboxes):
///   rq_fetcher --(job_atom, rq_job)--> executor_pool --(run_atom, rq_job)--> executor
///   executor_pool --(credit_atom, n)--> rq_fetcher       (one credit per free executor slot)
///   executor_pool --(record_atom, job_outcome)--> status_writer   (batched into one round trip)
///   executor_pool --(state_atom, "busy"|"idle")--> heartbeat
///   burst: rq_fetcher --drained_atom--> executor_pool --sync_atom--> status_writer,
///          then --done_atom--> heartbeat (deregisters) and every actor ends normally.

#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "transport/rq_job.hpp"
#include "transport/rq_store.hpp"

namespace pqrt {

// --- supervision and lifecycle -------------------------------------------------------------
/// To a child: stop taking new work.
using quiet_atom = caf::atom_constant<caf::atom("quiet")>;
/// To a supervisor: quiet, then stop children in reverse start order within a grace period.
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
/// To a supervisor: stop every child at once (the second signal).
using hard_stop_atom = caf::atom_constant<caf::atom("hardstop")>;
/// Supervisor-internal: the grace period ran out.
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
/// To a supervisor: the current handle of the child named in the message.
using which_atom = caf::atom_constant<caf::atom("which")>;

// --- worker ----------------------------------------------------------------------------------
/// A reserved job, fetcher → pool.
using job_atom = caf::atom_constant<caf::atom("job")>;
/// Run one job, pool → executor; the reply is a `transport::job_outcome`.
using run_atom = caf::atom_constant<caf::atom("run")>;
/// Free slots, pool → fetcher (a `size_t`).
using credit_atom = caf::atom_constant<caf::atom("credit")>;
/// A fetcher (re)started and asks for credit.
using hello_atom = caf::atom_constant<caf::atom("hello")>;
/// One outcome to record, pool → status_writer.
using record_atom = caf::atom_constant<caf::atom("record")>;
/// status_writer-internal: write what has accumulated.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Request: everything received so far is written (reply: `ok_atom`).
using sync_atom = caf::atom_constant<caf::atom("sync")>;
/// Burst mode: the queues are empty.
using drained_atom = caf::atom_constant<caf::atom("drained")>;
/// Burst mode: all done; deregister and end.
using done_atom = caf::atom_constant<caf::atom("done")>;
/// Timer ticks and loops inside an actor.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
/// The worker's RQ state ("busy", "idle"), pool → heartbeat.
using state_atom = caf::atom_constant<caf::atom("state")>;

}  // namespace pqrt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::transport::rq_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pqrt::transport::job_outcome)
