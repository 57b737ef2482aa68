#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit suites and every integration
# suite (CTest labels `unit` and `integration`).
#   test/run.sh               plain build in build/
#   test/run.sh --sanitize    AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   test/run.sh --fuzz SECS   instead: builds the libFuzzer targets (clang, ASan + UBSan) in
#                             build-fuzz/ and runs each for SECS seconds, two at a time (test/fuzz/)
#   test/run.sh -- ARGS       extra arguments for ctest, e.g. -- -L unit, -- -R tools
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
ctest_args=()
fuzz_seconds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) build_dir=build-asan; cmake_args+=(-DPQRT_SANITIZE=ON) ;;
    --fuzz)
      fuzz_seconds="${2:-}"; shift
      [[ "$fuzz_seconds" =~ ^[1-9][0-9]*$ ]] || { echo "test/run.sh: --fuzz needs SECONDS" >&2; exit 2; } ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test/run.sh: unknown argument '$1'" >&2; echo "Try 'test/run.sh --help'." >&2; exit 2 ;;
  esac
  shift
done

if [ -n "$fuzz_seconds" ]; then
  bootstrap/install_deps.sh --fuzz
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPQRT_FUZZ=ON -DPQRT_TESTS=OFF >/dev/null
  cmake --build build-fuzz --target fuzz -j2
  exec test/fuzz/run_targets.sh build-fuzz "$fuzz_seconds"
fi

bootstrap/install_deps.sh --test
# ccache hits across build directories and checkouts (paths under here are hashed as relative).
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=true  # with -g, ccache would hash the build directory too
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j2

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:quarantine_size_mb=16}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$build_dir" --output-on-failure -j2 "${ctest_args[@]}"
