#!/usr/bin/env bash
# The Redis VM's bootstrap (the template's redisMode=vm; cloud-init runs it through
# /usr/local/sbin/pqrt-bootstrap, and pqrt-bootstrap.service again at every boot). No pqrt here:
#   instance, userdata, role   as every role (bootstrap_lib.sh); the role is redis
#   address    the VM's private address from IMDS (network/interface/0/ipv4/ipAddress/0)
#   install    Debian's redis-server (apt-get, Debian's mirrors), skipped when installed
#   redis      /etc/redis/pqrt.conf: Debian's redis.conf, then pqrt's settings (bound to the
#              private address and 127.0.0.1, protected-mode, AOF every second, noeviction,
#              FLUSHALL/FLUSHDB/DEBUG/CONFIG disabled; EVAL, MULTI, BLMOVE, streams and bitmaps,
#              which pqrt and RQ use, stay), then the password file /run/redis/pqrt-password.conf;
#              and the drop-in redis-server.service.d/pqrt.conf: ExecStartPre=+redis_password.sh
#              (the password from Key Vault, the userData's redis_password keyvault:NAME, at every
#              start, so a restart fetches it again), ExecStart= with pqrt.conf
#   enable     redis-server.service enabled and started (restarted when its settings changed)
#   report     the boot's end as a workload event, as every role (needs storage_account_name)
# Debian's own redis.conf (a conffile) is left as the package installed it. Idempotent: a second
# run writes, installs and restarts nothing. Run as root.
set -euo pipefail
ROLE=redis
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=bootstrap_lib.sh
source "$here/bootstrap_lib.sh"
readonly REDIS_UNIT=redis-server.service
readonly DEBIAN_CONF="$PQRT_ROOT/etc/redis/redis.conf"
readonly PQRT_CONF="$PQRT_ROOT/etc/redis/pqrt.conf"
readonly PASSWORD_FILE="$PQRT_ROOT/run/redis/pqrt-password.conf"
readonly HELPER="$here/redis_password.sh"
readonly DISABLED_COMMANDS="FLUSHALL FLUSHDB DEBUG CONFIG"
ADDRESS=""
VAULT="" SECRET_REF=""
REDIS_CHANGED=0

check_redis_config() {
  step redis-config "checking the Redis settings in userData"
  VAULT="${CFG[azure_keyvault_url]%/}"
  SECRET_REF="$(vault_ref "${CFG[redis_password]}")" ||
    die "redis_password must be keyvault:NAME (the secret in Key Vault), not '${CFG[redis_password]:+a value}'"
  vault_url_ok "$VAULT" || die "azure_keyvault_url '$VAULT' is not a Key Vault URL (https://...)"
  if ! [[ "${CFG[redis_port]}" =~ ^[0-9]{1,5}$ ]] || [ "${CFG[redis_port]}" -lt 1 ] ||
    [ "${CFG[redis_port]}" -gt 65535 ]; then
    die "redis_port ${CFG[redis_port]} is not a TCP port"
  fi
  local id="${CFG[managed_identity_client_id]:-}"
  [ -z "$id" ] || [[ "$id" =~ ^[0-9A-Za-z-]{1,64}$ ]] ||
    die "managed_identity_client_id '$id' is not a client id"
  log "step=redis-config: port ${CFG[redis_port]}, password from $VAULT secret $SECRET_REF"
}

