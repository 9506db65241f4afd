"""``hmmtrade bus init``: the bus identities and server config of a deployment (compose.yaml).

Writes into one folder (0600 files; mount it read-only where needed):

- ``bus-keys.json``: the signing keys. The API needs them to sign hosted bots' own
  credentials, the workers to revoke them; nothing else should read this file.
- ``nats.conf``: operator trust and the JWT resolver (``include``d by the server's config),
  plus TLS with ``tls/server.pem`` and ``tls/server-key.pem``.
- with ``--cluster N``: ``nats-1.conf`` .. ``nats-N.conf`` for a cluster (compose.yaml's
  ``nats-1`` .. services): each adds its routes to the others, authenticated by
  ``route-password`` and over TLS verified against ``tls/ca.pem``.
- ``api.creds``, ``workers.creds``, ``dashboard.creds``, ``admin.creds``: each role's credentials.
- ``tls/``: with ``--tls-host``, a private CA (``tls/ca.pem``, give it to clients as
  ``NATS_CA``) and a server certificate for those names. Bring your own certificate
  instead by putting ``server.pem``/``server-key.pem`` there and leaving ``--tls-host`` out.

Run it again to re-issue the credentials (the keys and certificates are kept).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from events.auth.keys import KEY_FILE_NAME, BusKeys, write_creds
from events.auth.roles import Role
from events.auth.tls import ServerTls
from events.embedded import ClusterRoutes
from stack.local_ca import make_local_ca

CONTAINER_TLS = ServerTls(
    cert_file=Path("/etc/nats/tls/server.pem"),
    key_file=Path("/etc/nats/tls/server-key.pem"),
    ca_file=Path("/etc/nats/tls/ca.pem"),
)
ROUTE_PORT = 6222


def init_bus(
    folder: Path, *, tls_hosts: tuple[str, ...], resolver_dir: str = "/data/jwt", cluster: int = 0
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    keys = BusKeys.load_or_create(folder / KEY_FILE_NAME)
    written = [folder / KEY_FILE_NAME]
    if tls_hosts and not (folder / "tls" / "server.pem").exists():
        make_local_ca(folder / "tls", tls_hosts)
    config = keys.server_config(Path(resolver_dir)) + CONTAINER_TLS.config_block()
    written.append(write_creds(folder / "nats.conf", config))
    if cluster:
        written += _cluster_configs(folder, config, cluster)
    for role in (Role.API, Role.WORKERS, Role.DASHBOARD, Role.ADMIN):
        written.append(write_creds(folder / f"{role.value}.creds", keys.role_creds(role)))
    return written


def _cluster_configs(folder: Path, base: str, size: int) -> list[Path]:
    """``nats-1.conf`` .. ``nats-N.conf``: the base config plus each node's routes to the others
    (compose service names ``nats-1`` .. on port 6222), the route password kept across runs."""
    secret = folder / "route-password"
    if not secret.exists():
        write_creds(secret, secrets.token_urlsafe(32))
    routes = ClusterRoutes(
        name="hmmtrade",
        addresses={f"nats-{i}": (f"nats-{i}", ROUTE_PORT) for i in range(1, size + 1)},
        password=secret.read_text().strip(),
        listen_host="0.0.0.0",
    )
    return [
        write_creds(folder / f"{node}.conf", base + routes.config_block(node, CONTAINER_TLS))
        for node in routes.addresses
    ]


def run_bus_init(folder: Path, tls_hosts: list[str], cluster: int = 0) -> int:
    for path in init_bus(folder, tls_hosts=tuple(tls_hosts), cluster=cluster):
        print(f"wrote {path}")
    if not (folder / "tls" / "server.pem").exists():
        print(f"no TLS certificate yet: put server.pem and server-key.pem in {folder / 'tls'} or pass --tls-host")
    return 0
