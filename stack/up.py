"""``hmmtrade up``: the whole control plane on one machine.

Embedded NATS JetStream and Postgres (unless ``NATS_URL`` / ``DATABASE_URL`` point
elsewhere), migrations, then the API and the workers as supervised child processes
(a crashed child is restarted with backoff). SIGINT/SIGTERM stop everything in order;
the data dir keeps the bus and the database, so the next ``up`` resumes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

from api.tokens import load_or_create_key_file
from events.auth.keys import KEY_FILE_NAME, BusKeys, write_creds
from events.auth.roles import Role
from events.embedded import NatsCluster, NatsServer, free_port, port_is_free, stop_process
from stack import kms_child
from stack.demo import seed_demo_if_safe
from stack.fly_local import fly_target, wait_emulator_ready
from stack.stripe_cmd import stripe_for_up
from stack.venue_emulators import VenueTarget, alpaca_target, describe, exchange_target, wait_venue_ready
from store.embedded import start_embedded_postgres
from store.migrate import migrate

log = structlog.get_logger(__name__)


@dataclass
class Child:
    """A service child process, restarted with backoff if it dies on its own."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started_at = time.monotonic()

    def exited(self) -> bool:
        """Whether the process is gone (or never started): a readiness wait stops waiting for it."""
        return self.process is None or self.process.poll() is not None

    def poll_restart(self) -> None:
        if self.process is None or self.process.poll() is None:
            return
        now = time.monotonic()
        if self.next_start == 0.0:
            if now - self.started_at > 60:
                self.restarts = 0
            delay = min(30.0, 0.5 * 2**self.restarts)
            self.next_start = now + delay
            log.error(
                "up.child_exited",
                service=self.name,
                code=self.process.returncode,
                restart_in_s=delay,
                log=str(self.log_path),
            )
        elif now >= self.next_start:
            self.restarts += 1
            self.next_start = 0.0
            self.start()
            log.info("up.child_restarted", service=self.name, pid=self.process.pid)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is not None:
            stop_process(self.process, timeout_s)


def _say(service: str, where: str) -> None:
    print(f"  {service:<9} {where}", flush=True)