read_address() {
  step address "reading the VM's private address"
  imds_get "private address" \
    "/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=2021-02-01&format=text"
  ADDRESS="$HTTP_BODY"
  [[ "$ADDRESS" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
    die "IMDS gave no IPv4 private address: '$(printf '%s' "$ADDRESS" | head -c 60)'"
  log "step=address: $ADDRESS"
}

install_redis() {
  step install "installing Debian's redis-server"
  local admin=() current attempt out
  if [ -n "$PQRT_ROOT" ]; then admin=(--admindir="$PQRT_ROOT/var/lib/dpkg"); fi
  # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
  current="$(dpkg-query "${admin[@]}" -W -f='${db:Status-Status} ${Version}' redis-server 2>/dev/null || true)"
  if [ "${current%% *}" = installed ]; then
    log "step=install: redis-server ${current#installed } is installed already"
  else
    for attempt in 1 2 3; do
      if out="$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
          install -y --no-install-recommends redis-server 2>&1)"; then
        CHANGED=1
        log "step=install: installed redis-server"
        break
      fi
      log "step=install: apt-get failed (attempt $attempt): $(tail -n 1 <<<"$out")"
      [ "$attempt" -lt 3 ] || die "apt-get install redis-server failed: $(tail -n 1 <<<"$out")"
      sleep $((attempt * 10))
    done
  fi
  [ -f "$DEBIAN_CONF" ] || die "no ${DEBIAN_CONF#"$PQRT_ROOT"} (redis-server's package makes it)"
  getent passwd redis >/dev/null || die "no user redis (redis-server's package makes it)"
}

# put_file PATH MODE OWNER TEXT: PATH holds TEXT (atomic), untouched when equal; sets
# REDIS_CHANGED when written.
put_file() {
  local path="$1" mode="$2" owner="$3" text="$4" tmp
  if [ -f "$path" ] && cmp -s "$path" <(printf '%s' "$text") &&
    [ "$(stat -c '%a %U:%G' "$path")" = "${mode#0} $owner" ]; then
    log "step=$STEP: ${path#"$PQRT_ROOT"} unchanged"
    return 0
  fi
  mkdir -p "$(dirname "$path")"
  tmp="$(mktemp "$(dirname "$path")/.$(basename "$path").XXXXXX")"
  printf '%s' "$text" >"$tmp"
  chown "$owner" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  CHANGED=1
  REDIS_CHANGED=1
  log "step=$STEP: wrote ${path#"$PQRT_ROOT"}"
}

configure_redis() {
  step redis "configuring redis-server"
  local conf cmd pre client="${CFG[managed_identity_client_id]:-}" hooks="" v
  # The data directory (the package makes it; a VM root in the test may not have it).
  if [ ! -d "$PQRT_ROOT/var/lib/redis" ]; then
    install -d -o redis -g redis -m 0750 "$PQRT_ROOT/var/lib/redis"
  fi
  conf="# pqrt's Redis VM, written by redis_bootstrap.sh at every boot from the VM's userData (edits
# are overwritten; Debian's redis.conf is read first and left as the package installed it).
include \"$DEBIAN_CONF\"
# Reached by the scheduler and the workers on the private address only (the NSG admits their
# subnets); a password always (below).
bind $ADDRESS 127.0.0.1
port ${CFG[redis_port]}
protected-mode yes
daemonize no
pidfile \"$PQRT_ROOT/run/redis/redis-server.pid\"
logfile \"\"
dir \"$PQRT_ROOT/var/lib/redis\"
# The job queue must not lose or evict a job: AOF fsynced every second, no eviction.
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
# Dangerous commands pqrt never sends: disabled. (EVAL/EVALSHA/SCRIPT, MULTI/EXEC, BLMOVE,
# streams and bitmaps are pqrt's and RQ's: they stay.)
"
  for cmd in $DISABLED_COMMANDS; do conf+="rename-command $cmd \"\"
"; done
  conf+="# The password (requirepass), on tmpfs, written by redis_password.sh at every start.
include \"$PASSWORD_FILE\"
"
  put_file "$PQRT_CONF" 0640 root:redis "$conf"

  # The test hooks (bootstrap_lib.sh), as this run got them; none in production.
  for v in PQRT_IMDS_ENDPOINT PQRT_ROOT PQRT_CA_FILE; do
    case "$v:${!v}" in
      *: | PQRT_IMDS_ENDPOINT:http://169.254.169.254) ;;
      *) hooks+="Environment=$v=${!v}
" ;;
    esac
  done
  pre="$HELPER $VAULT $SECRET_REF ${client:--}"
  [[ "$pre$hooks" != *[%\$\"\'\\]* ]] || die "a path or value holds a character systemd would expand"
  STEP=redis
  write_unit_dropin_redis "# pqrt's Redis VM, written by redis_bootstrap.sh: the password from Key Vault at every start
# (to tmpfs, /run/redis), then redis-server with /etc/redis/pqrt.conf.
[Unit]
Wants=network-online.target
After=network-online.target

[Service]
${hooks}ExecStartPre=+$pre
ExecStart=
ExecStart=/usr/bin/redis-server $PQRT_CONF --supervised systemd --daemonize no
TimeoutStartSec=15min
"
}

# write_unit_dropin_redis TEXT: the drop-in, as write_unit_dropin (which reloads systemd), marking
# the settings changed.
write_unit_dropin_redis() {
  local before="$CHANGED"
  CHANGED=0
  write_unit_dropin "$REDIS_UNIT" pqrt "$1"
  if [ "$CHANGED" = 1 ]; then REDIS_CHANGED=1; else CHANGED="$before"; fi
}

enable_redis() {
  step enable "enabling and starting $REDIS_UNIT"
  if systemctl is-enabled --quiet "$REDIS_UNIT" 2>/dev/null &&
    systemctl is-active --quiet "$REDIS_UNIT" 2>/dev/null; then
    if [ "$REDIS_CHANGED" = 1 ]; then
      systemctl restart "$REDIS_UNIT" || die "systemctl restart $REDIS_UNIT failed"
      log "step=enable: $REDIS_UNIT restarted for its new settings"
    else
      log "step=enable: $REDIS_UNIT enabled and running already"
    fi
    return 0
  fi
  if ! systemctl is-enabled --quiet "$REDIS_UNIT" 2>/dev/null; then
    systemctl enable "$REDIS_UNIT" || die "systemctl enable $REDIS_UNIT failed"
  fi
  # (the package started it with its own settings: restart, so pqrt.conf and the password apply)
  systemctl restart "$REDIS_UNIT" || die "systemctl restart $REDIS_UNIT failed (journalctl -u $REDIS_UNIT)"
  CHANGED=1
  log "step=enable: $REDIS_UNIT enabled and started"
}

umask 022
trap finish EXIT
[ "$(id -u)" -eq 0 ] || die "must run as root"
log "bootstrap of the redis role (IMDS $PQRT_IMDS_ENDPOINT${PQRT_ROOT:+, root $PQRT_ROOT})"
read_instance
read_userdata
check_role
check_redis_config
read_address
install_redis
configure_redis
enable_redis
