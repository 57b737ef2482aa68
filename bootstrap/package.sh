#!/usr/bin/env bash
# Builds the Debian package pqrt_<version>_<arch>.deb (CPack, rules in bootstrap/CMakeLists.txt)
# and prints its absolute path as the last line of stdout; everything else goes to stderr.
#   bootstrap/package.sh                   from a clean checkout: installs the build dependencies,
#                                          configures build-pkg/ (Ninja, RelWithDebInfo, no tests),
#                                          builds pqrt, packages it
#   bootstrap/package.sh --build-dir DIR   packages from DIR, a build dir configured already
#                                          (builds the pqrt target there first)
#   bootstrap/package.sh --no-build        with --build-dir: packages the pqrt DIR holds as it is
#                                          (the tests: ctest runs after the build)
#   bootstrap/package.sh --jobs N          parallel build jobs (default: the number of CPUs)
# The package lands in DIR/deb/. Install it with `apt-get install ./pqrt_<version>_amd64.deb`.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"

build_dir=""
build=1
jobs="$(nproc 2>/dev/null || echo 2)"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir)
      [ $# -ge 2 ] || { echo "package.sh: --build-dir needs a directory" >&2; exit 2; }
      build_dir="$2"; shift ;;
    --no-build) build=0 ;;
    --jobs)
      [ $# -ge 2 ] || { echo "package.sh: --jobs needs a number" >&2; exit 2; }
      jobs="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument '$1'" >&2; echo "Try 'bootstrap/package.sh --help'." >&2; exit 2 ;;
  esac
  shift
done

if [ $build -eq 0 ] && [ -z "$build_dir" ]; then
  echo "package.sh: --no-build needs --build-dir" >&2
  exit 2
fi

# From here on stdout is stderr; fd 3 is the real stdout, for the path of the package only.
exec 3>&1 1>&2

# ccache: paths under the checkout are hashed relative to it, so a build elsewhere can hit.
export CCACHE_BASEDIR="$src"

# Build dependencies (dpkg-dev for dpkg-shlibdeps, file): silent when all are there.
"$src/bootstrap/install_deps.sh"

if [ -z "$build_dir" ]; then
  build_dir="$src/build-pkg"
  # With -g ccache also hashes the working directory unless told not to: without this, build-pkg/
  # of one checkout never hits the objects of another checkout's build-pkg/. Harmless here: the
  # packaged binary is stripped, so its debug info's compile directory does not matter.
  export CCACHE_NOHASHDIR=1
  cmake -S "$src" -B "$build_dir" -G Ninja -DPQRT_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    echo "package.sh: $build_dir is not a configured build dir (no CMakeCache.txt)" >&2
    exit 2
  fi
  build_dir="$(cd "$build_dir" && pwd)"
fi

# Only pqrt goes into the package; building it also re-runs CMake if a CMakeLists.txt changed.
if [ $build -eq 1 ]; then
  cmake --build "$build_dir" --target pqrt -j "$jobs"
elif [ ! -x "$build_dir/pqrt" ]; then
  echo "package.sh: no $build_dir/pqrt to package (--no-build)" >&2
  exit 1
fi
if [ ! -f "$build_dir/CPackConfig.cmake" ]; then
  echo "package.sh: $build_dir has no CPackConfig.cmake (configured before bootstrap/CMakeLists.txt existed?); re-run cmake there" >&2
  exit 1
fi

out="$build_dir/deb"
mkdir -p "$out"
# One packaging at a time per build dir (two test suites may package the same one).
exec 9>"$out/.lock"
flock 9
rm -f "$out"/*.deb
(cd "$build_dir" && cpack -G DEB -B "$out")

debs=("$out"/*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
  echo "package.sh: expected one .deb in $out, found: ${debs[*]}" >&2
  exit 1
fi
echo "package.sh: built ${debs[0]}" >&2
echo "${debs[0]}" >&3
