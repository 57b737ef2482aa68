#!/usr/bin/env bash
# pqrt's main job on one machine: installs what is missing, builds, then runs an encrypted data
# set end to end in ./local-run: an RSA key and a data key wrapped by it, sample records and a
# processing script, both encrypted into local storage; then `pqrt --role=local` processes every
# record (a private redis-server, the scheduler and a worker in one process; the script is one
# long-lived process per executor, script_protocol lines) and a few decrypted results are shown.
#   bootstrap/local.sh [--records N] [--size-kb S] [--processor exec|sha256|...] [--redis URL]
set -euo pipefail
cd "$(dirname "$0")/.."
records=10000
size_kb=1
processor="exec"
redis=()
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="$2"; shift ;;
    --size-kb) size_kb="$2"; shift ;;
    --processor) processor="$2"; shift ;;
    --redis) redis=(--redis "$2"); shift ;;
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
# Where everything lives: local storage stands in for the blob containers and queues.
storage=(--storage local --local-storage-dir "$run_dir/storage" --key-source local
  --rsa-private-key-file "$run_dir/rsa.pem")

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
#!/usr/bin/python3
# script_protocol "lines": one long-lived process; a record per line on stdin (a JSON object),
# one result line per record on stdout, flushed.
import hashlib, json, sys
for line in sys.stdin:
    record = json.loads(line)
    print(json.dumps({"id": record["id"],
                      "sha256": hashlib.sha256(record["data"].encode()).hexdigest()}), flush=True)
PY
"$pqrt" encrypt file "${keys[@]}" --context script --in process.py --out process.py.encrypted
rm process.py

step "upload: the encrypted data, key and script into local storage"
"$pqrt" upload "${storage[@]}" data.encrypted aes.encrypted process.py.encrypted

step "run: every record through pqrt --role=local (processor: $processor)"
run_id="local-$(date -u +%Y%m%d-%H%M%S)"
"$pqrt" --role=local "${storage[@]}" "${redis[@]}" --run-id "$run_id" --processor "$processor" \
  --script-protocol lines \
  --encrypted-data-filename data.encrypted --encrypted-aes-key-filename aes.encrypted \
  --encrypted-scheduler-script-filename process.py.encrypted

step "results: downloaded and decrypted in record order"
"$pqrt" results "${storage[@]}" --run-id "$run_id" --out results.txt
count=$(wc -l <results.txt)
[ "$count" -eq "$records" ] || { echo "local.sh: expected $records results, got $count" >&2; exit 1; }
echo "All $count records processed. The first three results:"
head -n 3 results.txt | cut -c1-160
echo
echo "Results (decrypted): $run_dir/results.txt"
echo "Results (encrypted) and manifest: $run_dir/storage/blobs/results/$run_id/"
