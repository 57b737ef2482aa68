"""The Python RQ pipeline's job and its crypto, for test/bench/pipeline.sh (see pipeline_python.py).

Formats (pqrt's, see crypto/record_cipher.hpp, crypto/file_cipher.hpp, crypto/key_wrap.hpp):
* wrapped key: JSON {"alg": "RSA-OAEP-256" | "RSA-OAEP", "key_check": "<8 hex>",
  "wrapped_key": "<base64>", ...}; a file that is not JSON is a raw RSA-OAEP (SHA-1) blob.
* records file: header line "#pqrt-records v1 dataset=<id> key=<check>", then one base64 line per
  record: version 0x01 (1) | key check (4) | index (8, big endian) | nonce (12) | ciphertext | tag
  (16); AES-256-GCM with associated data = those first 25 bytes followed by the data set id.
* encrypted file (the script): header (24) = "PQRTFILE" | 0x01 | key check (4) | chunk size (4, BE)
  | nonce prefix (7), then chunks of AES-256-GCM(chunk) | tag (16); nonce_i = prefix | i (4, BE) |
  0x01 for the final chunk else 0x00; associated data = header | context.
* key check: the first 4 bytes of HMAC-SHA256(key, "pqrt key check v1").

Results are sealed in the record envelope too (fresh random nonce), under the data set id
"<dataset id>/results" so that a result cannot pass for an input record.

A worker process calls `configure` once (data key, processor, script) before it serves jobs;
`process_record` is the RQ job function.
"""

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import os
import struct
import subprocess

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
RECORD_VERSION = 1
RECORD_AAD_SIZE = 1 + 4 + 8 + NONCE_SIZE  # 25: everything before the ciphertext
RECORD_OVERHEAD = RECORD_AAD_SIZE + TAG_SIZE
RECORDS_HEADER_PREFIX = "#pqrt-records v1 dataset="
FILE_MAGIC = b"PQRTFILE"
FILE_HEADER_SIZE = 24
PYTHON = "/usr/bin/python3"


class CryptoError(Exception):
    """A key, record or file that does not open (wrong key, changed bytes, wrong binding)."""


# --- keys ---------------------------------------------------------------------------------------


def key_check(key):
    """The 4-byte key check of a data key (names the key without revealing it)."""
    return hmac.new(key, b"pqrt key check v1", hashlib.sha256).digest()[:4]


def unwrap_data_key(wrapped_path, rsa_pem_path):
    """Unwraps the data key of a wrapped-key file with an RSA private key (PEM)."""
    with open(rsa_pem_path, "rb") as f:
        private_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(wrapped_path, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw)
        alg, blob, check = doc["alg"], base64.b64decode(doc["wrapped_key"]), doc.get("key_check")
    except (ValueError, KeyError, TypeError):
        alg, blob, check = "RSA-OAEP", raw, None  # the Python solution's raw RSA-OAEP blob
    digest = {"RSA-OAEP-256": hashes.SHA256, "RSA-OAEP": hashes.SHA1}.get(alg)
    if digest is None:
        raise CryptoError(f"{wrapped_path}: unsupported wrapping algorithm {alg!r}")
    key = private_key.decrypt(
        blob, padding.OAEP(mgf=padding.MGF1(algorithm=digest()), algorithm=digest(), label=None))
    if len(key) != KEY_SIZE:
        raise CryptoError(f"{wrapped_path}: the data key has {len(key)} bytes, not {KEY_SIZE}")
    if check and key_check(key).hex() != check:
        raise CryptoError(f"{wrapped_path}: key check {key_check(key).hex()}, "
                          f"the file says {check}")
    return key


# --- records ------------------------------------------------------------------------------------


def parse_records_header(line):
    """(dataset id, key check hex) of a records file's header line."""
    line = line.rstrip("\r\n")
    at = line.rfind(" key=")
    if not line.startswith(RECORDS_HEADER_PREFIX) or at < len(RECORDS_HEADER_PREFIX):
        raise CryptoError(f"not a records header: {line[:60]!r}")
    return line[len(RECORDS_HEADER_PREFIX):at], line[at + len(" key="):]


