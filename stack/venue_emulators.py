"""``hmmtrade up``'s trading venues: the Alpaca and Binance-spot emulators as supervised children.

Each venue is an emulator unless the operator points the stack elsewhere with
``HMMTRADE_ALPACA_URL`` / ``HMMTRADE_EXCHANGE_URL`` (like ``KMS_ENDPOINT``): then nothing is
started and the URL passes through. The emulators' keys are generated once per data dir
(``keys/alpaca-emulator.json``, ``keys/exchange-emulator.json``, 0600) and reused on every
restart, because the demo's broker connection stores them (encrypted) in Postgres and the
emulators' state (``DATA_DIR/alpaca``, ``DATA_DIR/exchange``) belongs to that account. They reach
the emulator in its environment, never on its command line (``ps`` shows argv to every local user).

A hosted bot's machine is told its venue URL when it is created, and the machine outlives one
``up``: so each emulator's port (8490 and 8491 when free) is remembered in its data dir
(``DATA_DIR/alpaca/port``) and reused. If another program has taken it since, ``up`` still starts
on a new port and says on the status line that bots launched before must be restarted: refusing
to start would leave the whole stack down for one venue.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from events.embedded import free_port, port_is_free

ALPACA_PORT = 8490  # `hmmtrade alpaca-emulator`'s own default
EXCHANGE_PORT = 8491
# The demo bot trades BTC/USD on 1-hour bars; at 360x one closes every 10 wall seconds, twice the
# bot's 5 s bar poll, so each bar reaches it while still the newest (an order on an older bar is
# skipped as stale) and orders show up within a minute of boot. Not 1- or 5-minute bars: the
# emulator's synthetic prices switch regime from day to day and only wander within a day, so
# a window of a few hundred minute bars often holds one regime and a two-regime model refuses
# to fit (checked over a year of start dates: 5m bars failed on about one in five, 1h bars with
# a 200-bar window on none).
DEMO_SPEED = 360.0

ALPACA_KEY_ENV = ("ALPACA_EMULATOR_KEY_ID", "ALPACA_EMULATOR_SECRET_KEY")
EXCHANGE_KEY_ENV = ("EXCHANGE_EMULATOR_API_KEY", "EXCHANGE_EMULATOR_API_SECRET")


@dataclass(frozen=True)
class VenueTarget:
    """Where the services find one venue; ``argv`` is the emulator to start, or None when external."""

    name: str  # the status line's service name: alpaca, exchange
    url: str
    key: str  # empty when external: the stack does not know an external venue's keys
    secret: str
    argv: list[str] | None
    emulator_env: dict[str, str] = field(default_factory=dict, repr=False)
    key_file: Path | None = None
    note: str = ""  # said on the status line: the remembered port was taken

    @property
    def external(self) -> bool:
        return self.argv is None


def alpaca_target(data_dir: Path, cli: list[str], environ: Mapping[str, str] | None = None) -> VenueTarget:
    """The Alpaca-compatible server named by HMMTRADE_ALPACA_URL, or an emulator under ``data_dir/alpaca``."""
    environ = os.environ if environ is None else environ
    external = environ.get("HMMTRADE_ALPACA_URL")
    if external:
        return VenueTarget("alpaca", external.rstrip("/"), "", "", None)
    key_file = data_dir / "keys" / "alpaca-emulator.json"
    # Alpaca's own shapes: a 20-character key id starting PK (paper), a 40-character secret
    key_id, secret = load_or_create_keys(key_file, lambda: ("PK" + secrets.token_hex(9).upper(), secrets.token_hex(20)))
    port, note = _remembered_port(data_dir / "alpaca" / "port", ALPACA_PORT)
    argv = [*cli, "alpaca-emulator", "--port", str(port), "--data-dir", str(data_dir / "alpaca")]
    argv += ["--source", "synthetic", "--speed", f"{DEMO_SPEED:g}"]
    env = dict(zip(ALPACA_KEY_ENV, (key_id, secret), strict=True))
    return VenueTarget("alpaca", f"http://127.0.0.1:{port}", key_id, secret, argv, env, key_file, note)


def exchange_target(data_dir: Path, cli: list[str], environ: Mapping[str, str] | None = None) -> VenueTarget:
    """The Binance-spot-compatible server named by HMMTRADE_EXCHANGE_URL, or an emulator under ``data_dir/exchange``."""
    environ = os.environ if environ is None else environ
    external = environ.get("HMMTRADE_EXCHANGE_URL")
    if external:
        return VenueTarget("exchange", external.rstrip("/"), "", "", None)
    key_file = data_dir / "keys" / "exchange-emulator.json"
    # Binance's shapes: 64-character key and secret
    api_key, api_secret = load_or_create_keys(key_file, lambda: (secrets.token_hex(32), secrets.token_hex(32)))
    port, note = _remembered_port(data_dir / "exchange" / "port", EXCHANGE_PORT)
    argv = [*cli, "exchange-emulator", "--port", str(port), "--data-dir", str(data_dir / "exchange")]
    argv += ["--source", "synthetic", "--speed", f"{DEMO_SPEED:g}"]
    env = dict(zip(EXCHANGE_KEY_ENV, (api_key, api_secret), strict=True))
    return VenueTarget("exchange", f"http://127.0.0.1:{port}", api_key, api_secret, argv, env, key_file, note)


def describe(target: VenueTarget) -> str:
    """The text after the service name on ``up``'s status line."""
    if target.external:
        return f"{target.url}  (external)"
    note = f"; {target.note}" if target.note else ""
    if target.name == "alpaca":
        return f"{target.url}  (emulator; paper keys in {target.key_file}{note})"
    return f"{target.url}  (Binance-spot emulator; keys in {target.key_file}{note})"


