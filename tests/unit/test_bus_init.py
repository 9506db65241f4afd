"""`hmmtrade bus init` writes a deployment's bus identities, readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from events.auth import jwt
from events.bus import inbox_prefix_of
from stack.cli import main


def test_bus_init_writes_keys_config_and_role_credentials(tmp_path: Path) -> None:
    folder = tmp_path / "bus"
    assert main(["bus", "init", "--dir", str(folder), "--tls-host", "nats", "--tls-host", "bus.example.com"]) == 0
    for name in ("bus-keys.json", "nats.conf", "api.creds", "workers.creds", "dashboard.creds", "admin.creds"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    config = (folder / "nats.conf").read_text()
    assert config.startswith("operator: ") and "resolver: {" in config and "tls {" in config
    assert (folder / "tls" / "ca.pem").exists() and stat.S_IMODE(
        (folder / "tls" / "server-key.pem").stat().st_mode
    ) == 0o600
    api = jwt.claims_of(jwt.jwt_of_creds((folder / "api.creds").read_text()))
    assert "intents.>" in api["nats"]["pub"]["allow"] and "events.>" not in api["nats"]["pub"]["allow"]
    assert inbox_prefix_of((folder / "workers.creds").read_text()) == "_INBOX.workers"
    keys_before = (folder / "bus-keys.json").read_text()
    assert main(["bus", "init", "--dir", str(folder)]) == 0
    assert (folder / "bus-keys.json").read_text() == keys_before, "a re-run keeps the keys"
