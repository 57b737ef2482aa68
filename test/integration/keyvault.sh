#!/usr/bin/env bash
# Azure identity and Key Vault end to end, against Azurite and the Entra ID / IMDS / Key Vault
# fixture (test/fixtures/azure_fixture.py): a data key wrapped by a vault key and unwrapped by the
# vault with a service principal and with a managed identity; the Python solution's raw wrapped
# key; a full run whose every key and storage call goes through fixtures that fault 20% of them
# (503 with Retry-After, 429, 500, a hung connection, a reset); and the failures an operator
# meets (wrong account key, expired SAS, unknown container, Key Vault 403, wrong client secret),
# each a one-line error, a non-zero exit and nothing left claiming success.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
source "$(dirname "$0")/servers.sh"

export PQRT_LOG_FORMAT=text
check "Azurite starts" start_azurite "$WORK/azurite"
fixture_secret
check "the Entra ID / IMDS / Key Vault fixture starts" start_fixture fx
FX="$FX_URL"
PORT="$(free_port)"
check "a redis-server starts" start_redis_plain main "$PORT"
URL="redis://127.0.0.1:$PORT"
# Quick retries: the faults below are many; a hung call is abandoned after 2 s.
FAST=(--azure-timeout-sec 2 --azure-retry-attempts 12 --azure-give-up-sec 300)

# --- a data key wrapped by a Key Vault key ------------------------------------------------------
run "$PQRT" keygen data-key --wrap-with kv --out aes.kv $(sp_identity "$FX")
expect "keygen data-key --wrap-with kv wraps with the vault key's public part" 0
check "the wrapped key names the versioned vault key" \
  grep -q "\"kid\": *\"$FX/keys/RSAKey/[0-9a-f]\{32\}\"" aes.kv
"$PQRT" gen-data --records 200 --size-kb 1 --out small.txt 2>/dev/null
run "$PQRT" encrypt records --key aes.kv --in small.txt --out small.enc $(sp_identity "$FX")
expect "encrypt unwraps the data key in the vault with a service principal" 0
run "$PQRT" decrypt records --key aes.kv --unwrap-with kv --in small.enc --out small.back \
  $(mi_identity "$FX")
expect "decrypt unwraps it with the managed identity (IMDS)" 0
check "the records come back unchanged" cmp -s small.txt small.back
check "the vault unwrapped twice; each of the 3 processes asked for one token" \
  test "$(fixture_stat "$FX" '["by_route"]["unwrap"]')" -eq 2 -a \
  "$(fixture_stat "$FX" '["tokens_issued"]')" -eq 3

# --- the account key as a Key Vault secret -------------------------------------------------------
REDIS_PW="redis-pw-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')"
secret "$REDIS_PW"
check "a fixture starts holding the account key and a Redis password as vault secrets" \
  start_fixture fx_secret --secret "storage-key=$AZURITE_KEY" --secret "redis-password=$REDIS_PW"
echo "held in the vault" >secret-test.txt
run "$PQRT" upload "${AZURE_ENDPOINTS[@]}" --storage-account-key keyvault:storage-key \
  $(sp_identity "$FX_URL") --container from-vault secret-test.txt
expect "storage_account_key keyvault:NAME reads the key from Key Vault (get secret)" 0
check "the vault was asked once" test "$(fixture_stat "$FX_URL" '["by_route"]["secrets"]')" -eq 1
run "$PQRT" download "${AZURE_STORAGE[@]}" --container from-vault --name secret-test.txt --out -
check "the blob written with it is there" grep -q "held in the vault" "$WORK/out"
run "$PQRT" upload "${AZURE_ENDPOINTS[@]}" --storage-account-key keyvault:no-such-secret \
  $(sp_identity "$FX_URL") --container from-vault secret-test.txt
expect "an unknown secret fails naming the field and the secret" 1 \
  "storage_account_key: .*404 SecretNotFound"

# --- the Redis password as a Key Vault secret ------------------------------------------------------
AUTH_PORT="$(free_port)"
check "a redis-server with a password starts" start_redis auth "$AUTH_PORT" --requirepass "$REDIS_PW"
REDIS_AT=(--redis-host 127.0.0.1 --redis-port "$AUTH_PORT" --run-id no-such-run)
run "$PQRT" status "${REDIS_AT[@]}"
expect "without the password Redis refuses" 1 "NOAUTH|[Aa]uthentication"
run "$PQRT" status "${REDIS_AT[@]}" --redis-password keyvault:redis-password $(mi_identity "$FX_URL")
expect "redis_password keyvault:NAME signs in to Redis with the vault's secret" 1 \
  "no run no-such-run in Redis"
