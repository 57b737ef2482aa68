#!/usr/bin/env bash
# Installs what pqrt needs and is missing, on Debian 12. Idempotent; silent when all is there.
#   bootstrap/install_deps.sh          build + run (compiler, libraries, redis-server)
#   bootstrap/install_deps.sh --test   also what the tests need (python3-rq, Azurite from npm)
#   bootstrap/install_deps.sh --fuzz   also what the fuzz targets need (clang, libFuzzer)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

build_pkgs=(g++ cmake ninja-build ccache pkg-config libcaf-dev libcpprest-dev libhiredis-dev
            libssl-dev rapidjson-dev libboost-program-options-dev doctest-dev openssl
            redis-server redis-tools
            dpkg-dev file)  # dpkg-dev, file: CPack's DEB generator (dpkg-shlibdeps) for package.sh
test_pkgs=(python3 python3-rq python3-cryptography python3-jsonschema curl time
           shellcheck systemd  # deploy.units: shellcheck, systemd-analyze
           python3-yaml        # integration.boot: reads arm/cloud-init.yaml as cloud-init does
           adduser iproute2    # integration.boot: the package's postinst; ss (the Redis VM's bind)
           chromium)           # integration.report: renders the report headless
fuzz_pkgs=(clang libclang-rt-14-dev)  # test/run.sh --fuzz: -fsanitize=fuzzer (Debian 12's clang 14)

want=("${build_pkgs[@]}")
with_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1; want+=("${test_pkgs[@]}") ;;
    --fuzz) want+=("${fuzz_pkgs[@]}") ;;
    *) echo "install_deps.sh: unknown argument '$arg' (expected --test or --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js may come from elsewhere (NodeSource); only Debian's own is installed when none is there.
if [ $with_tests -eq 1 ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install_deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "install_deps.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Azurite (Blob + Queue emulator) for the integration tests, from the npm registry, into a folder
# that git and the build ignore. 3.35.0 is the version verified in shared/reference and the last
# that runs on Debian 12's Node.js 18 (3.36 needs Node 21+).
if [ $with_tests -eq 1 ]; then
  azurite_dir="$here/.deps/azurite"
  if [ ! -x "$azurite_dir/node_modules/.bin/azurite" ]; then
    echo "install_deps.sh: installing Azurite into .deps/azurite"
    mkdir -p "$azurite_dir"
    npm install --prefix "$azurite_dir" --no-audit --no-fund --loglevel=error azurite@3.35.0 >/dev/null
  fi
fi
