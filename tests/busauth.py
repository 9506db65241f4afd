"""The test session's bus identities: one set of signing keys trusted by every test's nats-server.

Tests that talk to the bus directly act as an operator (``NATS_CREDS`` = admin creds, set
for the whole session); the API, workers and bots under test get their own least-privilege
credentials from :func:`creds_file`, so a missing permission fails a test.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

from events.auth.keys import KEY_FILE_NAME, BusKeys, write_creds
from events.auth.roles import Role

BUS_DIR = Path(tempfile.mkdtemp(prefix="hmmtrade-test-bus-"))
atexit.register(shutil.rmtree, BUS_DIR, True)
BUS_KEYS = BusKeys.generate()
BUS_KEY_FILE = BUS_DIR / KEY_FILE_NAME
BUS_KEYS.save(BUS_KEY_FILE)


def creds_file(role: Role) -> Path:
    path = BUS_DIR / f"{role.value}.creds"
    if not path.exists():
        write_creds(path, BUS_KEYS.role_creds(role))
    return path


def bot_creds_file(bot_id: object, key_id: str = "test", ttl_s: int = 3600) -> Path:
    return write_creds(
        BUS_DIR / f"bot-{bot_id}-{key_id}.creds",
        BUS_KEYS.bot_creds(bot_id, key_id, expires_at=int(time.time()) + ttl_s),
    )


def use_admin_by_default() -> None:
    """Connections that name no credentials (the tests' own) connect as admin."""
    os.environ["NATS_CREDS"] = str(creds_file(Role.ADMIN))
