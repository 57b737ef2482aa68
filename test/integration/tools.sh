#!/usr/bin/env bash
# The key and data tools end to end with the real binary, cross-checked with the openssl CLI:
# keygen -> gen-data -> encrypt -> decrypt gives the same bytes; tampering is named; files stream
# in constant memory.
source "$(dirname "$0")/lib.sh"
cd "$WORK"

# --- keys --------------------------------------------------------------------------------------
run "$PQRT" keygen rsa --out key.pem --public-out pub.pem --bits 2048
expect "keygen rsa writes a key pair" 0
check "the private key is readable by its owner only" test "$(stat -c %a key.pem)" = 600
check "openssl reads the private key" openssl pkey -in key.pem -noout
check "openssl reads the public key" openssl pkey -pubin -in pub.pem -noout

run "$PQRT" keygen rsa --out key.pem
expect "keygen never overwrites a key" 1 "key.pem"

run "$PQRT" keygen data-key --wrap-with pub.pem --out aes.encrypted
expect "keygen data-key wraps a fresh key" 0
check "the wrapped-key file says its algorithm and key id" \
  grep -q '"alg": *"RSA-OAEP-256"' aes.encrypted
check "the key id names the wrapping key" grep -q '"kid": *"local:sha256:' aes.encrypted

# openssl unwraps what pqrt wrapped, and the key check matches the unwrapped key.
python3 -c 'import json,base64,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open("aes.encrypted"))["wrapped_key"]))' >wrapped.bin
openssl pkeyutl -decrypt -inkey key.pem -in wrapped.bin -out raw.key \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 2>/dev/null
check "openssl unwraps the RSA-OAEP-256 key to 32 bytes" test "$(stat -c %s raw.key 2>/dev/null)" = 32
keyhex="$(od -An -tx1 -v raw.key | tr -d ' \n')"
check_hex="$(printf 'pqrt key check v1' | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$keyhex" -r | cut -c1-8)"
check "the key check is HMAC-SHA256(key) as documented" grep -q "\"key_check\": *\"$check_hex\"" aes.encrypted

run "$PQRT" keygen data-key --wrap-with pub.pem --out sha1.encrypted --alg RSA-OAEP
expect "keygen data-key with RSA-OAEP (SHA-1)" 0
python3 -c 'import json,base64,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open("sha1.encrypted"))["wrapped_key"]))' >wrapped1.bin
check "openssl unwraps the RSA-OAEP (SHA-1) key" \
  openssl pkeyutl -decrypt -inkey key.pem -in wrapped1.bin -out raw1.key -pkeyopt rsa_padding_mode:oaep

# --- records: 100,000 round trip ---------------------------------------------------------------
keys=(--key aes.encrypted --unwrap-with key.pem)
run "$PQRT" gen-data --records 100000 --size-kb 1 --out data.txt
expect "gen-data writes 100,000 records" 0
check "one JSON record per line" test "$(wc -l <data.txt)" -eq 100000
check "records look like the Python generator's" grep -qE '^\{"id": 99999, "data": "[A-Za-z0-9]+"\}$' <(tail -n 1 data.txt)

run "$PQRT" encrypt records "${keys[@]}" --in data.txt --out data.enc
expect "encrypt records" 0
check "a header line plus one line per record" test "$(wc -l <data.enc)" -eq 100001
check "no plaintext in the encrypted file" bash -c "! grep -q '\"data\"' data.enc"

umask 022
run "$PQRT" decrypt records "${keys[@]}" --in data.enc --out data.dec
expect "decrypt records" 0
check "its plaintext output is mode 0600 under umask 022" test "$(stat -c %a data.dec)" = 600
check "decrypt gives back the same bytes" cmp -s data.txt data.dec

