#!/usr/bin/env bash
# deploy.units: the systemd units (bootstrap/systemd/) and the shell scripts under bootstrap/,
# offline: no systemd as PID 1, no package installed, nothing started.
# - systemd-analyze verify on every unit, on copies whose ExecStart is the build's pqrt (verify
#   fails on an ExecStart binary that does not exist). It exits 0 on unknown keys and values it
#   cannot parse, so any output on stderr fails the check, not only its exit code.
# - systemd-analyze security --offline=yes on each service: exposure at most 1.5 (--threshold=15;
#   systemd's "OK" band ends below 2.0). The scores are printed.
# - systemd-analyze calendar accepts the timer's OnCalendar.
# - What the package promises of each unit: the hardening options, User=pqrt, ExecStart, the
#   worker's stop timeout above shutdown_grace_sec, and no option that would stop its memfd
#   scripts (MemoryDenyWriteExecute, NoExecPaths).
# - shellcheck on every *.sh under bootstrap/ and on the maintainer scripts in bootstrap/deb/.
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"

units_dir="$SOURCE_DIR/bootstrap/systemd"
services=(pqrt-scheduler.service pqrt-worker.service pqrt-metrics.service)
timer=pqrt-metrics.timer
threshold=15

# systemd's tools: plain text, warnings shown (the caller's SYSTEMD_LOG_LEVEL could hide them).
export SYSTEMD_LOG_LEVEL=notice SYSTEMD_LOG_COLOR=0 SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat
export SYSTEMD_LOG_TARGET=console

have() { command -v "$1" >/dev/null 2>&1; }

# value FILE KEY: the last KEY= value in FILE (empty if none).
value() { sed -n "s/^$2=//p" "$1" | tail -n1; }

# seconds VALUE: a systemd time span (45, 45s, 2min, 1min 30s) in whole seconds.
seconds() {
  local total=0 part n unit
  for part in $1; do
    n="${part%%[a-z]*}"
    unit="${part#"$n"}"
    case "$unit" in
      "" | s | sec) total=$((total + n)) ;;
      min | m) total=$((total + n * 60)) ;;
      h | hr) total=$((total + n * 3600)) ;;
      *) echo -1; return ;;
    esac
  done
  echo "$total"
}

for unit in "${services[@]}" "$timer"; do
  if [ -f "$units_dir/$unit" ]; then pass "unit $unit exists"; else fail "unit $unit exists" "no $units_dir/$unit"; fi
done

# --- systemd-analyze verify ------------------------------------------------------------------
if ! have systemd-analyze; then
  fail "systemd-analyze" "not installed (Debian: systemd; bootstrap/install_deps.sh --test installs it)"
else
  copies="$WORK/units"
  mkdir -p "$copies"
  for unit in "${services[@]}" "$timer"; do
    [ -f "$units_dir/$unit" ] && sed "s#^ExecStart=/usr/bin/pqrt #ExecStart=$PQRT #" "$units_dir/$unit" >"$copies/$unit"
  done
  for unit in "${services[@]}" "$timer"; do
    [ -f "$copies/$unit" ] || continue
    # The timer needs its service beside it; every unit is verified on its own, so each
    # message is that unit's.
    extra=()
    [ "$unit" = "$timer" ] && extra=("$copies/pqrt-metrics.service")
    run systemd-analyze verify --man=no --recursive-errors=no "$copies/$unit" "${extra[@]}"
    if [ "$rc" -ne 0 ] || [ -s "$WORK/err" ]; then
      fail "verify $unit" "exit $rc; stderr: $(head -c 800 "$WORK/err")"
    else
      pass "verify $unit"
    fi
  done

  # The check itself: a unit with an unknown key must fail it (stderr), as must a missing binary.
  sed 's/^\[Service\]$/[Service]\nNoSuchKey=1/' "$copies/pqrt-worker.service" >"$copies/bogus-key.service"
  run systemd-analyze verify --man=no --recursive-errors=no "$copies/bogus-key.service"
  if grep -q "NoSuchKey" "$WORK/err"; then pass "verify reports an unknown key on stderr"; else
    fail "verify reports an unknown key on stderr" "exit $rc, stderr: $(head -c 400 "$WORK/err")"; fi
  sed "s#^ExecStart=$PQRT #ExecStart=/nonexistent/pqrt #" "$copies/pqrt-worker.service" >"$copies/no-binary.service"
  run systemd-analyze verify --man=no --recursive-errors=no "$copies/no-binary.service"
  if [ "$rc" -ne 0 ] && [ -s "$WORK/err" ]; then pass "verify fails on a missing ExecStart binary"; else
    fail "verify fails on a missing ExecStart binary" "exit $rc, stderr: $(head -c 400 "$WORK/err")"; fi

  # --- systemd-analyze security ----------------------------------------------------------------
  for unit in "${services[@]}"; do
    [ -f "$copies/$unit" ] || continue
    run systemd-analyze security --offline=yes --threshold="$threshold" --no-pager "$copies/$unit"
    score="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$WORK/out")"
    if [ "$rc" -eq 0 ] && [ -n "$score" ] && [ ! -s "$WORK/err" ]; then
      pass "security $unit: exposure $score (threshold $((threshold / 10)).$((threshold % 10)))"
    else
      fail "security $unit" "exit $rc, exposure '${score:-?}' (threshold $((threshold / 10)).$((threshold % 10))); stderr: $(head -c 400 "$WORK/err"); $(grep '✗' "$WORK/out" | head -20)"
    fi
  done

  # --- systemd-analyze calendar ----------------------------------------------------------------
  calendar="$(value "$units_dir/$timer" OnCalendar)"
  run systemd-analyze calendar "$calendar"
  if [ -n "$calendar" ] && [ "$rc" -eq 0 ] && [ ! -s "$WORK/err" ] && grep -q "Next elapse" "$WORK/out"; then
    pass "calendar OnCalendar=$calendar: $(sed -n 's/^ *Normalized form: //p' "$WORK/out")"
  else
    fail "calendar OnCalendar=$calendar" "exit $rc; $(head -c 400 "$WORK/err")"
  fi
