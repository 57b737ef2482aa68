# Processes and servers for the integration suites (sourced after lib.sh, from $WORK): every
# process started here is in PIDS and ended on exit; waits are guards against hanging, never
# timed assertions.
PY=/usr/bin/python3

# --- processes: every one started here is in PIDS and killed on exit ---------------------------
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  keep_logs
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# wait_until SECONDS 'CONDITION': polls every 0.1 s until the shell condition (evaluated afresh
# each time) holds; fails when the time is up. A guard against hanging, never a timed assertion.
wait_until() {
  local limit="$1" start=$SECONDS
  shift
  until eval "$*" >/dev/null 2>&1; do
    [ $((SECONDS - start)) -ge "$limit" ] && return 1
    sleep 0.1
  done
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis NAME PORT [ARGS...]: a redis-server on 127.0.0.1:PORT in $WORK/NAME; sets REDIS_PID.
start_redis() {
  local name="$1" port="$2"
  shift 2
  mkdir -p "$WORK/$name"
  /usr/bin/redis-server --bind 127.0.0.1 --port "$port" --save '' --dir "$WORK/$name" \
    --logfile "$WORK/$name/redis.log" "$@" &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_until 20 '(exec 3<>"/dev/tcp/127.0.0.1/$port")' 2>/dev/null
}
# Same, but ready means answering PING (plain TCP only).
start_redis_plain() {
  local port="$2"
  start_redis "$@"
  wait_until 20 '[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]'
}

# stop_pid PID: SIGTERM, then waits (at most 120 s) and sets rc to its exit code.
stop_pid() {
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1200); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  wait "$1" 2>/dev/null
  rc=$?
}

# wait_pid PID SECONDS: waits for a process to end by itself; sets rc (124 if it did not).
wait_pid() {
  local pid="$1" limit="$2" start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then rc=124; return; fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null
  rc=$?
}

# Shows a log's last lines in a failure message.
log_tail() { tail -n 15 "$WORK/$1" 2>/dev/null | tr '\n' '|'; }

# check_log NAME LOG COMMAND...: check, quoting the worker log LOG when it fails.
check_log() {
  local name="$1" log="$2"
  shift 2
  if "$@"; then pass "$name"; else fail "$name" "check failed: $*; $log: $(log_tail "$log")"; fi
}