def _wait_ready(url: str, child: Child, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process is not None and child.process.poll() is not None:
            raise RuntimeError(f"the {child.name} exited during start-up; see {child.log_path}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the {child.name} was not ready at {url} after {timeout_s}s; see {child.log_path}")


def start_venues(targets: list[VenueTarget], logs: Path, children: list[Child]) -> None:
    """Start the venues' emulators (not the external ones) side by side; print each line once it takes its keys."""
    started: list[tuple[VenueTarget, Child]] = []
    for target in targets:
        if target.argv is None:
            continue
        env = {**os.environ, **target.emulator_env, "HMMTRADE_LOG_JSON": "1"}
        child = Child(f"{target.name}-emulator", target.argv, env, logs / f"{target.name}-emulator.log")
        child.start()
        children.append(child)
        started.append((target, child))
    for target, child in started:
        wait_venue_ready(target, child.exited, log_path=child.log_path)
    for target in targets:
        _say(target.name, describe(target))


@dataclass(frozen=True)
class BusIdentities:
    folder: Path
    key_file: Path
    keys: BusKeys
    creds: dict[Role, Path]


def bus_identities(data_dir: Path) -> BusIdentities:
    """The local bus's signing keys and each service's credentials (0600, under ``keys/bus``).

    Keys are made once per data dir; credentials are re-issued at every start (they carry
    the role's current permissions). An external bus (``NATS_URL``) brings its own
    ``NATS_CREDS``/``HMMTRADE_BUS_KEY_FILE``: the environment wins over these files.
    """
    folder = data_dir / "keys" / "bus"
    key_file = Path(os.environ.get("HMMTRADE_BUS_KEY_FILE") or folder / KEY_FILE_NAME)
    keys = BusKeys.load_or_create(key_file)
    creds = {role: write_creds(folder / f"{role.value}.creds", keys.role_creds(role)) for role in Role}
    return BusIdentities(folder, key_file, keys, creds)


def web_port_for(requested: int, host: str) -> int:
    """The web app's port: the one asked for, or a free one when it is taken (said when printed)."""
    return requested if port_is_free(requested, host) else free_port(host)


def run_up(
    data_dir: Path, *, api_host: str, api_port: int, demo: bool, web_port: int = 8080, nats_cluster: int = 1
) -> int:
    data_dir = data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop_requested = False

    def request_stop(signum: int, _frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    nats: NatsServer | NatsCluster | None = None
    children: list[Child] = []
    print(f"HMM Trade starting (data in {data_dir})", flush=True)
    try:
        nats_url = os.environ.get("NATS_URL")
        bus = bus_identities(data_dir)
        replicas = 1
        if not nats_url and nats_cluster > 1:  # a cluster on loopback: the streams on every node
            nats = NatsCluster(data_dir / "nats-cluster", keys=bus.keys, size=nats_cluster).start()
            nats_url, replicas = nats.url, min(nats_cluster, 3)
        elif not nats_url:
            nats = NatsServer(data_dir / "nats", keys=bus.keys, port=4222 if port_is_free(4222) else 0).start()
            nats_url = nats.url
        _say("nats", f"{nats_url}{'' if nats else ' (external)'}  (authenticated; credentials in {bus.folder})")

        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            database_url, _pg = start_embedded_postgres(data_dir / "postgres")
        _say("postgres", f"{database_url}{' (external)' if 'DATABASE_URL' in os.environ else ''}")
        applied = asyncio.run(migrate(database_url))
        _say("migrate", f"{len(applied)} applied" if applied else "up to date")

        key_file = data_dir / "keys" / "jwt-ed25519.pem"
        load_or_create_key_file(key_file)

        fly = fly_target(data_dir)
        if fly.argv is not None:
            fly_env = {**os.environ, "FLY_API_TOKEN": fly.token, "FLY_APP_NAME": fly.app_name, "HMMTRADE_LOG_JSON": "1"}
            emulator = Child("fly", fly.argv, fly_env, logs / "fly-emulator.log")
            children.append(emulator)
            emulator.start()
            wait_emulator_ready(
                fly.url,
                lambda: emulator.process is None or emulator.process.poll() is not None,
                log_path=emulator.log_path,
            )
        _say("fly", fly.describe())

        if not port_is_free(api_port, api_host):
            raise RuntimeError(f"port {api_port} on {api_host} is taken: pass --api-port N")
        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "DATABASE_URL": database_url,
            "HMMTRADE_JWT_PRIVATE_KEY_FILE": str(key_file),
            "HMMTRADE_LOG_JSON": "1",
            "HMMTRADE_BUS_KEY_FILE": str(bus.key_file),
            **fly.service_env(),
        }
        env.setdefault("HMMTRADE_BUS_REPLICAS", str(replicas))
        # ---- KMS (the emulator unless KMS_ENDPOINT is set) and machine-JWT keys ----------
        env.setdefault("HMMTRADE_MACHINE_JWT_KEY_DIR", str(data_dir / "keys" / "machine"))
        kms_key_name = env.get("KMS_KEY_NAME") or kms_child.DEFAULT_KEY_NAME
        if not env.get("KMS_ENDPOINT"):
            kms_port = kms_child.free_port()
            env["KMS_EMULATOR_TOKEN"] = kms_child.emulator_token(data_dir)  # the emulator's and the API's
            kms = Child("kms", kms_child.emulator_argv(data_dir, kms_port, kms_key_name), env, logs / "kms.log")
            kms.start()
            children.append(kms)
            env["KMS_ENDPOINT"] = f"http://127.0.0.1:{kms_port}"
            kms_child.wait_kms_ready(env["KMS_ENDPOINT"], kms_key_name, env["KMS_EMULATOR_TOKEN"])
        env["KMS_KEY_NAME"] = kms_key_name
        _say("kms", f"{env['KMS_ENDPOINT']}{'' if children else ' (external)'}  (key {kms_key_name})")
        base = f"http://{api_host}:{api_port}"
        env.setdefault("HMMTRADE_BOT_API_URL", base)  # hosted bots' machines call the API here
        env.setdefault("HMMTRADE_HOSTED_REPLAY_PACE", "2")  # demo bots replay two bars a second
        cli = [sys.executable, "-m", "stack.cli"]
        stripe_env, stripe_argv, stripe_line = stripe_for_up(
            data_dir, f"http://{api_host}:{api_port}", cli, logs / "stripe-emulator.log"
        )
        env.update(stripe_env)
        web_port = web_port_for(web_port, api_host)
        web_url = f"http://{api_host}:{web_port}"
        env["HMMTRADE_PUBLIC_URL"] = web_url  # Checkout and the billing portal send users back to the web app
        if stripe_argv is not None:
            stripe = Child("stripe-emulator", stripe_argv, env, logs / "stripe-emulator.log")
            stripe.start()
            children.append(stripe)
        _say("stripe", stripe_line)
        alpaca = alpaca_target(data_dir, cli)
        exchange = exchange_target(data_dir, cli)
        start_venues([alpaca, exchange], logs, children)
        env["HMMTRADE_ALPACA_URL"], env["HMMTRADE_EXCHANGE_URL"] = alpaca.url, exchange.url  # hosted bots' venues
        # the web app calls the API for its visitors and names each one (X-Forwarded-For), so login
        # limits count browsers, not the web app; only loopback (this machine) is trusted to say so
        api_env = {**env, "NATS_CREDS": str(bus.creds[Role.API]), "HMMTRADE_FORWARDED_ALLOW_IPS": "127.0.0.1"}
        api_env.setdefault("HMMTRADE_DRAIN_DELAY_S", "0")  # one API, no load balancer to tell: stop at once
        workers_env = {**env, "NATS_CREDS": str(bus.creds[Role.WORKERS])}
        api = Child("api", [*cli, "api", "--host", api_host, "--port", str(api_port)], api_env, logs / "api.log")
        workers = Child("workers", [*cli, "workers"], workers_env, logs / "workers.log")
        children = [*children, workers, api]
        for child in (workers, api):
            child.start()
        _wait_ready(f"{base}/readyz", api, timeout_s=60 if nats_cluster == 1 else 180)  # R3 streams form raft groups
        _say("api", f"{base}  (OpenAPI docs: {base}/docs)")
        _say("workers", f"lifecycle, audit-ingest, brokers, hosting, billing-stripe, billing, notify  (logs: {logs})")
        web_env = {**env, "HMMTRADE_API_URL": base, "HMMTRADE_WEB_NATS_CREDS": str(bus.creds[Role.DASHBOARD])}
        web = Child("web", [*cli, "web", "--host", api_host, "--port", str(web_port)], web_env, logs / "web.log")
        children.append(web)
        web.start()
        _wait_ready(f"{web_url}/status", web, timeout_s=60)
        _say("web", f"{web_url}  (sign up, pricing, your bots)")
        if demo:
            environment = env.get("HMMTRADE_ENV", "development")
            demo_alpaca = None if alpaca.external else alpaca
            _say("demo", seed_demo_if_safe(api_host, base, database_url, environment=environment, alpaca=demo_alpaca))
        print("Ready. Press Ctrl-C to stop.", flush=True)
        while not stop_requested:
            for child in children:
                child.poll_restart()
            time.sleep(0.2)
        print("Stopping…", flush=True)
        return 0
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        log.error("up.failed", error=str(exc), exc_info=True)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        if nats is not None:
            nats.stop()
        print("Stopped.", flush=True)
