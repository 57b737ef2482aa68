#!/usr/bin/env bash
# /usr/local/sbin/pqrt-bootstrap (installed by arm/cloud-init.yaml): finds this VM's role (the
# userData config's deploy_role, else the VM's pqrt-role tag, both read from IMDS) and runs that
# role's bootstrap script from /usr/local/lib/pqrt-bootstrap/ (or, in a checkout, from its own
# folder). A VM without a role (neither deploy_role nor the tag: a jumpbox) has nothing to do here;
# an unknown role fails, reported like any other boot failure.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
lib="$here/../lib/pqrt-bootstrap"
[ -f "$lib/bootstrap_lib.sh" ] || lib="$here"
# shellcheck source-path=SCRIPTDIR source=bootstrap_lib.sh
source "$lib/bootstrap_lib.sh"
trap finish EXIT
[ "$(id -u)" -eq 0 ] || die "must run as root"
read_instance
read_userdata
check_role
trap - EXIT
if [ -z "$ROLE" ]; then
  log "step=role: no pqrt role on this VM (no deploy_role in userData, no pqrt-role tag): nothing to do"
  exit 0
fi
log "step=role: this VM is a $ROLE; running ${ROLE}_bootstrap.sh"
exec "$lib/${ROLE}_bootstrap.sh" "$@"
