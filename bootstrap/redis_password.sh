#!/usr/bin/env bash
# The Redis VM's password, fetched at every start of redis-server: ExecStartPre=+ of the drop-in
# /etc/systemd/system/redis-server.service.d/pqrt.conf that redis_bootstrap.sh writes (run as
# root, before redis-server starts as redis). It gets a managed-identity token for Key Vault from
# IMDS, reads the secret (Key Vault REST: GET VAULT/secrets/NAME[/VERSION]?api-version=7.4) and
# writes `requirepass "..."` to /run/redis/pqrt-password.conf (tmpfs: systemd's RuntimeDirectory
# of the unit, removed when redis stops; 0600 redis:redis), which /etc/redis/pqrt.conf includes.
# The password never touches a disk, argv or a log: the token and the secret stay in shell
# variables and pipes. Retried with backoff (a 403 while role assignments propagate); a failure
# is one line and a non-zero exit, so redis-server does not start without its password.
#   redis_password.sh VAULT_URL SECRET_NAME[/VERSION] CLIENT_ID|-
# Environment: the test hooks of bootstrap_lib.sh (PQRT_IMDS_ENDPOINT, PQRT_ROOT, PQRT_CA_FILE).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=bootstrap_lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/bootstrap_lib.sh"
readonly PASSWORD_FILE="$PQRT_ROOT/run/redis/pqrt-password.conf"
STEP=redis-password
[ "$#" -eq 3 ] || die "usage: redis_password.sh VAULT_URL SECRET_NAME[/VERSION] CLIENT_ID|-"
[ "$(id -u)" -eq 0 ] || die "must run as root (ExecStartPre=+)"
vault="${1%/}"
vault_url_ok "$vault" || die "'$vault' is not a Key Vault URL (https://...)"
ref="$(vault_ref "keyvault:$2")" || die "'$2' is not a Key Vault secret name"
[ "$3" = - ] || CFG[managed_identity_client_id]="$3"

log "step=$STEP: reading secret $ref from $vault for redis-server"
fetch_token 600 "https%3A%2F%2Fvault.azure.net" ||
  die "managed identity token for https://vault.azure.net: $HTTP_ERROR"
if ! with_retry vault 600 "get secret $ref" -H 'Accept: application/json' \
  "$vault/secrets/$ref?api-version=7.4"; then
  HTTP_BODY=""
  die "get secret $ref from $vault: $HTTP_ERROR"
fi
TOKEN=""
# The value, as a redis.conf argument: double-quoted, with \ and " escaped; refused when empty
# or holding a control character (it could not be one config line).
line="$(printf '%s' "$HTTP_BODY" | python3 -c '
import json, sys
try:
    v = json.loads(sys.stdin.read()).get("value")
except (ValueError, AttributeError):
    sys.exit("the answer is not a JSON object")
if not isinstance(v, str) or not v:
    sys.exit("the secret has no value")
if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
    sys.exit("the secret holds a control character")
print("requirepass \"%s\"" % v.replace("\\", "\\\\").replace("\"", "\\\""))
' 2>&1)" || { HTTP_BODY=""; die "secret $ref: $line"; }
HTTP_BODY=""
dir="$(dirname "$PASSWORD_FILE")"
if [ ! -d "$dir" ]; then  # systemd makes it (RuntimeDirectory=redis); by hand it may be missing
  install -d -o redis -g redis -m 2755 "$dir"
fi
tmp="$(umask 077 && mktemp "$dir/.pqrt-password.XXXXXX")"
# (printf is a builtin: the line reaches the file through no argv)
printf '# written at each start of redis-server by redis_password.sh (from Key Vault)\n%s\n' \
  "$line" >"$tmp"
line=""
chown redis:redis "$tmp"
chmod 0600 "$tmp"
mv -f "$tmp" "$PASSWORD_FILE"
log "step=$STEP: wrote ${PASSWORD_FILE#"$PQRT_ROOT"} (0600 redis, tmpfs) from secret $ref"