# One changed byte in one line: decrypt fails naming that line and writes nothing.
python3 - <<'PY'
lines = open("data.enc", "rb").read().split(b"\n")
line = bytearray(lines[5000])          # line 5001 of the file: record 4999
line[60] = ord("A") if line[60] != ord("A") else ord("B")
lines[5000] = bytes(line)
open("tampered.enc", "wb").write(b"\n".join(lines))
lines = open("data.enc", "rb").read().split(b"\n")
lines[10], lines[11] = lines[11], lines[10]
open("swapped.enc", "wb").write(b"\n".join(lines))
PY
run "$PQRT" decrypt records "${keys[@]}" --in tampered.enc --out tampered.dec
expect "one changed byte fails decrypt, naming the line" 1 "line 5001"
check "only that line is named" test "$(grep -c 'line [0-9]' "$WORK/err")" -eq 1
check "no output is left behind" bash -c "! ls tampered.dec* 2>/dev/null"

run "$PQRT" decrypt records "${keys[@]}" --in swapped.enc --out swapped.dec
expect "swapped records are named as such" 1 "line 11: wrong_binding"

run "$PQRT" keygen data-key --wrap-with pub.pem --out other.encrypted
run "$PQRT" decrypt records --key other.encrypted --unwrap-with key.pem --in data.enc --out x
expect "the wrong data key is named as such" 1 "wrong key"

run "$PQRT" decrypt records "${keys[@]}" --dataset someone-else --in data.enc --out x
expect "another data set is refused" 1 "wrong_binding"

run "$PQRT" keygen rsa --out key2.pem --bits 2048
run "$PQRT" decrypt records --key aes.encrypted --unwrap-with key2.pem --in data.enc --out x
expect "the wrong RSA key fails to unwrap" 1 "key_error"

# --- legacy input (the Python solution's AES-CBC lines) ----------------------------------------
python3 - "$keyhex" <<'PY'
import os, subprocess, base64, sys
key = sys.argv[1]
out = []
for i in range(3):
    rec = ('{"id": %d, "data": "legacy-%d"}' % (i, i)).encode()
    rec += b"\0" * (-len(rec) % 16)
    iv = os.urandom(16)
    ct = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-nopad", "-K", key, "-iv", iv.hex()],
                        input=rec, capture_output=True, check=True).stdout
    out.append(base64.b64encode(iv + ct).decode())
open("legacy.enc", "w").write("\n".join(out) + "\n")
PY
run "$PQRT" decrypt records "${keys[@]}" --format legacy --in legacy.enc --out legacy.dec
expect "legacy records (openssl AES-CBC, NUL padded) decrypt" 0
check "with the padding stripped" grep -qx '{"id": 2, "data": "legacy-2"}' legacy.dec

# --- files: streamed, constant memory ----------------------------------------------------------
size_mb=1024
limit_kb=65536
if [ "$SANITIZE" = "ON" ]; then
  limit_kb=262144  # ASan's shadow memory and quarantine sit on top of pqrt's own buffers
fi
head -c $((size_mb * 1024 * 1024)) /dev/urandom >big.bin
/usr/bin/time -v "$PQRT" encrypt file "${keys[@]}" --in big.bin --out big.enc 2>time.txt >/dev/null
rc=$?
rss_kb="$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' time.txt)"
check "encrypt file of ${size_mb} MiB succeeds" test "$rc" -eq 0
check "encrypt file peak RSS ${rss_kb} KiB stays under ${limit_kb} KiB" test "${rss_kb:-999999999}" -lt "$limit_kb"
run "$PQRT" decrypt file "${keys[@]}" --in big.enc --out big.dec
expect "decrypt file" 0
check "the ${size_mb} MiB file round-trips" cmp -s big.bin big.dec
rm -f big.bin big.dec

head -c $((24 + 2 * (65536 + 16))) big.enc >cut.enc
run "$PQRT" decrypt file "${keys[@]}" --in cut.enc --out cut.dec
expect "a file cut at a chunk boundary is named truncated" 1 "truncated"
check "and leaves no output" bash -c "! ls cut.dec* 2>/dev/null"

printf 'print("hello")\n' >script.py
run "$PQRT" encrypt file "${keys[@]}" --context script --in script.py --out script.enc
run "$PQRT" decrypt file "${keys[@]}" --context results --in script.enc --out x
expect "a file bound to another context is refused" 1 "auth_failed"
rm -f big.enc

finish
