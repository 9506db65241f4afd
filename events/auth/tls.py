"""TLS for the bus: the server's certificate files, and the clients' trust in its CA.

A deployment supplies its own certificate and key (any CA; see docs/SECURITY.md) and
points clients at the CA with ``NATS_CA``. ``stack.local_ca`` mints a private CA and
a server certificate, for tests and ``hmmtrade bus init``. This module needs only ``ssl``:
bots import it, and the bot image has no ``cryptography``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerTls:
    cert_file: Path
    key_file: Path
    ca_file: Path

    def config_block(self) -> str:
        return f'tls {{\n  cert_file: "{self.cert_file}"\n  key_file: "{self.key_file}"\n  timeout: 5\n}}\n'


def client_ssl_context(ca_file: str | Path) -> ssl.SSLContext:
    """Verify the server against ``ca_file`` (host name included)."""
    return ssl.create_default_context(cafile=str(ca_file))
