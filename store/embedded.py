"""An embedded Postgres from the ``pgserver`` wheel, for local runs and tests.

``pgserver`` runs the server on a Unix socket inside the data folder and stops it when
the last Python process that opened it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a Postgres in ``data_dir``; return its DSN and the server handle."""
    warnings.filterwarnings("ignore", module="platformdirs")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    import pgserver  # imported here: it does filesystem work at import time

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(server.get_uri()), server
