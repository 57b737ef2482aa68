#!/usr/bin/env bash
# Configuration through the real binary: every source, errors naming field and source, secrets.
source "$(dirname "$0")/lib.sh"

cfg="$WORK/config.json"

echo '{"redis_host": "10.0.0.5", "redis_hots": "x"}' >"$cfg"
run "$PQRT" --role=worker --config "$cfg"
expect "an unknown field fails naming it and the file" 3 "redis_hots.*$cfg|$cfg.*redis_hots"
check "and suggests the near field" grep -q "redis_host" "$WORK/err"

echo '{"redis_port": "abc"}' >"$cfg"
run "$PQRT" --role=worker --config "$cfg"
expect "redis_port \"abc\" fails naming the field" 3 "redis_port"

run env PQRT_REDIS_PORT=abc "$PQRT" --role=worker
expect "a bad environment value names the variable" 3 "PQRT_REDIS_PORT"

run env PQRT_REDIS_PROT=1 "$PQRT" --role=worker
expect "an unknown PQRT_ variable is named" 3 "PQRT_REDIS_PROT"

run "$PQRT" --role=worker --redis-port=99999
expect "an out-of-range flag value names the flag" 3 "redis_port|redis-port"

echo '{"redis_port": 6380' >"$cfg"
run "$PQRT" --role=worker --config "$cfg"
expect "invalid JSON names the file" 3 "$cfg"

run "$PQRT" --dump-config --config "$WORK/missing.json"
expect "a missing config file is named" 3 "missing.json"

# Precedence: flag > environment > file > custom data > default.
echo '{"redis_host": "from-custom-data", "queue_name": "cd", "run_id": "cd", "dataset_id": "cd"}' \
  | base64 >"$WORK/custom-data"
echo '{"redis_host": "from-file", "queue_name": "file", "run_id": "file"}' >"$cfg"
run env PQRT_REDIS_HOST=from-env PQRT_QUEUE_NAME=env "$PQRT" --dump-config --config "$cfg" \
  --custom-data "$WORK/custom-data" --redis-host from-flag
expect "--dump-config with every source exits 0" 0
check "a flag beats everything" grep -q '"redis_host": *"from-flag"' "$WORK/out"
check "the environment beats the file" grep -q '"queue_name": *"env"' "$WORK/out"
check "the file beats custom data" grep -q '"run_id": *"file"' "$WORK/out"
check "custom data beats the default" grep -q '"dataset_id": *"cd"' "$WORK/out"
check "defaults fill the rest" grep -q '"redis_port": *6379' "$WORK/out"

run "$PQRT" --dump-config --config "$SOURCE_DIR/config/config.example.json"
expect "config/config.example.json loads" 0
check "with its ignored fields at their defaults, no warning about them" \
  bash -c "! grep -q 'Python solution' '$WORK/err'"

# A field nothing reads (config/README.md, "Ignored fields"): accepted, one warning naming it
# whichever sources set it, the load goes on. stderr is a file here, so the lines are JSON.
echo '{"number_of_records": 5000, "redis_port": 6380}' >"$cfg"
run env PQRT_NUMBER_OF_RECORDS=6000 "$PQRT" --dump-config --config "$cfg" --number-of-records 7000
expect "an ignored field at a non-default value still loads" 0
check "and logs one warning naming it" \
  test "$(grep -c '"level":"warn".*"field":"number_of_records"' "$WORK/err")" = 1
check "the warning names the winning source" grep -q '"source":"flag --number-of-records"' "$WORK/err"
check "no warning names a field that is read" bash -c "! grep -q redis_port '$WORK/err'"
check "the value is kept" grep -q '"number_of_records": *7000' "$WORK/out"

# Secrets: never printed, in a dump or in an error.
secret="VerySecretKey0123456789abcdef=="
secret "$secret" hunter2hunter2
run env PQRT_STORAGE_ACCOUNT_KEY="$secret" PQRT_REDIS_PASSWORD="hunter2hunter2" "$PQRT" --dump-config
expect "a dump with secrets set exits 0" 0
check "the dump hides the account key" bash -c "! grep -q '$secret' '$WORK/out'"
check "the dump hides the redis password" bash -c "! grep -q hunter2hunter2 '$WORK/out'"
echo '{"redis_password": 98765432109876}' >"$cfg"
run env PQRT_STORAGE_ACCOUNT_KEY="$secret" "$PQRT" --role=worker --config "$cfg" --log-level=debug
expect "a secret of the wrong type fails naming the field" 3 "redis_password"
check "without echoing its value" bash -c "! grep -q 98765432109876 '$WORK/err'"
check "and no other secret shows" bash -c "! grep -q '$secret' '$WORK/err'"

finish
