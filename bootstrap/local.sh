#!/usr/bin/env bash
# pqrt's main job on one machine: installs what is missing, builds, then runs an encrypted data
# set end to end in ./local-run: an RSA key and a wrapped data key, 10,000 sample records,
# encrypted record by record, a processing script encrypted as a file, and the records decrypted
# back and checked. (The all-in-one `pqrt --role=local` pipeline takes over here once it is built.)
#   bootstrap/local.sh [--records N] [--size-kb S]
set -euo pipefail
cd "$(dirname "$0")/.."
records=10000
size_kb=1
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="$2"; shift ;;
    --size-kb) size_kb="$2"; shift ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "local.sh: unknown argument '$1'" >&2; echo "Try 'bootstrap/local.sh --help'." >&2; exit 2 ;;
  esac
  shift
done

bootstrap/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target pqrt
pqrt="$PWD/build/pqrt"

run_dir="$PWD/local-run"
rm -rf "$run_dir"
mkdir -p "$run_dir"
cd "$run_dir"
export PQRT_LOG_FORMAT=text

step() { printf '\n== %s\n' "$*"; }

step "keys: an RSA key pair and a data key wrapped by it"
"$pqrt" keygen rsa --out rsa.pem --public-out rsa.pub.pem
"$pqrt" keygen data-key --wrap-with rsa.pub.pem --out aes.encrypted
keys=(--key aes.encrypted --unwrap-with rsa.pem)

step "data: $records sample records of $size_kb KiB, encrypted record by record"
"$pqrt" gen-data --records "$records" --size-kb "$size_kb" --out data.txt
"$pqrt" encrypt records "${keys[@]}" --in data.txt --out data.encrypted
rm data.txt

step "script: a processing script, encrypted as a file"
cat >process.py <<'PY'
import hashlib, json, sys
record = json.loads(sys.stdin.read())
print(json.dumps({"id": record["id"], "sha256": hashlib.sha256(record["data"].encode()).hexdigest()}))
PY
"$pqrt" encrypt file "${keys[@]}" --context script --in process.py --out process.py.encrypted
rm process.py

step "back again: every record decrypted and checked"
"$pqrt" decrypt records "${keys[@]}" --in data.encrypted --out data.decrypted
"$pqrt" decrypt file "${keys[@]}" --context script --in process.py.encrypted --out process.py.decrypted
count=$(wc -l <data.decrypted)
[ "$count" -eq "$records" ] || { echo "local.sh: expected $records records, got $count" >&2; exit 1; }

step "done: $count records encrypted and decrypted; the first three, shortened:"
head -n 3 data.decrypted | cut -c1-100
echo
echo "Encrypted data set: $run_dir/data.encrypted (key: $run_dir/aes.encrypted)"