# --- Azure: Azurite and the Entra ID / IMDS / Key Vault fixture ---------------------------------
# Azurite's well-known development account key (public, but handled as a secret all the same).
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# start_azurite DIR [CERT KEY]: Azurite's blob and queue services with their data on disk in DIR
# (with CERT and KEY: over HTTPS, accepting bearer tokens with --oauth basic); sets BLOB_PORT,
# QUEUE_PORT, BLOB_URL, QUEUE_URL, AZURE_ENDPOINTS (the pqrt flags for them) and AZURE_STORAGE (the
# same with the account key).
start_azurite() {
  local dir="$1" bin="$SOURCE_DIR/.deps/azurite/node_modules/.bin" scheme=http tls=()
  if [ $# -ge 3 ]; then scheme=https tls=(--cert "$2" --key "$3" --oauth basic); fi
  mkdir -p "$dir"
  BLOB_PORT="$(free_port)"
  QUEUE_PORT="$(free_port)"
  "$bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$BLOB_PORT" --location "$dir" "${tls[@]}" \
    --skipApiVersionCheck --silent >"$WORK/azurite-blob.log" 2>&1 &
  PIDS+=($!)
  "$bin/azurite-queue" --queueHost 127.0.0.1 --queuePort "$QUEUE_PORT" --location "$dir" \
    "${tls[@]}" --skipApiVersionCheck --silent >"$WORK/azurite-queue.log" 2>&1 &
  PIDS+=($!)
  secret "$AZURITE_KEY"
  BLOB_URL="$scheme://127.0.0.1:$BLOB_PORT/devstoreaccount1"
  QUEUE_URL="$scheme://127.0.0.1:$QUEUE_PORT/devstoreaccount1"
  AZURE_ENDPOINTS=(--storage azure --storage-account-name devstoreaccount1
    --blob-endpoint "$BLOB_URL" --queue-endpoint "$QUEUE_URL")
  AZURE_STORAGE=("${AZURE_ENDPOINTS[@]}" --storage-account-key "$AZURITE_KEY")
  wait_until 60 '(exec 3<>"/dev/tcp/127.0.0.1/$BLOB_PORT") && (exec 3<>"/dev/tcp/127.0.0.1/$QUEUE_PORT")'
}

# The identity the fixture knows: tenant, service principal, user-assigned managed identity.
FX_TENANT=pqrt-test-tenant
FX_CLIENT_ID=11111111-2222-3333-4444-555555555555
FX_MI_CLIENT_ID=66666666-7777-8888-9999-000000000000
FX_CLIENT_SECRET="fx-secret-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
# start_fixture NAME [ARGS...]: test/fixtures/azure_fixture.py (Entra ID, IMDS, Key Vault; a
# fault-injecting proxy with --upstream) on a free port, logging to $WORK/NAME.log; sets FX_URL.
# Every token it issues is registered as a secret.
start_fixture() {
  local name="$1"
  shift
  rm -f "$WORK/$name.port"
  "$PY" "$SOURCE_DIR/test/fixtures/azure_fixture.py" --port-file "$WORK/$name.port" \
    --tenant "$FX_TENANT" --client-id "$FX_CLIENT_ID" --client-secret "$FX_CLIENT_SECRET" \
    --imds-client-id "$FX_MI_CLIENT_ID" --log "$WORK/$name.log" \
    --secrets-file "${TEST_SECRETS_DIR:-$WORK}/${TEST_SUITE:-suite}-$name" "$@" &
  PIDS+=($!)
  wait_until 30 '[ -s "$WORK/$name.port" ]' || return 1
  FX_URL="http://127.0.0.1:$(cat "$WORK/$name.port")"
}
# fixture_config URL JSON: changes a running fixture (fault rate, forbid, token ttl).
fixture_config() {
  curl -sf -X POST -H 'Content-Type: application/json' --data "$2" "$1/_fixture/config" >/dev/null
}
# fixture_stat URL EXPR: a value of the fixture's counters, e.g. 'faults["503"]'.
fixture_stat() {
  curl -sf "$1/_fixture/stats" | "$PY" -c "import json, sys; s = json.load(sys.stdin); print(s$2)"
}
# A fixture started with --vm 'name=NAME,...' serves that VM's IMDS on a port of its own, written
# to port_file (default $WORK/FIXTURE.port.NAME); vm_url FIXTURE NAME prints http://127.0.0.1:PORT.
vm_url() {
  echo "http://127.0.0.1:$(cat "$WORK/$1.port.$2")"
}
# fixture_events URL VM JSON: replaces a VM's Scheduled Events ({"Events": [...]}); prints the
# fixture's answer (DocumentIncarnation, Events with their EventIds, acks, polls).
fixture_events() {
  curl -sf -X POST -H 'Content-Type: application/json' --data "$3" \
    "$1/_fixture/scheduled_events?vm=$2"
}
# fixture_acks URL VM [EVENT_ID]: the EventIds the VM acknowledged (StartRequests), one a line,
# or only those equal to EVENT_ID.
fixture_acks() {
  curl -sf "$1/_fixture/scheduled_events?vm=$2" | "$PY" -c '
import json, sys
for a in json.load(sys.stdin)["acks"]:
    if len(sys.argv) < 2 or a["EventId"] == sys.argv[1]:
        print(a["EventId"])' ${3:+"$3"}
}
# fixture_polls URL VM: how many times the VM asked for its Scheduled Events.
fixture_polls() {
  curl -sf "$1/_fixture/scheduled_events?vm=$2" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["polls"])'
}
# http_date SECONDS: now + SECONDS as an RFC 1123 date, the form of an event's NotBefore.
http_date() {
  LC_ALL=C date -u -d "@$(($(date +%s) + $1))" '+%a, %d %b %Y %H:%M:%S GMT'
}
# The pqrt flags of the fixture's identities and Key Vault; the client secret goes by environment
# (PQRT_SERVICE_PRINCIPAL_SECRET, exported by fixture_secret).
fixture_secret() {
  export PQRT_SERVICE_PRINCIPAL_SECRET="$FX_CLIENT_SECRET"
  secret "$FX_CLIENT_SECRET"
}
# sp_identity TOKEN_URL [VAULT_URL], mi_identity IMDS_URL [VAULT_URL] (default: the same).
sp_identity() {
  echo --tenant-id "$FX_TENANT" --service-principal-client-id "$FX_CLIENT_ID" \
    --azure-authority-host "$1" --azure-keyvault-url "${2:-$1}" --key-source keyvault
}
mi_identity() {
  echo --use-managed-identity true --managed-identity-client-id "$FX_MI_CLIENT_ID" \
    --imds-endpoint "$1" --azure-keyvault-url "${2:-$1}" --key-source keyvault
}
