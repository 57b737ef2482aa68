#!/usr/bin/env bash
# The scheduler VM's bootstrap (cloud-init runs it through /usr/local/sbin/pqrt-bootstrap, and
# pqrt-bootstrap.service again at every boot): fetches the pqrt .deb from the deployment's storage
# account with the VM's managed identity, verifies and installs it, writes /etc/pqrt/config.json
# from userData, points pqrt-metrics.service at the metrics identity (the VM's
# pqrt-metrics-client-id tag, a systemd drop-in) and enables pqrt-scheduler.service and
# pqrt-metrics.timer. The steps, their
# retries, the log and the workload event are in bootstrap_lib.sh. Run as root; idempotent.
set -euo pipefail
ROLE=scheduler
# shellcheck source-path=SCRIPTDIR source=bootstrap_lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/bootstrap_lib.sh"
role_step() { metrics_identity; }
bootstrap_main pqrt-scheduler.service pqrt-metrics.timer
