#!/usr/bin/env bash
# Crypto throughput next to `openssl speed` on the same machine, with the conditions. Builds
# nothing: pass the bench binary (default build/test/bench_crypto). No pass/fail: figures only.
#
#   test/bench/crypto.sh [path/to/bench_crypto] [file MiB, default 512]
#
# The openssl figure is AES-256-GCM bulk encryption of one buffer of the given size, over and over
# (`openssl speed -evp aes-256-gcm -seconds 3 -bytes N`, read with -mr); "ratio" is pqrt's MB/s
# over it. Record figures include base64 and the envelope, so they stay well below the bulk rate;
# the file figures are the ones to hold against it (64 KiB chunks, 1 MiB pieces, in memory).
set -euo pipefail

bench=${1:-build/test/bench_crypto}
file_mib=${2:-512}
if [[ ! -x $bench ]]; then
  echo "crypto.sh: no bench binary at $bench (build the bench_crypto target)" >&2
  exit 2
fi

# MB/s (10^6 bytes per second) of `openssl speed` for buffers of $1 bytes.
openssl_mbps() {
  openssl speed -evp aes-256-gcm -seconds 3 -bytes "$1" -mr 2>/dev/null |
    awk -F: '/^\+F:/ { printf "%.1f", $NF / 1e6 }'
}

echo "conditions"
echo "  cpu      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "  cores    $(nproc) online ($(grep -c ^processor /proc/cpuinfo) listed)"
echo "  openssl  $(openssl version)"
echo "  kernel   $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
echo

echo "running openssl speed (2 x 3 s) ..."
ref_1k=$(openssl_mbps 1024)
ref_16k=$(openssl_mbps 16384)
echo "running $bench $file_mib ..."
results=$("$bench" "$file_mib")
echo

printf '%-14s %8s %12s %14s   %-22s %7s\n' figure size "MB/s" "ops/s" "openssl MB/s" ratio
echo "$results" | awk -v r1k="$ref_1k" -v r16k="$ref_16k" '
  NR == 1 { next }
  {
    ref = ($2 == "1KiB") ? r1k : r16k
    label = sprintf("%s (%s B)", ref, ($2 == "1KiB") ? "1024" : "16384")
    printf "%-14s %8s %12s %14s   %-22s %7.2f\n", $1, $2, $3, $4, label, $3 / ref
  }'