def open_record(aead, check, dataset_id, index, line):
    """Plaintext bytes of one sealed record line, checked to belong to `dataset_id` at `index`."""
    try:
        sealed = base64.b64decode(line, validate=True)
    except binascii.Error as e:
        raise CryptoError(f"record {index}: not base64") from e
    if len(sealed) < RECORD_OVERHEAD or sealed[0] != RECORD_VERSION:
        raise CryptoError(f"record {index}: too short or not envelope version 1")
    if sealed[1:5] != check:
        raise CryptoError(f"record {index}: wrong key: sealed under key {sealed[1:5].hex()}")
    nonce = sealed[13:RECORD_AAD_SIZE]
    aad = sealed[:RECORD_AAD_SIZE] + dataset_id.encode()
    try:
        plaintext = aead.decrypt(nonce, sealed[RECORD_AAD_SIZE:], aad)
    except Exception as e:  # cryptography's InvalidTag
        raise CryptoError(f"record {index}: authentication failed") from e
    # Authenticated, so the index in the envelope is the one the record was sealed for.
    sealed_index = struct.unpack_from(">Q", sealed, 5)[0]
    if sealed_index != index:
        raise CryptoError(f"record {index}: sealed for index {sealed_index} (swapped)")
    return plaintext


def seal_record(aead, check, dataset_id, index, plaintext):
    """One record envelope, base64 (str): a fresh random 12-byte nonce per call."""
    head = struct.pack(">B4sQ12s", RECORD_VERSION, check, index, os.urandom(NONCE_SIZE))
    sealed = aead.encrypt(head[13:], plaintext, head + dataset_id.encode())
    return base64.b64encode(head + sealed).decode("ascii")


def results_dataset(dataset_id):
    """The data set id results are sealed under."""
    return dataset_id + "/results"


# --- encrypted files (the script) ---------------------------------------------------------------


def decrypt_file(key, data, context):
    """Plaintext of a whole pqrt encrypted file held in memory (`context`: e.g. "script")."""
    header = data[:FILE_HEADER_SIZE]
    if len(header) < FILE_HEADER_SIZE or header[:8] != FILE_MAGIC or header[8] != 1:
        raise CryptoError("not a pqrt encrypted file (version 1)")
    if header[9:13] != key_check(key):
        raise CryptoError(f"wrong key: file encrypted under key {header[9:13].hex()}")
    chunk_size = struct.unpack_from(">I", header, 13)[0]
    prefix = header[17:24]
    aad = header + context.encode()
    aead = AESGCM(key)
    body = memoryview(data)[FILE_HEADER_SIZE:]
    full = chunk_size + TAG_SIZE
    # Every chunk but the last is full; the last one (possibly just a tag) carries the final flag.
    count = max(1, -(-len(body) // full))
    out = []
    for i in range(count):
        piece = bytes(body[i * full:(i + 1) * full])
        final = i == count - 1
        nonce = prefix + struct.pack(">IB", i, 1 if final else 0)
        try:
            out.append(aead.decrypt(nonce, piece, aad))
        except Exception as e:
            raise CryptoError(f"chunk {i}: authentication failed (changed, truncated, other "
                              "file or context)") from e
    return b"".join(out)


def script_memfd(script):
    """A sealed, read-only memfd holding the script (no file on disk); its fd number."""
    fd = os.memfd_create("process.py", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, script)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
    return fd


# --- the job ------------------------------------------------------------------------------------

# Per worker process, set by `configure` (from pipeline_python.py's worker mode).
_state = {}


def configure(key, processor, script=None):
    """Holds the data key (and the script, in a memfd, for `exec`) for this process's jobs."""
    if processor not in ("sha256", "exec"):
        raise ValueError(f"unknown processor {processor!r}")
    if processor == "exec" and script is None:
        raise ValueError("the exec processor needs the script")
    _state.clear()
    _state.update(aead=AESGCM(key), check=key_check(key), processor=processor,
                  script_fd=script_memfd(script) if processor == "exec" else None)


def _run_script(record):
    """The script on one record: the record on stdin, the result is its stdout."""
    fd = _state["script_fd"]
    done = subprocess.run([PYTHON, f"/proc/self/fd/{fd}"], input=record, pass_fds=(fd,),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"script exited with {done.returncode}: "
                           f"{done.stderr.decode(errors='replace')[-500:]}")
    return done.stdout


def process_record(dataset_id, index, line):
    """Job: decrypt record `index` of `dataset_id`, process it, return the sealed result."""
    aead, check = _state["aead"], _state["check"]
    record = open_record(aead, check, dataset_id, index, line)
    if _state["processor"] == "sha256":
        result = hashlib.sha256(record).hexdigest().encode()
    else:
        result = _run_script(record)
    return seal_record(aead, check, results_dataset(dataset_id), index, result)
