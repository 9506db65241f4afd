"""An authenticated nats-server for a benchmark, whose own connections act as admin."""

from __future__ import annotations

import os
from pathlib import Path

from events.auth.keys import BusKeys, write_creds
from events.auth.roles import Role
from events.embedded import NatsServer


def start_admin_bus(store_dir: Path) -> NatsServer:
    """Start a server trusting fresh keys; ``NATS_CREDS`` (this process and its children) is admin."""
    keys = BusKeys.generate()
    server = NatsServer(store_dir, keys=keys).start()
    os.environ["NATS_CREDS"] = str(write_creds(store_dir / "admin.creds", keys.role_creds(Role.ADMIN)))
    return server
