#!/usr/bin/env bash
# The command line of the real binary: help, version, usage errors, roles not built.
source "$(dirname "$0")/lib.sh"

run "$PQRT" --help
expect "--help exits 0" 0
check "--help lists the roles and subcommands" grep -q "keygen" "$WORK/out"

run "$PQRT" --version
expect "--version exits 0" 0
check "--version prints the version" grep -qE "^pqrt [0-9]+\.[0-9]+\.[0-9]+$" "$WORK/out"

run "$PQRT" --frobnicate
expect "an unknown flag exits 2 naming it" 2 "unknown option '--frobnicate'"
check "the usage hint follows" grep -q "Try 'pqrt --help'" "$WORK/err"
check "the error is one line plus the hint" test "$(wc -l <"$WORK/err")" -eq 2

run "$PQRT" --role=painter
expect "an unknown role exits 2 naming it" 2 "unknown role 'painter'"

run "$PQRT" frobnicate
expect "an unknown subcommand exits 2 naming it" 2 "unknown subcommand 'frobnicate'"

run "$PQRT" keygen --bitz 4
expect "an unknown tool flag exits 2 naming it" 2 "pqrt keygen: unknown option '--bitz'"

run "$PQRT"
expect "no arguments is a usage error" 2 "Try 'pqrt --help'"

run "$PQRT" --role=metrics --log-format=text
expect "--role=metrics without a subscription names the field and exits 3" 3 "subscription_id: required for metrics"
run "$PQRT" --role=metrics --log-format=text --subscription-id s --metrics-vm-resource-group rg \
  --once --interval 5x
expect "--role=metrics with a bad --interval is a usage error" 2 "bad --interval '5x'"

run "$PQRT" --role=scheduler --log-format=text
expect "a scheduler on Azure storage without an account names the fields and exits 3" 3 \
  "storage azure needs storage_account_name"
run "$PQRT" --role=scheduler --storage local --log-format=text
expect "a scheduler with Key Vault keys but no vault URL names the field and exits 3" 3 \
  "azure_keyvault_url: required for Key Vault"
run "$PQRT" --role=scheduler --storage local --log-format=text --azure-keyvault-url https://v.example
expect "a scheduler with a vault but no Azure identity names the fields and exits 3" 3 \
  "Azure credentials: set tenant_id, service_principal_client_id and service_principal_secret, or use_managed_identity"
run "$PQRT" --role=scheduler --storage local --log-format=text --azure-keyvault-url https://v.example \
  --service-principal-client-id app --service-principal-secret s3cret-value
expect "a service principal without a tenant names the field and exits 3" 3 "tenant_id: required"
run "$PQRT" --role=local --log-format=text
expect "the local role without an RSA key names the field and exits 3" 3 \
  "rsa_private_key_file: required when key_source is local"
run "$PQRT" --role=scheduler --storage local --key-source local --rsa-private-key-file /nonexistent.pem --log-format=text
expect "a scheduler whose key file is missing names it" 3 "/nonexistent.pem"

run "$PQRT" --role=metrics --log-format=json
check "JSON log lines carry level and component" \
  grep -q '"level":"error","component":"metrics"' "$WORK/err"

run "$PQRT" --role=worker --redis redis://127.0.0.1:1 --redis-give-up-sec 1 --log-format=text
expect "a worker whose Redis is unreachable fails naming it" 1 "cannot reach Redis.*127.0.0.1:1"

finish
