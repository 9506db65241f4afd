"""``hmmtrade kms-emulator`` and ``hmmtrade vault {rewrap,rotate-machine-key}``."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import structlog

from api.settings import ApiSettings
from store import connections
from store.pool import create_pool
from vault import envelope
from vault.emulator import KmsEmulator
from vault.errors import InvalidEnvelope, KmsError
from vault.gcp import GoogleKms
from vault.kms import KmsPort
from vault.machine_jwt import rotate_key_dir

log = structlog.get_logger(__name__)


def run_kms_emulator(key_file: Path, *, host: str, port: int, keys: list[str]) -> int:
    """``hmmtrade kms-emulator``: serve until SIGINT, accepting only ``KMS_EMULATOR_TOKEN``."""
    token = os.environ.get("KMS_EMULATOR_TOKEN", "").strip()
    if not token:
        print(
            "error: set KMS_EMULATOR_TOKEN: the emulator accepts exactly that bearer token, and the API "
            "needs the same value (any long random string will do locally)",
            file=sys.stderr,
        )
        return 2
    emulator = KmsEmulator(key_file, token=token, host=host, port=port, ensure_keys=tuple(keys))
    emulator.bind()
    print(f"KMS emulator on {emulator.endpoint} (keys in {key_file})", flush=True)
    for name in keys:
        print(f"  key {name}", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


@dataclass
class RewrapReport:
    rewrapped: int = 0
    skipped: int = 0  # revoked or changed while we worked
    failed: list[str] = field(default_factory=list)  # connection ids whose envelope no longer opens


async def rewrap_all(pool: asyncpg.Pool, kms: KmsPort, key_name: str) -> RewrapReport:
    """Re-wrap every stored data key under ``key_name``'s primary version; payloads untouched."""
    report = RewrapReport()
    for row in await connections.sealed_connections(pool):
        assert row.sealed is not None
        old = row.sealed.envelope()
        try:
            new = await envelope.rewrap(kms, old, key_name)
        except InvalidEnvelope:
            report.failed.append(str(row.id))
            log.error("vault.rewrap_failed", connection_id=str(row.id), kms_key_id=old.kms_key_id)
            continue
        swapped = await connections.replace_wrapped_key(
            pool, row.id, old_wrapped_key=old.wrapped_key, wrapped_key=new.wrapped_key, kms_key_id=new.kms_key_id
        )
        if swapped:
            report.rewrapped += 1
        else:
            report.skipped += 1
    return report


def run_rewrap(settings: ApiSettings) -> int:
    async def main() -> RewrapReport:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            token = settings.kms_emulator_token
            kms = GoogleKms.from_endpoint(
                settings.kms_endpoint,
                emulator_token=token.get_secret_value() if token else None,
                timeout_s=settings.kms_timeout_s,
            )
            return await rewrap_all(pool, kms, settings.kms_key_name)
        finally:
            await pool.close()

    try:
        report = asyncio.run(main())
    except KmsError as exc:
        print(f"error: {exc}; nothing more was re-wrapped (run it again once KMS answers)")
        return 1
    print(f"re-wrapped {report.rewrapped}, skipped {report.skipped} (revoked meanwhile), failed {len(report.failed)}")
    for connection_id in report.failed:
        print(f"  cannot decrypt connection {connection_id}: its key version is disabled or destroyed")
    return 1 if report.failed else 0


def run_rotate_machine_key(settings: ApiSettings) -> int:
    if settings.machine_jwt_key_dir is None:
        print("error: set HMMTRADE_MACHINE_JWT_KEY_DIR to the folder the API and workers share")
        return 2
    kid = rotate_key_dir(settings.machine_jwt_key_dir, overlap_s=settings.machine_token_ttl_s)
    print(f"new machine signing key {kid}; the previous one verifies for {settings.machine_token_ttl_s} s more")
    return 0
