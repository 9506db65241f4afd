"""``./dev`` installs one exact pip, never whatever the index serves that day."""

from __future__ import annotations

import re
from pathlib import Path

DEV = Path(__file__).resolve().parents[2] / "dev"


def test_dev_installs_an_exact_pip_version() -> None:
    script = DEV.read_text()
    assert "--upgrade pip" not in script
    pinned = re.search(r"^PIP_VERSION=(\S+)", script, re.MULTILINE)
    assert pinned is not None and re.fullmatch(r"\d+(\.\d+)+", pinned.group(1)), "PIP_VERSION=<exact version>"
    assert '"pip==$PIP_VERSION"' in script