fi

# --- what the units promise ------------------------------------------------------------------
common=(User=pqrt Group=pqrt ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes
  NoNewPrivileges=yes CapabilityBoundingSet= AmbientCapabilities= UMask=0077
  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" SystemCallFilter=@system-service
  SystemCallArchitectures=native StateDirectory=pqrt ProtectKernelTunables=yes
  ProtectKernelModules=yes ProtectKernelLogs=yes ProtectControlGroups=yes ProtectClock=yes
  ProtectHostname=yes RestrictNamespaces=yes RestrictRealtime=yes RestrictSUIDSGID=yes
  LockPersonality=yes ProtectProc=invisible RemoveIPC=yes EnvironmentFile=-/etc/default/pqrt
  After=network-online.target Wants=network-online.target)
for unit in "${services[@]}"; do
  f="$units_dir/$unit"
  [ -f "$f" ] || continue
  missing=()
  for line in "${common[@]}"; do grep -qxF -- "$line" "$f" || missing+=("$line"); done
  if [ ${#missing[@]} -eq 0 ]; then pass "$unit: hardening options"; else
    fail "$unit: hardening options" "missing: ${missing[*]}"; fi
  role="${unit#pqrt-}"
  role="${role%.service}"
  want="/usr/bin/pqrt --role=$role"
  [ "$role" = metrics ] && want+=" --once"
  want+=" --config /etc/pqrt/config.json"
  check "$unit: ExecStart=$want" test "$(value "$f" ExecStart)" = "$want"
  case "$role" in
    metrics) check "$unit: Type=oneshot" test "$(value "$f" Type)" = oneshot ;;
    *) check "$unit: WantedBy=multi-user.target" test "$(value "$f" WantedBy)" = multi-user.target ;;
  esac
done

worker="$units_dir/pqrt-worker.service"
if [ -f "$worker" ]; then
  grace="$(sed -n '/PQRT_FIELD_INTEGER(shutdown_grace_sec,/s/.*shutdown_grace_sec, *\([0-9]*\).*/\1/p' "$SOURCE_DIR/config/fields.def")"
  stop="$(seconds "$(value "$worker" TimeoutStopSec)")"
  if [ -n "$grace" ] && [ "$stop" -ge $((grace + 10)) ]; then
    pass "worker TimeoutStopSec ${stop}s > shutdown_grace_sec ${grace}s + 10s"
  else
    fail "worker TimeoutStopSec" "${stop}s, shutdown_grace_sec '${grace}' (config/fields.def): want grace + 10 s or more"
  fi
  check "worker Restart=on-failure (a clean exit 0, a drain, is not restarted)" test "$(value "$worker" Restart)" = on-failure
  check "worker KillSignal=SIGTERM" test "$(value "$worker" KillSignal)" = SIGTERM
  bad="$(grep -E '^(MemoryDenyWriteExecute=yes|NoExecPaths=|ExecPaths=|PrivateNetwork=yes|ProcSubset=pid)' "$worker")"
  if [ -z "$bad" ]; then pass "worker: nothing that stops memfd scripts, JITs or the network"; else
    fail "worker: nothing that stops memfd scripts, JITs or the network" "$bad"; fi
fi
sched="$units_dir/pqrt-scheduler.service"
[ -f "$sched" ] && check "scheduler Restart=on-abnormal (its exit code is the run's verdict)" test "$(value "$sched" Restart)" = on-abnormal
if [ -f "$units_dir/$timer" ]; then
  for line in AccuracySec=1s Persistent=true WantedBy=timers.target; do
    check "$timer: $line" grep -qxF "$line" "$units_dir/$timer"
  done
fi

# --- shellcheck ------------------------------------------------------------------------------
if ! have shellcheck; then
  fail "shellcheck" "not installed (Debian: shellcheck; bootstrap/install_deps.sh --test installs it)"
else
  scripts=()
  while IFS= read -r f; do scripts+=("$f"); done < <(find "$SOURCE_DIR/bootstrap" -name '*.sh' -type f | sort)
  for f in preinst postinst prerm postrm config; do
    [ -f "$SOURCE_DIR/bootstrap/deb/$f" ] && scripts+=("$SOURCE_DIR/bootstrap/deb/$f")
  done
  for f in "${scripts[@]}"; do
    name="${f#"$SOURCE_DIR"/}"
    run shellcheck --external-sources --source-path=SCRIPTDIR --format=gcc "$f"
    if [ "$rc" -eq 0 ]; then pass "shellcheck $name"; else
      fail "shellcheck $name" "$(sed "s#^$SOURCE_DIR/##" "$WORK/out" "$WORK/err" | head -n 10 | paste -sd ';' -)"; fi
  done
fi

finish