def wait_venue_ready(target: VenueTarget, exited: Callable[[], bool], *, log_path: Path, timeout_s: float = 30) -> None:
    """Poll an authenticated endpoint until the emulator serves this data dir's keys.

    An authenticated call (not a health check) proves the emulator on that port is ours: a
    leftover emulator of another data dir would answer a health check, and refuse our keys.
    """
    probe = _alpaca_probe if target.name == "alpaca" else _exchange_probe
    deadline = time.monotonic() + timeout_s
    status: int | None = None
    while time.monotonic() < deadline:
        if exited():
            raise RuntimeError(f"the {target.name} emulator exited during start-up; see {log_path}")
        try:
            status = probe(target)
        except httpx.HTTPError:
            status = None
        if status == 200:
            return
        if status in (401, 403):  # waiting longer will not change the keys
            raise RuntimeError(
                f"the {target.name} emulator at {target.url} refused this data dir's keys ({status}): "
                "is another emulator on that port?"
            )
        time.sleep(0.1)
    raise RuntimeError(
        f"the {target.name} emulator was not ready at {target.url} after {timeout_s}s "
        f"(last status {status}); see {log_path}"
    )


def _alpaca_probe(target: VenueTarget) -> int:
    headers = {"APCA-API-KEY-ID": target.key, "APCA-API-SECRET-KEY": target.secret}
    return httpx.get(f"{target.url}/v2/clock", headers=headers, timeout=1.0).status_code


def _exchange_probe(target: VenueTarget) -> int:
    from venues.exchange.signing import sign

    query = f"timestamp={int(time.time() * 1000)}"
    url = f"{target.url}/api/v3/account?{query}&signature={sign(query, target.secret)}"
    return httpx.get(url, headers={"X-MBX-APIKEY": target.key}, timeout=1.0).status_code


def load_or_create_keys(path: Path, make: Callable[[], tuple[str, str]]) -> tuple[str, str]:
    """The (key, secret) pair kept in ``path``, created 0600 with ``make()`` if missing."""
    if path.exists():
        saved = json.loads(path.read_text())
        return str(saved["key"]), str(saved["secret"])
    path.parent.mkdir(parents=True, exist_ok=True)
    key, secret = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"key": key, "secret": secret}, handle)
    return key, secret


def _remembered_port(path: Path, preferred: int) -> tuple[int, str]:
    """(port, note): the port this data dir's emulator had before, hosted bots having been told it; else a
    new one, remembered. The note says when the old port was taken and bots launched before are now lost."""
    note = ""
    if path.exists():
        port = int(path.read_text())
        if port_is_free(port):
            return port, ""
        note = f"port {port} was taken: hosted bots launched before need a stop and start"
    port = preferred if port_is_free(preferred) else free_port()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(port))
    return port, note
