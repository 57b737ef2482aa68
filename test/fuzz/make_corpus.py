#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus, test/fuzz/corpus/<target>/: a handful of small valid
and near-valid inputs each. Python 3 with python3-cryptography (install_deps.sh --test).

    test/fuzz/make_corpus.py        rewrites every corpus/<target>/ directory

The cipher seeds are sealed under the targets' fixed test key (bytes 0x00..0x1f, fuzz.hpp) with
fixed nonces, so a rerun writes the same files, except the Key Vault JWK (a fresh RSA key)."""

import base64
import hashlib
import hmac
import json
import os
import pickle
import shutil
import struct
import sys
import zlib

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
KEY = bytes(range(32))
KEY_CHECK = hmac.new(KEY, b"pqrt key check v1", hashlib.sha256).digest()[:4]


def b64(data):
    return base64.b64encode(data).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def nonce(n, size):
    return hashlib.sha256(b"nonce %d" % n).digest()[:size]


# --- transport --------------------------------------------------------------------------------

def resp():
    return {
        "status": b"+OK\r\n",
        "error": b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        "integer": b":-42\r\n",
        "bulk": b"$5\r\nhe\x00lo\r\n",
        "nil": b"$-1\r\n*-1\r\n",
        "nested": b"*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+x\r\n$0\r\n\r\n",
        "pipeline": b"+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$2\r\nok\r\n",
        "short_bulk": b"$5\r\nhell",
        "long_bulk": b"$3\r\nabcd\r\n",
        "unknown_type": b"%1\r\n+a\r\n+b\r\n",
    }


PY_VALUES = [
    None, True, 7, -2**70, 1.5, float("nan"), "h\u00e9llo \U0001F600", b"\x00\xff", bytearray(b"ba"),
    [1, [2, [3]]], (), (1,), (1, 2, 3), {"a": 1, 2: [None], (1, "t"): b"x"},
]


def pickles():
    seeds = {}
    shared = ["shared"]
    for proto in (2, 3, 4, 5):
        seeds["values_p%d" % proto] = pickle.dumps(PY_VALUES, protocol=proto)
    seeds["memo_shared"] = pickle.dumps([shared, shared, {"k": shared}], protocol=5)
    seeds["job_tuple"] = pickle.dumps(("pqrt.sha256", None, ("rec",), {"n": 1}), protocol=5)
    big = pickle.dumps(list(range(1500)), protocol=5)  # batches of 1000 (APPENDS)
    seeds["batched_list"] = big
    seeds["truncated"] = seeds["values_p5"][:40]
    seeds["object"] = b"\x80\x05\x95\x0e\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."
    return seeds


def json_texts():
    return {
        "scalars": b'[null, true, false, 0, -12, 1.5e300, "\\u00e9\\ud83d\\ude00"]',
        "nested": b'{"a": {"b": [1, {"c": []}]}, "a": 2}',
        "big_int": b"123456789012345678901234567890",
        "specials": b"[NaN, Infinity, -Infinity, -0.0]",
        "lone_surrogate": b'"\\ud800"',
        "truncated": b'{"a": [1, 2',
    }


def rq_job_data():
    call = ("tasks.add", None, (1, 2), {"k": "v"})
    call_json = ["tasks.add", None, [1, 2], {"k": "v"}]
    return {
        "job_pickle": b"\x00" + zlib.compress(pickle.dumps(call, protocol=5)),
        "job_json": b"\x01" + zlib.compress(json.dumps(call_json).encode()),
        "job_pickle_raw": b"\x00" + pickle.dumps(call, protocol=5),
        "job_wrong_shape": b"\x01" + zlib.compress(b'["f", null, 3, {}]'),
        "job_truncated_zlib": b"\x00" + zlib.compress(pickle.dumps(call, protocol=5))[:-6],
        "record_job": b"\x00" + zlib.compress(pickle.dumps(
            ("pqrt.record", None, ("r1", "ds", 4, "c2VhbGVk"), {"processor": "sha256"}),
            protocol=5)),
        "records_job": b"\x00" + zlib.compress(pickle.dumps(
            ("pqrt.records", None, ("r1", "ds", 64, ["c2VhbGVk", "b3RoZXI="]),
             {"processor": "exec"}), protocol=5)),
        "return_pickle": b"\x02" + b64(pickle.dumps({"sha": "ab", "n": [1]}, protocol=5)).encode(),
        "return_json": b"\x03" + b64(b'{"ok": true}').encode(),
        "exc_string": b"\x04" + b64(zlib.compress(b"Traceback (most recent call last):\n")).encode(),
        "exc_info": b"\x05" + zlib.compress(b"ValueError: bad record"),
        "exc_info_raw": b"\x05" + b"plain text",
    }


def redis_urls():
    return {
        "plain": b"redis://localhost",
        "tls_full": b"rediss://alice:p%40ss%3Aword@cache.redis.cache.windows.net:6380/2"
                    b"?ca=/etc/ssl/ca.pem&sni=cache.example&timeout_ms=250",
        "password_only": b"redis://:secret-password@10.0.0.4:6379/0",
        "ipv6": b"redis://[::1]:7000/15",
        "unix": b"unix://:pw@/run/redis/redis.sock?db=3&timeout_ms=100",
        "bad_port": b"redis://host:99999",
        "bad_escape": b"redis://:pw%4@host",
        "bad_option": b"rediss://host?verify=none",
    }


# --- crypto -----------------------------------------------------------------------------------

def base64_texts():
    long = bytes(range(256)) * 2
    return {
        "empty": b"",
        "one": b"Zg==",
        "two": b"Zm8=",
        "three": b"Zm9v",
        "long": b64(long).encode(),          # long enough for the AVX2 kernels
        "long_cr": b64(long[:99]).encode() + b"\r\n",
        "non_canonical": b"Zh==",
        "bad_char": b64(long[:48]).encode().replace(b"A", b"-", 1),
        "bad_length": b"Zm9vY",
    }


def seal_record(dataset, index, plaintext, n):
    iv = nonce(n, 12)
    header = bytes([1]) + KEY_CHECK + struct.pack(">Q", index)
    sealed = AESGCM(KEY).encrypt(iv, plaintext, header + iv + dataset)
    return b64(header + iv + sealed).encode()


def records():
    header = b"#pqrt-records v1 dataset=fuzz key=" + KEY_CHECK.hex().encode()
    lines = [seal_record(b"fuzz", i, rec, i) for i, rec in
             enumerate([b"first record", b"", b'{"id": 3, "v": [1, 2]}'])]
    swapped = seal_record(b"fuzz", 7, b"claims 7", 9)
    other_set = seal_record(b"other", 0, b"other data set", 10)
    changed = bytearray(lines[0])
    changed[-5] = ord("A") if changed[-5] != ord("A") else ord("B")
    return {
        "file": b"\n".join([header] + lines) + b"\n",
        "one_line": lines[0],
        "swapped": b"\n".join([header, lines[1], swapped]),
        "other_dataset": other_set,
        "changed": bytes(changed),
        "bad_header": b"#pqrt-records v2 dataset=fuzz key=zz\n" + lines[0],
    }


def encrypt_file(plaintext, chunk, context=b"fuzz", n=0, cut=None):
    prefix = nonce(n, 7)
    header = b"PQRTFILE" + bytes([1]) + KEY_CHECK + struct.pack(">I", chunk) + prefix
    pieces = [plaintext[i:i + chunk] for i in range(0, len(plaintext), chunk)] or [b""]
    if len(pieces[-1]) == chunk:
        pieces.append(b"")
    out = header
    for i, piece in enumerate(pieces):
        final = i == len(pieces) - 1
        iv = prefix + struct.pack(">I", i) + bytes([1 if final else 0])
        out += AESGCM(KEY).encrypt(iv, piece, header + context)
    return out if cut is None else out[:cut]


def files():
    text = b"the processing script, or a result blob\n" * 4
    return {
        "empty": encrypt_file(b"", 64),
        "one_chunk": encrypt_file(b"print('hello')\n", 64, n=1),
        "chunks_16": encrypt_file(text, 16, n=2),
        "exact_chunks": encrypt_file(text[:64], 32, n=3),
        "truncated": encrypt_file(text, 16, n=4, cut=24 + 2 * 32 + 5),
        "other_context": encrypt_file(b"moved blob", 64, context=b"another/blob", n=5),
        "header_only": encrypt_file(b"", 64, n=6)[:24],
        "bad_magic": b"PQRTFILX" + encrypt_file(b"x", 64, n=7)[8:],
    }


def legacy_line(record, n):
    iv = nonce(100 + n, 16)
    padded = record + b"\0" * (16 - len(record) % 16)
    enc = Cipher(algorithms.AES(KEY), modes.CBC(iv)).encryptor()
    return b64(iv + enc.update(padded) + enc.finalize()).encode()


def legacy():
    lines = [legacy_line(r, i) for i, r in enumerate([b"legacy record one", b"0123456789abcdef",
                                                      b'{"id": 1}'])]
    return {
        "file": b"\n".join(lines) + b"\n",
        "one_line": lines[0],
        "iv_only": b64(nonce(200, 16)).encode(),
        "partial_block": b64(nonce(201, 16) + b"\x01" * 20).encode(),
        "crlf": lines[1] + b"\r\n",
    }


def wrapped_keys():
    blob = hashlib.sha512(b"wrapped").digest() * 4  # 256 bytes, as RSA-2048 would give
    doc = {"format": "pqrt-wrapped-key", "version": 1, "alg": "RSA-OAEP-256",
           "kid": "local:sha256:" + hashlib.sha256(b"spki").hexdigest(),
           "key_check": KEY_CHECK.hex(), "wrapped_key": b64(blob)}
    vault = dict(doc, alg="RSA-OAEP", kid="https://kv.vault.azure.net/keys/data/0123abcd")
    del vault["key_check"]
    return {
        "local": (json.dumps(doc, indent=2) + "\n").encode(),
        "vault": json.dumps(vault).encode(),
        "legacy_raw": bytes([0x80 | (b & 0x7f) for b in blob]),
        "version_2": json.dumps(dict(doc, version=2)).encode(),
        "bad_check": json.dumps(dict(doc, key_check="ABCDEF01")).encode(),
        "not_json": b'{"format": "pqrt-wrapped-key", ',
    }


# --- config -----------------------------------------------------------------------------------

def configs():
    small = {"redis_host": "10.0.0.4", "redis_port": 6380, "redis_ssl": True,
             "storage_account_name": "acct", "job_queue_name": "jobs"}
    text = json.dumps(small, indent=2).encode()
    with open(os.path.join(HERE, "..", "..", "config", "config.example.json"), "rb") as f:
        example = f.read()
    return {
        "file_example": b"\x00" + example,
        "file_small": b"\x00" + text,
        "custom_base64": b"\x01" + base64.encodebytes(text),
        "custom_json": b"\x01" + b"\xef\xbb\xbf" + text,
        "both": b"\x02" + text,
        "unknown_field": b"\x00" + b'{"redis_hots": "x"}',
        "wrong_type": b"\x00" + b'{"redis_port": "6379"}',
        "set_twice": b"\x00" + b'{"redis_port": 1, "redis_port": 2}',
        "bad_base64": b"\x01" + b"eyJyZWRpc19wb3J0Ijo=x",
    }


# --- azure ------------------------------------------------------------------------------------

def storage_xml():
    blobs = (b'<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
             b'ServiceEndpoint="https://acct.blob.core.windows.net/" ContainerName="results">'
             b"<Prefix>run-1/</Prefix><MaxResults>5000</MaxResults><Blobs>"
             b"<Blob><Name>run-1/part-0000.bin</Name><Properties><Content-Length>1024"
             b"</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>"
             b"<Blob><Name>run-1/a&amp;b &#x263A;</Name><Properties><Content-Length />"
             b"</Properties></Blob></Blobs><NextMarker>2!80!MDAwMDQ3</NextMarker>"
             b"</EnumerationResults>")
    messages = (b'<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage>'
                b"<MessageId>5974b586-0df3-4e2d-ad0c-18e3892bfca2</MessageId>"
                b"<InsertionTime>Fri, 09 Oct 2009 21:04:30 GMT</InsertionTime>"
                b"<PopReceipt>YzQ4Yzg1MDItYTc0Ny00OWNjLTkxYTUtZGM0MDFiZDAwYzEx</PopReceipt>"
                b"<DequeueCount>2</DequeueCount><MessageText>" +
                b64(b'{"job": "j1", "status": "finished"}').encode() +
                b"</MessageText></QueueMessage><QueueMessage><MessageId>2</MessageId>"
                b"<MessageText></MessageText></QueueMessage></QueueMessagesList>")
    return {
        "blob_list": b"\x00" + blobs,
        "blob_list_last": b"\x00" + blobs.replace(b"<NextMarker>2!80!MDAwMDQ3</NextMarker>",
                                                  b"<NextMarker />"),
        "blob_list_cut": b"\x00" + blobs[:200],
        "messages": b"\x01" + messages,
        "messages_not_base64": b"\x01" + messages.replace(b"<MessageText></MessageText>",
                                                          b"<MessageText>not base64!</MessageText>"),
        "messages_empty": b"\x01" + b"<QueueMessagesList />",
    }


def tokens():
    return {
        "v2": b'{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,'
              b'"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln"}',
        "imds": b'{"access_token":"eyJ0eXAi.eyJhdWQi.c2ln","client_id":"00000000-0000-0000-0000",'
                b'"expires_in":"86399","expires_on":"1700086399","not_before":"1699999999",'
                b'"resource":"https://vault.azure.net","token_type":"Bearer"}',
        "no_expiry": b'{"access_token":"tok"}',
        "zero_expiry": b'{"access_token":"tok","expires_in":"0"}',
        "error": b'{"error":"invalid_client","error_description":"AADSTS7000215: Invalid secret"}',
    }


def key_vault():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    n = key.n.to_bytes(256, "big")
    kid = "https://kv.vault.azure.net/keys/data/4f1b2c3d"
    jwk = {"key": {"kid": kid, "kty": "RSA", "key_ops": ["wrapKey", "unwrapKey"],
                   "n": b64url(n), "e": b64url(b"\x01\x00\x01")},
           "attributes": {"enabled": True, "created": 1700000000}}
    return {
        "get_key": b"\x00" + json.dumps(jwk).encode(),
        "get_key_ec": b"\x00" + json.dumps({"key": {"kid": kid, "kty": "EC", "crv": "P-256"}}).encode(),
        "get_key_bad_n": b"\x00" + json.dumps({"key": dict(jwk["key"], n="!!")}).encode(),
        "unwrap": b"\x01" + json.dumps({"kid": kid, "value": b64url(hashlib.sha256(b"k").digest())}).encode(),
        "unwrap_empty": b"\x01" + b'{"kid":"x","value":""}',
        "secret": b"\x02" + b'{"value":"redis-password","id":"https://kv.vault.azure.net/secrets/redis/1",'
                            b'"attributes":{"enabled":true}}',
        "secret_number": b"\x02" + b'{"value":42}',
    }


def arm():
    page = {"value": [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/"
                             "virtualMachineScaleSets/vmss/virtualMachines/0",
                       "name": "vmss_0", "location": "westeurope",
                       "properties": {"osProfile": {"computerName": "vmss000000"}}},
                      {"id": "/subscriptions/s/.../1", "name": "vmss_1", "location": "westeurope"}],
            "nextLink": "https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/"
                        "Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines"
                        "?api-version=2024-07-01&%24skiptoken=abc%3D%3D"}
    points = [{"timeStamp": "2024-01-01T00:00:00Z", "average": 12.5, "maximum": 14.0, "total": 750.0},
              {"timeStamp": "2024-01-01T00:01:00Z"}]
    metrics = {"cost": 2, "timespan": "2024-01-01T00:00:00Z/2024-01-01T00:02:00Z", "interval": "PT1M",
               "value": [{"id": "x/providers/Microsoft.Insights/metrics/PercentageCPU",
                          "name": {"value": "Percentage CPU", "localizedValue": "Percentage CPU"},
                          "unit": "Percent", "errorCode": "Success",
                          "timeseries": [{"metadatavalues": [{"name": {"value": "vmname"},
                                                              "value": "vmss_0"}],
                                          "data": points}]},
                         {"name": {"value": "Available Memory Bytes"}, "unit": "Bytes",
                          "errorCode": "InvalidSamplingType", "errorMessage": "no such metric",
                          "timeseries": []}],
               "namespace": "Microsoft.Compute/virtualMachineScaleSets"}
    return {
        "page": b"\x00" + json.dumps(page).encode(),
        "last_page": b"\x00" + b'{"value":[]}',
        "item_without_name": b"\x00" + b'{"value":[{"id":"/x"}]}',
        "metrics": b"\x01" + json.dumps(metrics).encode(),
        "metrics_no_value": b"\x01" + b'{"timespan":"a/b"}',
        "scale_set": b"\x03" + b'{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/'
                                b'virtualMachineScaleSets/vmss","sku":{"name":"Standard_D2s_v3",'
                                b'"tier":"Standard","capacity":3}}',
        "scale_set_negative": b"\x03" + b'{"sku":{"capacity":-1}}',
    }


def azure_errors():
    return {
        "storage_xml": b"\x03" + b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ContainerNotFound'
                                 b"</Code><Message>The specified container does not exist.\n"
                                 b"RequestId:a9e3c8e6 Time:2024-01-01T00:00:00Z</Message></Error>",
        "arm_json": b"\x02" + b'{"error":{"code":"AuthorizationFailed","message":"The client does not '
                              b'have authorization","innererror":{"code":"ForbiddenByRbac"}}}',
        "entra": b"\x00" + b'{"error":"invalid_client","error_description":"AADSTS7000215: bad\\r\\nsecret"}',
        "throttled": b"\x07" + b'{"error":{"code":"TooManyRequests"}}',
        "not_an_error": b"\x08" + b"<html>502 Bad Gateway</html>",
    }


def scheduled_events():
    doc = {"DocumentIncarnation": 3, "Events": [
        {"EventId": "C7061BAC-AFDC-4513-B24B-AA5F13A16123", "EventStatus": "Scheduled",
         "EventType": "Preempt", "ResourceType": "VirtualMachine", "Resources": ["vm-fuzz"],
         "NotBefore": "Tue, 14 Nov 2023 22:14:00 GMT", "Description": "Spot eviction",
         "EventSource": "Platform", "DurationInSeconds": -1},
        {"EventId": "E-2", "EventStatus": "Started", "EventType": "Reboot",
         "ResourceType": "VirtualMachine", "Resources": ["VM-FUZZ", "other"], "NotBefore": "",
         "EventSource": "User", "DurationInSeconds": 300}]}
    return {
        "events": json.dumps(doc, indent=1).encode(),
        "empty": b'{"DocumentIncarnation": 1, "Events": []}',
        "freeze_no_weekday": b'{"DocumentIncarnation":2,"Events":[{"EventId":"a","EventType":"Freeze",'
                             b'"Resources":["vm-fuzz"],"EventStatus":"Scheduled",'
                             b'"NotBefore":"14 Nov 2023 22:13:30 GMT"}]}',
        "missing_id": b'{"DocumentIncarnation":2,"Events":[{"EventType":"Terminate","Resources":[]}]}',
        "bad_incarnation": b'{"DocumentIncarnation":"2","Events":[]}',
    }


# --- runtime ----------------------------------------------------------------------------------

def scrapes():
    metrics = b"\0".join([b"cpqrt_jobs_total", b"Jobs done", b"queue", b"default",
                          b"gpqrt_executors_busy", b"Busy \\ executors\nnow", b"", b"",
                          b"hpqrt_job_seconds", b"Job time", b"role", b'wor"ker\\\n'])
    return {
        "get": b"GET /metrics HTTP/1.1\r\nHost: localhost:9464\r\nAccept: */*\r\n\r\n\0" + metrics,
        "get_query": b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n",
        "post": b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
        "not_found": b"GET / HTTP/1.1\r\n\r\n\0cup\0\0\0\0",
        "bad_version": b"GET /metrics HTTP/2\r\n\r\n",
        "no_blank_line": b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
        "bad_names": b"GET /metrics HTTP/1.1\r\n\r\n\0c9bad\0h\0__x\0v\0gle\0h\0le\0v",
    }


TARGETS = {
    "fuzz_resp": resp, "fuzz_pickle": pickles, "fuzz_rq_json": json_texts,
    "fuzz_rq_job_data": rq_job_data, "fuzz_redis_url": redis_urls, "fuzz_base64": base64_texts,
    "fuzz_record_cipher": records, "fuzz_file_cipher": files, "fuzz_legacy": legacy,
    "fuzz_wrapped_key": wrapped_keys, "fuzz_config": configs,
    "fuzz_azure_storage_xml": storage_xml, "fuzz_azure_token": tokens,
    "fuzz_azure_key_vault": key_vault, "fuzz_azure_arm": arm, "fuzz_azure_error": azure_errors,
    "fuzz_scheduled_events": scheduled_events, "fuzz_metrics_scrape": scrapes,
}


def main():
    for target, make in TARGETS.items():
        folder = os.path.join(CORPUS, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in make().items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    print("make_corpus.py: wrote %d targets into %s" % (len(TARGETS), CORPUS), file=sys.stderr)


if __name__ == "__main__":
    main()
