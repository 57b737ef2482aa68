#!/usr/bin/env bash
# A worker VM's bootstrap (cloud-init runs it through /usr/local/sbin/pqrt-bootstrap, and
# pqrt-bootstrap.service again at every boot): fetches the pqrt .deb from the deployment's storage
# account with the VM's managed identity, verifies and installs it, writes /etc/pqrt/config.json
# from userData and enables pqrt-worker.service. The steps, their retries, the log and the
# workload event are in bootstrap_lib.sh. Run as root; idempotent.
set -euo pipefail
ROLE=worker
# shellcheck source-path=SCRIPTDIR source=bootstrap_lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/bootstrap_lib.sh"
bootstrap_main pqrt-worker.service
