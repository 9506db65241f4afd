"""Benchmark: broker-secret round trips (seal + open) through the KMS emulator with the real
``google-cloud-kms`` client, against in-process AES-GCM alone as the ceiling, same run.

One round trip is what a connect plus a bot launch cost the vault: ``envelope.seal``
(fresh data key, AES-256-GCM, KMS Encrypt) then ``envelope.open_sealed`` (KMS Decrypt,
AES-256-GCM). The layers in between are timed too, so the table says where the time goes:

    aes-gcm only        seal + open of the payload under a local key (the ceiling)
    emulator crypto     + the emulator's own AES-GCM wrap/unwrap, called in-process
    raw HTTP            + JSON/base64/CRC32C over loopback HTTP (requests, keep-alive) to the
                        emulator running in its own process, as ``hmmtrade up`` runs it
    google client       + google-cloud-kms (protobuf, REST transcoding, retry wrapper)
    vault, 1 task       + the async port (a worker thread per KMS call): the real path
    vault, 4 tasks      the same with four concurrent requests

    ./dev bench vault [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stack.kms_child import free_port, wait_kms_ready
from vault import envelope
from vault.emulator import KmsEmulator
from vault.emulator.server import DEFAULT_KEY_NAME, crc32c
from vault.gcp import GoogleKms

PAYLOAD = b'{"api_key_id":"AKBENCHMARK0000000000","api_secret_key":"' + b"s" * 40 + b'","paper":true}'
USER, CONNECTION = uuid.uuid4(), uuid.uuid4()


def _rate(run: Callable[[], object], seconds: float) -> float:
    run()  # warm up (connections, caches)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run()
        count += 1
    return count / (time.perf_counter() - started)


def _aes_only() -> None:
    key = bytearray(os.urandom(32))
    iv = os.urandom(12)
    aad = envelope.associated_data(USER, CONNECTION, 1)
    sealed = AESGCM(key).encrypt(iv, PAYLOAD, aad)
    AESGCM(key).decrypt(iv, sealed, aad)
    key[:] = bytes(32)


def _emulator_crypto(emulator: KmsEmulator) -> Callable[[], None]:
    def run() -> None:
        _aes_only()
        _, wrapped = emulator.store.encrypt(DEFAULT_KEY_NAME, os.urandom(32), b"")
        emulator.store.decrypt(DEFAULT_KEY_NAME, wrapped, b"")

    return run


def _raw_http(endpoint: str, token: str) -> Callable[[], None]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    base = f"{endpoint}/v1/{DEFAULT_KEY_NAME}"

    def run() -> None:
        _aes_only()
        key = os.urandom(32)
        body = {"plaintext": base64.b64encode(key).decode(), "plaintextCrc32c": str(crc32c(key))}
        wrapped = session.post(f"{base}:encrypt", json=body, timeout=5).json()["ciphertext"]
        session.post(f"{base}:decrypt", json={"ciphertext": wrapped}, timeout=5).json()

    return run


def _client(adapter: GoogleKms) -> Callable[[], None]:
    def run() -> None:
        _aes_only()
        wrapped = adapter.encrypt_sync(DEFAULT_KEY_NAME, os.urandom(32))
        adapter.decrypt_sync(DEFAULT_KEY_NAME, wrapped.ciphertext)

    return run


async def _vault_rate(adapter: GoogleKms, seconds: float, tasks: int) -> float:
    async def one() -> None:
        sealed = await envelope.seal(adapter, DEFAULT_KEY_NAME, PAYLOAD, user_id=USER, connection_id=CONNECTION)
        opened = await envelope.open_sealed(adapter, sealed, user_id=USER, connection_id=CONNECTION)
        assert opened == PAYLOAD

    await one()
    count = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await one()
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(tasks)))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="per row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        # the emulator in its own process, as `hmmtrade up` runs it (in a thread it would
        # share this process's GIL with the client and blur the rows)
        port = free_port(0)
        argv = [sys.executable, "-m", "stack.cli", "kms-emulator", "--port", str(port)]
        token = secrets.token_urlsafe(32)
        server = subprocess.Popen(
            [*argv, "--key-file", str(Path(folder) / "keys.json"), "--key", DEFAULT_KEY_NAME],
            env={**os.environ, "KMS_EMULATOR_TOKEN": token},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            wait_kms_ready(endpoint, DEFAULT_KEY_NAME, token)
            local = KmsEmulator(Path(folder) / "local-keys.json")  # not served: its key store only
            adapter = GoogleKms.from_endpoint(endpoint, emulator_token=token)
            rows = [
                ("aes-gcm only", _rate(_aes_only, args.seconds)),
                ("emulator crypto", _rate(_emulator_crypto(local), args.seconds)),
                ("raw HTTP", _rate(_raw_http(endpoint, token), args.seconds)),
                ("google client", _rate(_client(adapter), args.seconds)),
                ("vault, 1 task", asyncio.run(_vault_rate(adapter, args.seconds, 1))),
                ("vault, 4 tasks", asyncio.run(_vault_rate(adapter, args.seconds, 4))),
            ]
        finally:
            server.terminate()
            server.wait(10)
    ceiling = rows[0][1]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load}; {args.seconds:g} s per row; one trip = seal + open")
    print(f"{'path':<16} {'round trips/s':>14} {'us/trip':>10} {'added us':>10} {'vs ceiling':>11}")
    previous_us = 0.0
    for name, rate in rows:
        us = 1e6 / rate
        added = us - previous_us if name != "vault, 4 tasks" else float("nan")
        print(f"{name:<16} {rate:>14.1f} {us:>10.1f} {added:>10.1f} {rate / ceiling:>11.5f}")
        if name != "vault, 4 tasks":
            previous_us = us


if __name__ == "__main__":
    main()
