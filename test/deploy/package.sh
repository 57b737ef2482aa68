#!/usr/bin/env bash
# deploy.package: the Debian package, built and then installed on this machine (a disposable CI
# machine: it needs root, or sudo without a password; it never skips).
# - bootstrap/package.sh --build-dir $TEST_BUILD_DIR --no-build: the ctest build dir's pqrt, as
#   built before ctest ran (nothing is built twice, nothing relinked under the other suites)
# - contents (dpkg-deb -c), control fields (dpkg-deb -f), conffiles, maintainer scripts
# - install (apt-get install ./pqrt_<version>_<arch>.deb): pqrt runs, the pqrt system user,
#   /etc/pqrt root:pqrt 0750, the units installed but neither enabled nor started
# - upgrade to a second version (the same .deb repacked with a higher Version and a changed
#   example config): /etc/pqrt/config.json is kept, the unchanged conffile is replaced
# - purge: the binary, the units, /etc/pqrt and /var/lib/pqrt are gone
# A pqrt package installed before the test (an earlier run) is purged first.
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"

: "${TEST_BUILD_DIR:?run through ctest (TEST_BUILD_DIR is the build dir to package from)}"
export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    fail "root" "deploy.package installs the package on this machine: run it as root or with passwordless sudo"
    finish
    exit 1
  fi
fi
as_root() { "${SUDO[@]}" "$@"; }
apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "$@"; }

units=(pqrt-scheduler.service pqrt-worker.service pqrt-metrics.service pqrt-metrics.timer)

# dpkg-query's ${Field} formats are not shell expansions.
# shellcheck disable=SC2016
status_format='${Status} ${Version}'
installed() { dpkg-query -W -f='${Status}' pqrt 2>/dev/null | grep -qE 'install ok|config-files|half'; }
purge_pqrt() {
  if installed; then as_root dpkg --purge pqrt >"$WORK/purge.log" 2>&1; fi
}
# Leave the machine as it was found, however the test ends.
trap 'purge_pqrt; keep_logs; rm -rf "$WORK"' EXIT

# check_output NAME EXPECTED COMMAND...: passes when the command prints exactly EXPECTED.
check_output() {
  local name="$1" want="$2" got
  shift 2
  got="$("$@" 2>&1)"
  if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "got '$got', expected '$want'"; fi
}

# no_pqrt_links: the units are enabled nowhere (no symlink to them in /etc/systemd/system).
no_pqrt_links() {
  local links
  links="$(find /etc/systemd/system -name 'pqrt-*' 2>/dev/null)"
  [ -z "$links" ] || { echo "enabled: $links" >&2; return 1; }
}

# --- start clean ------------------------------------------------------------------------------
if installed; then
  purge_pqrt
  if installed; then fail "purge the package left by an earlier run" "$(tail -c 600 "$WORK/purge.log")"; else
    pass "purge the package left by an earlier run"; fi
fi
# The pqrt user outlives a purge (by design), so postinst creates it only on a machine that never
# had the package; later runs check that postinst keeps the existing one.
if getent passwd pqrt >/dev/null; then had_user="existed"; else had_user="created"; fi

# --- build -------------------------------------------------------------------------------------
version="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$TEST_BUILD_DIR/CMakeCache.txt")"
arch="$(dpkg --print-architecture)"
bash "$SOURCE_DIR/bootstrap/package.sh" --build-dir "$TEST_BUILD_DIR" --no-build >"$WORK/package.out" 2>"$WORK/package.log"
rc=$?
deb="$(tail -n1 "$WORK/package.out")"
if [ "$rc" -eq 0 ] && [ "$deb" = "$TEST_BUILD_DIR/deb/pqrt_${version}_${arch}.deb" ] && [ -f "$deb" ] &&
  [ "$(wc -l <"$WORK/package.out")" -eq 1 ]; then
  pass "package.sh prints only the path of pqrt_${version}_${arch}.deb ($(du -h "$deb" | cut -f1))"
