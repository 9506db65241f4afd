"""Running a live bot for tests: in this process (fast: the model libraries are imported once),
or as a child process when the test kills it or trips a crashing failpoint."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trader.checkpoint import from_json
from trader.cli import run_bot_command


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_once(config: Path, *, process: bool = False, **env: str) -> Ran:
    """One ``--once`` run of the bot at ``config`` (what a scale-to-zero wake does)."""
    if process or "HMMTRADE_FAILPOINTS" in env:
        done = subprocess.run(
            [sys.executable, "-m", "trader.cli", "--config", str(config), "--once"],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, **env},
        )
        return Ran(done.returncode, done.stdout, done.stderr)
    out, err = io.StringIO(), io.StringIO()
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_bot_command(config, once=True, max_bars=None, pace=None)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Ran(code, out.getvalue(), err.getvalue())


def state_dir(config: Path) -> Path:
    return config.parent.parent.parent / "state" / config.stem


def book_position(config: Path) -> float:
    checkpoint = from_json(json.loads((state_dir(config) / "checkpoint.json").read_text()))
    return checkpoint.state.broker.position if checkpoint.state.broker else 0.0


def audit(config: Path) -> list[dict[str, Any]]:
    path = state_dir(config) / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
