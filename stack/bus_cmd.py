"""``hmmtrade bus init``: the bus identities and server config of a deployment (compose.yaml).

Writes into one folder (0600 files; mount it read-only where needed):

- ``bus-keys.json``: the signing keys. The API needs them to sign hosted bots' own
  credentials, the workers to revoke them; nothing else should read this file.
- ``nats.conf``: operator trust and the JWT resolver (``include``d by the server's config),
  plus TLS with ``tls/server.pem`` and ``tls/server-key.pem``.
- ``api.creds``, ``workers.creds``, ``dashboard.creds``, ``admin.creds``: each role's credentials.
- ``tls/``: with ``--tls-host``, a private CA (``tls/ca.pem``, give it to clients as
  ``NATS_CA``) and a server certificate for those names. Bring your own certificate
  instead by putting ``server.pem``/``server-key.pem`` there and leaving ``--tls-host`` out.

Run it again to re-issue the credentials (the keys and certificates are kept).
"""

from __future__ import annotations

from pathlib import Path

from events.auth.keys import KEY_FILE_NAME, BusKeys, write_creds
from events.auth.roles import Role
from stack.local_ca import make_local_ca


def init_bus(folder: Path, *, tls_hosts: tuple[str, ...], resolver_dir: str = "/data/jwt") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    keys = BusKeys.load_or_create(folder / KEY_FILE_NAME)
    written = [folder / KEY_FILE_NAME]
    if tls_hosts and not (folder / "tls" / "server.pem").exists():
        make_local_ca(folder / "tls", tls_hosts)
    config = keys.server_config(Path(resolver_dir))
    config += (
        'tls {\n  cert_file: "/etc/nats/tls/server.pem"\n  key_file: "/etc/nats/tls/server-key.pem"\n  timeout: 5\n}\n'
    )
    written.append(write_creds(folder / "nats.conf", config))
    for role in (Role.API, Role.WORKERS, Role.DASHBOARD, Role.ADMIN):
        written.append(write_creds(folder / f"{role.value}.creds", keys.role_creds(role)))
    return written


def run_bus_init(folder: Path, tls_hosts: list[str]) -> int:
    for path in init_bus(folder, tls_hosts=tuple(tls_hosts)):
        print(f"wrote {path}")
    if not (folder / "tls" / "server.pem").exists():
        print(f"no TLS certificate yet: put server.pem and server-key.pem in {folder / 'tls'} or pass --tls-host")
    return 0