else
  fail "package.sh" "exit $rc, stdout '$(head -c 300 "$WORK/package.out")'; $(tail -c 800 "$WORK/package.log")"
  finish
  exit 1
fi

# --- contents ----------------------------------------------------------------------------------
dpkg-deb -c "$deb" >"$WORK/contents"
# mode owner path, files only
awk '$1 !~ /^d/ {print $1, $2, $6}' "$WORK/contents" | sort >"$WORK/files"
cat >"$WORK/files.want" <<EOF
-rw-r--r-- root/root ./etc/pqrt/config.example.json
-rw-r--r-- root/root ./lib/systemd/system/pqrt-metrics.service
-rw-r--r-- root/root ./lib/systemd/system/pqrt-metrics.timer
-rw-r--r-- root/root ./lib/systemd/system/pqrt-scheduler.service
-rw-r--r-- root/root ./lib/systemd/system/pqrt-worker.service
-rw-r--r-- root/root ./usr/share/doc/pqrt/copyright
-rwxr-xr-x root/root ./usr/bin/pqrt
EOF
sort -o "$WORK/files.want" "$WORK/files.want"
if diff "$WORK/files.want" "$WORK/files" >"$WORK/files.diff"; then
  pass "contents: the binary, the example config, 4 units, copyright (modes, root-owned)"
else
  fail "contents" "$(paste -sd ';' "$WORK/files.diff")"
fi
bad_dirs="$(awk '$1 ~ /^d/ && ($1 != "drwxr-xr-x" || $2 != "root/root") {print $1, $2, $6}' "$WORK/contents")"
if [ -z "$bad_dirs" ]; then pass "contents: directories root/root 0755"; else fail "contents: directories" "$bad_dirs"; fi

dpkg-deb -x "$deb" "$WORK/root"
differ=()
for unit in "${units[@]}"; do
  cmp -s "$WORK/root/lib/systemd/system/$unit" "$SOURCE_DIR/bootstrap/systemd/$unit" || differ+=("$unit")
