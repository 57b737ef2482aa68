#pragma once

/// Every message and atom pqrt's actors exchange. One place, so a reader sees the whole protocol
/// and a message no one accepts fails to compile where typed handles are used.
///
/// Contract of every supervised child: it accepts `quiet_atom` (take no new work, finish what is
/// in flight) and stops when it receives an exit message from its supervisor, handing back or
/// finishing in-flight work within the grace period.

#include <caf/atom.hpp>

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
/// Supervisor-internal: restart a child after its backoff.
using restart_atom = caf::atom_constant<caf::atom("restart")>;
/// To a supervisor: the current handle of the child named in the message.
using which_atom = caf::atom_constant<caf::atom("which")>;

}  // namespace pqrt