run "$PQRT" status "${REDIS_AT[@]}" --redis-password keyvault:no-such $(mi_identity "$FX_URL")
expect "an unknown Redis password secret fails naming the field" 1 "redis_password: .*SecretNotFound"

# --- the Python solution's raw RSA-OAEP (SHA-1) wrapped key, with no kid --------------------------
"$PQRT" keygen rsa --out vault.pem --public-out vault.pub.pem --bits 2048 2>/dev/null
check "a second fixture starts with that key as its vault key" start_fixture fx_legacy --key-pem vault.pem
head -c 32 /dev/urandom >dek.bin
openssl pkeyutl -encrypt -pubin -inkey vault.pub.pem -pkeyopt rsa_padding_mode:oaep \
  -in dek.bin -out aes.legacy
rm -f dek.bin
"$PQRT" encrypt records --key aes.legacy --unwrap-with vault.pem --in small.txt --out legacy.enc 2>/dev/null
run "$PQRT" decrypt records --key aes.legacy --in legacy.enc --out legacy.back \
  $(sp_identity "$FX_URL")
expect "a raw legacy key file is unwrapped by the configured vault key (current version)" 0
check "with the same data key" cmp -s small.txt legacy.back

# --- a changed kid never sends a token elsewhere -------------------------------------------------
sed "s|$FX/keys/|http://127.0.0.1:1/keys/|" aes.kv >aes.elsewhere
run "$PQRT" decrypt records --key aes.elsewhere --in small.enc --out /dev/null $(sp_identity "$FX")
expect "a key file naming another host's key is refused" 1 "does not name a key of the vault"

# --- the pipeline with Key Vault, every call faulted at 20% -------------------------------------
"$PQRT" upload "${AZURE_STORAGE[@]}" aes.kv --name aes.encrypted 2>/dev/null
"$PQRT" gen-data --records 2000 --size-kb 1 --out run.plain 2>/dev/null
cp run.plain run.txt
"$PY" -c '
import hashlib, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "w") as out:
    for i, line in enumerate(f):
        out.write("%d\t%s\n" % (i, hashlib.sha256(line.rstrip(b"\n")).hexdigest()))
' run.plain run.expected
# Two faulting fixtures, one in front of each Azurite service. The blob one is also the identity
# provider and the vault for this run (holding vault.pem, like fx_legacy), so its tokens and
# unwraps are faulted too.
check "a faulting fixture starts in front of Azurite's blob service" \
  start_fixture fx_blob --key-pem vault.pem --fault-rate 0.2 --fault-seed 7 --hang-sec 5 \
  --upstream "http://127.0.0.1:$BLOB_PORT"
FXB="$FX_URL"
check "a faulting fixture starts in front of Azurite's queue service" \
  start_fixture fx_queue --fault-rate 0.2 --fault-seed 11 --hang-sec 5 \
  --upstream "http://127.0.0.1:$QUEUE_PORT"
FXQ="$FX_URL"
FAULTY=(--storage azure --storage-account-name devstoreaccount1 --storage-account-key "$AZURITE_KEY"
  --blob-endpoint "$FXB/devstoreaccount1" --queue-endpoint "$FXQ/devstoreaccount1"
  --redis "$URL" --encrypted-data-filename run.enc --processor sha256 "${FAST[@]}")
run "$PQRT" keygen data-key --wrap-with kv --out aes.faulty $(sp_identity "$FXB") "${FAST[@]}"
expect "keygen --wrap-with kv gets the vault key through the faults" 0
"$PQRT" encrypt records --key aes.faulty --in run.txt --out run.enc $(sp_identity "$FXB") \
  "${FAST[@]}" 2>/dev/null
run "$PQRT" upload "${FAULTY[@]}" run.enc aes.faulty
expect "the data file and its key are uploaded through the faults" 0
W=()
for i in 1 2; do
  "$PQRT" --role=worker "${FAULTY[@]}" $(mi_identity "$FXB") \
    --encrypted-aes-key-filename aes.faulty \
    --concurrency 2 >"$WORK/faulty-worker$i.log" 2>&1 &
  W+=($!)
  PIDS+=($!)
done
"$PQRT" --role=scheduler "${FAULTY[@]}" $(sp_identity "$FXB") \
  --encrypted-aes-key-filename aes.faulty \
  --run-id faulty >"$WORK/faulty-scheduler.log" 2>&1