done
if [ ${#differ[@]} -eq 0 ]; then pass "contents: the units are bootstrap/systemd/'s"; else
  fail "contents: the units are bootstrap/systemd/'s" "differ: ${differ[*]}"; fi
check "contents: config.example.json is config/config.example.json" cmp -s "$WORK/root/etc/pqrt/config.example.json" "$SOURCE_DIR/config/config.example.json"
check "contents: copyright is machine-readable" grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$WORK/root/usr/share/doc/pqrt/copyright"
run "$WORK/root/usr/bin/pqrt" --version
expect "contents: the packaged pqrt runs (--version)" 0
if file "$WORK/root/usr/bin/pqrt" | grep -q ', stripped'; then pass "contents: pqrt is stripped"; else
  fail "contents: pqrt is stripped" "$(file "$WORK/root/usr/bin/pqrt")"; fi

# --- control -----------------------------------------------------------------------------------
check_output "control: Package" pqrt dpkg-deb -f "$deb" Package
check_output "control: Version" "$version" dpkg-deb -f "$deb" Version
check_output "control: Architecture" "$arch" dpkg-deb -f "$deb" Architecture
depends="$(dpkg-deb -f "$deb" Depends)"
missing=()
for want in libcaf-core libhiredis libcpprest libssl libboost-program-options libc6 python3 adduser; do
  grep -qE "(^|, )$want" <<<"$depends" || missing+=("$want")
done
if [ -n "$depends" ] && [ ${#missing[@]} -eq 0 ]; then pass "control: Depends (dpkg-shlibdeps + python3, adduser): $depends"; else
  fail "control: Depends" "missing ${missing[*]} in '$depends'"; fi
for field in Maintainer Description Section; do
  if [ -n "$(dpkg-deb -f "$deb" "$field")" ]; then pass "control: $field"; else fail "control: $field" "empty"; fi
done

dpkg-deb -e "$deb" "$WORK/control"
check_output "control: conffiles" /etc/pqrt/config.example.json cat "$WORK/control/conffiles"
for script in postinst prerm postrm; do
  f="$WORK/control/$script"
  if [ -f "$f" ] && [ "$(stat -c %a "$f")" = 755 ] && head -n1 "$f" | grep -qx '#!/bin/sh' &&
    cmp -s "$f" "$SOURCE_DIR/bootstrap/deb/$script"; then
    pass "control: $script (0755, from bootstrap/deb/)"
  else
    fail "control: $script" "missing, not 0755 ($(stat -c %a "$f" 2>/dev/null)) or not bootstrap/deb/$script"
  fi
done
if grep -qE 'systemctl +(enable|start|restart|reload-or-restart)|deb-systemd-(helper +enable|invoke +start)' "$WORK/control/postinst"; then
  fail "control: postinst neither enables nor starts a unit" "$(grep -nE 'systemctl|deb-systemd' "$WORK/control/postinst")"
else
  pass "control: postinst neither enables nor starts a unit"
fi

# --- install -----------------------------------------------------------------------------------
run apt_get install --no-install-recommends "$deb"
expect "install: apt-get install ./$(basename "$deb")" 0
check_output "install: dpkg status" "install ok installed $version" dpkg-query -W -f="$status_format" pqrt
run /usr/bin/pqrt --version
if [ "$rc" -eq 0 ] && grep -q "$version" "$WORK/out"; then pass "install: /usr/bin/pqrt --version: $(head -n1 "$WORK/out")"; else
  fail "install: /usr/bin/pqrt --version" "exit $rc: $(head -c 300 "$WORK/out" "$WORK/err")"; fi

user="$(getent passwd pqrt)"
IFS=: read -r _ _ uid _ _ home shell <<<"$user"
if [ -n "$user" ] && [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/pqrt ] && [[ "$shell" == */nologin || "$shell" == /bin/false ]] &&
  [ "$(id -gn pqrt)" = pqrt ]; then
  pass "install: system user pqrt ($had_user; uid $uid, group pqrt, home $home, shell $shell)"
else
  fail "install: system user pqrt" "getent: '$user', group '$(id -gn pqrt 2>&1)'"
fi
check_output "install: /etc/pqrt root:pqrt 0750" "root:pqrt 750" stat -c '%U:%G %a' /etc/pqrt
check_output "install: /var/lib/pqrt pqrt:pqrt 0700" "pqrt:pqrt 700" stat -c '%U:%G %a' /var/lib/pqrt
missing=()
for unit in "${units[@]}"; do [ -f "/lib/systemd/system/$unit" ] || missing+=("$unit"); done
if [ ${#missing[@]} -eq 0 ]; then pass "install: units in /lib/systemd/system"; else fail "install: units" "missing ${missing[*]}"; fi
check "install: no unit enabled (no pqrt link in /etc/systemd/system)" no_pqrt_links
states=""
for unit in "${units[@]}"; do states+="$(systemctl is-enabled "$unit" 2>&1 | head -n1) "; done
states="${states% }"
# pqrt-metrics.service has no [Install] section (the timer starts it): "static".
check_output "install: systemctl is-enabled" "disabled disabled static disabled" echo "$states"
# (Other suites may run pqrt as user pqrt from their own roots: only /usr/bin/pqrt counts.)
if pgrep -f '^/usr/bin/pqrt( |$)' >/dev/null 2>&1; then fail "install: nothing started" "$(pgrep -a -f '^/usr/bin/pqrt( |$)')"; else
  pass "install: nothing started (no /usr/bin/pqrt process)"; fi
if command -v systemd-analyze >/dev/null 2>&1; then
  run env SYSTEMD_LOG_LEVEL=notice SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no --recursive-errors=no "${units[@]/#//lib/systemd/system/}"
  if [ "$rc" -eq 0 ] && [ ! -s "$WORK/err" ]; then pass "install: systemd-analyze verify on the installed units"; else
    fail "install: systemd-analyze verify on the installed units" "exit $rc: $(head -c 600 "$WORK/err")"; fi
fi

# --- upgrade -----------------------------------------------------------------------------------
# The operator's (or the bootstrap's) config, which no package owns.
config='{ "queue_name": "deploy-package-test", "log_level": "debug" }'
printf '%s\n' "$config" | as_root tee /etc/pqrt/config.json >/dev/null
as_root chown root:pqrt /etc/pqrt/config.json
as_root chmod 0640 /etc/pqrt/config.json
if dpkg -S /etc/pqrt/config.json >/dev/null 2>&1; then fail "upgrade: config.json belongs to no package" "$(dpkg -S /etc/pqrt/config.json)"; else
  pass "upgrade: config.json belongs to no package"; fi

v2="${version}+upgrade1"
tree="$WORK/v2"
dpkg-deb -R "$deb" "$tree"
sed -i "s/^Version: .*/Version: $v2/" "$tree/DEBIAN/control"
# The new version's example config differs, so dpkg must replace the (unmodified) conffile.
sed -i 's/"log_level": "info"/"log_level": "warn"/' "$tree/etc/pqrt/config.example.json"
(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
deb2="$WORK/pqrt_${v2}_${arch}.deb"
run dpkg-deb --root-owner-group -Zxz -b "$tree" "$deb2"
expect "upgrade: repack as $v2 (dpkg-deb -R / -b)" 0
run apt_get install --no-install-recommends "$deb2"
expect "upgrade: apt-get install the second version" 0
check_output "upgrade: dpkg status" "install ok installed $v2" dpkg-query -W -f="$status_format" pqrt
check_output "upgrade: /etc/pqrt/config.json kept" "$config" as_root cat /etc/pqrt/config.json
check_output "upgrade: /etc/pqrt/config.json still root:pqrt 0640" "root:pqrt 640" stat -c '%U:%G %a' /etc/pqrt/config.json
check "upgrade: the unmodified conffile is the new version's" cmp -s /etc/pqrt/config.example.json "$tree/etc/pqrt/config.example.json"
leftovers="$(find /etc/pqrt -name '*.dpkg-*' 2>/dev/null)"
if [ -z "$leftovers" ]; then pass "upgrade: no .dpkg-new/.dpkg-old/.dpkg-dist left"; else fail "upgrade: conffile leftovers" "$leftovers"; fi
conffile="$(dpkg-query -W -f='${Conffiles}' pqrt | awk '{print $1, $2}' | sed 's/^ *//' | grep -v '^ *$')"
check_output "upgrade: dpkg tracks the conffile with the new checksum" \
  "/etc/pqrt/config.example.json $(md5sum <"$tree/etc/pqrt/config.example.json" | cut -d' ' -f1)" echo "$conffile"
check_output "upgrade: /etc/pqrt still root:pqrt 0750" "root:pqrt 750" stat -c '%U:%G %a' /etc/pqrt
check "upgrade: still no unit enabled" no_pqrt_links

# --- purge -------------------------------------------------------------------------------------
# As the VM bootstrap does (systemctl enable works without a running systemd): purge must remove
# the links.
run as_root systemctl enable pqrt-worker.service pqrt-metrics.timer
if [ "$rc" -eq 0 ] && ! no_pqrt_links 2>/dev/null; then pass "purge: units enabled as the bootstrap does"; else
  fail "purge: units enabled as the bootstrap does" "exit $rc: $(head -c 300 "$WORK/err")"; fi
run apt_get purge pqrt
expect "purge: apt-get purge pqrt" 0
if installed; then fail "purge: package gone" "$(dpkg-query -W -f='${Status}' pqrt)"; else pass "purge: package gone"; fi
left=()
for path in /usr/bin/pqrt /etc/pqrt /var/lib/pqrt /usr/share/doc/pqrt "${units[@]/#//lib/systemd/system/}"; do
  [ -e "$path" ] && left+=("$path")
done
if [ ${#left[@]} -eq 0 ]; then pass "purge: binary, units, /etc/pqrt, /var/lib/pqrt, doc gone"; else
  fail "purge: files left" "${left[*]}"; fi
check "purge: no enablement link left" no_pqrt_links

finish