rc=$?
for pid in "${W[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for pid in "${W[@]}"; do wait "$pid" 2>/dev/null; done
check "with 20% of the storage and token calls faulted, the run completes (exit 0)" test "$rc" -eq 0
"$PQRT" results "${AZURE_STORAGE[@]}" $(sp_identity "$FXB") --encrypted-aes-key-filename aes.faulty \
  "${FAST[@]}" --run-id faulty --with-index \
  --out faulty.out 2>"$WORK/faulty-results.log"
check "every record's result is there once, in order, and right" cmp -s faulty.out run.expected
for kind in 503 429 500 hang reset; do
  n=$(($(fixture_stat "$FXB" "[\"faults\"][\"$kind\"]") + $(fixture_stat "$FXQ" "[\"faults\"][\"$kind\"]")))
  check "the fixtures injected '$kind' faults ($n)" test "$n" -gt 0
done
cat "$WORK"/faulty-*.log >faulty-all.txt
check "the logs show the retries of 503s" grep -q "retrying.*HTTP 503" faulty-all.txt
check "the logs show the retries of 429s" grep -q "retrying.*HTTP 429" faulty-all.txt
check "the logs show the retries of 500s" grep -q "retrying.*HTTP 500" faulty-all.txt
check "the logs show the retries of hung and reset connections" \
  grep -q "retrying.*connection failure" faulty-all.txt
check "the Retry-After of 1 s was honoured" grep -q "retrying.*delay_ms=1000" faulty-all.txt

# --- failures: one line, non-zero, nothing claiming success --------------------------------------
"$PQRT" gen-data --records 50 --size-kb 1 --out f.txt 2>/dev/null
"$PQRT" encrypt records --key aes.kv --in f.txt --out f.enc $(sp_identity "$FX") 2>/dev/null
"$PQRT" upload "${AZURE_STORAGE[@]}" f.enc 2>/dev/null
GOOD=(--redis "$URL" --encrypted-data-filename f.enc --processor sha256 --azure-timeout-sec 2
  --azure-retry-attempts 2)
# failed_run NAME RUN PATTERN ARGS...: a scheduler that must fail naming the cause in one error
# line, leaving no job, no run record that says complete and no manifest.
failed_run() {
  local name="$1" id="$2" pattern="$3"
  shift 3
  run "$PQRT" --role=scheduler "${GOOD[@]}" --run-id "$id" "$@"
  cp "$WORK/err" "$WORK/failed-$id.log"
  expect "$name: a non-zero exit naming the cause" 1 "$pattern"
  check "$name: exactly one error line" test "$(grep -c ' error ' "$WORK/err")" -eq 1
  check "$name: no job of the run in Redis" \
    test "$(redis-cli -u "$URL" --scan --pattern "rq:job:$id-*" | wc -l)" -eq 0
  check "$name: no run record claims success" \
    sh -c "! redis-cli -u '$URL' hget 'pqrt:run:$id' state | grep -q complete"
  check "$name: no manifest" sh -c "! '$PQRT' download ${AZURE_STORAGE[*]} --container results \
    --name '$id/manifest.jsonl' --out - >/dev/null 2>&1"
}
WRONG_KEY="$(head -c 64 /dev/urandom | base64 -w0)"
secret "$WRONG_KEY"
failed_run "wrong account key" wrongkey "403.*AuthorizationFailure" \
  "${AZURE_ENDPOINTS[@]}" --storage-account-key "$WRONG_KEY" $(sp_identity "$FX")
EXPIRED="$("$PQRT" sas container encrypted-data "${AZURE_STORAGE[@]}" --start-offset -7200 \
  --valid-for -3600)"
secret "$EXPIRED" "$(printf '%s' "$EXPIRED" | sed 's/.*sig=//; s/&.*//')"
failed_run "expired SAS" expired "403" "${AZURE_ENDPOINTS[@]}" --encrypted-files-sas-token "$EXPIRED" $(sp_identity "$FX")
failed_run "unknown container" nocontainer "404.*ContainerNotFound" \
  "${AZURE_STORAGE[@]}" --storage-container-name no-such-container $(sp_identity "$FX")
fixture_config "$FX" '{"forbid": true}'
failed_run "Key Vault 403" forbidden "403 Forbidden/ForbiddenByPolicy" \
  "${AZURE_STORAGE[@]}" $(sp_identity "$FX")
fixture_config "$FX" '{"forbid": false}'
PQRT_SERVICE_PRINCIPAL_SECRET="wrong-$FX_CLIENT_SECRET" failed_run "wrong client secret" \
  badsecret "401 invalid_client: AADSTS7000215" "${AZURE_STORAGE[@]}" $(sp_identity "$FX")
check "no error text holds the client secret" sh -c "! grep -rqF -- '$FX_CLIENT_SECRET' '$WORK'/*.log '$WORK/err'"

finish
