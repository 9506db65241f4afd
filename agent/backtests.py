"""Walk-forward backtests started from the dashboard, one folder per run under HOME/backtests/.

A run is ``trader.report.run_backtest`` (one symbol, or a portfolio on its profile's data)
in a child process (a walk-forward is CPU-bound: in the agent's process it would hold the
GIL and stall the dashboard); its progress (bars done of total) is shared memory, readable
while it runs. Each folder holds the trader's audit.jsonl and metrics.json plus ``run.json``
(data, profile, status, error), so earlier runs reopen.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.home import AgentHome
from contracts.profile import BotProfile
from trader.bars import Bars
from trader.report import BacktestInputError, load_inputs, run_backtest


@dataclass
class BacktestRun:
    run_id: str
    folder: Path
    data: str
    profile: dict[str, Any]
    status: str = "running"  # running | done | failed
    error: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    done: int = 0
    total: int = 0
    seconds: float | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def meta(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "data": self.data,
            "profile": self.profile,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at,
            "seconds": self.seconds,
        }

    def metrics(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads((self.folder / "metrics.json").read_text()))
        except (OSError, ValueError):
            return None

    def records(self) -> list[dict[str, Any]]:
        try:
            with (self.folder / "audit.jsonl").open() as lines:
                return [json.loads(line) for line in lines]
        except OSError:
            return []


class Backtests:
    def __init__(self, home: AgentHome) -> None:
        self.home = home
        self.active: dict[str, BacktestRun] = {}

    async def start(self, profile: BotProfile, data: str) -> BacktestRun:
        """Begin a run in a child process; returns at once with a run whose progress updates as it goes."""
        run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run = BacktestRun(run_id, self.home.backtests_dir / run_id, data, profile.model_dump(mode="json"))
        run.folder.mkdir(parents=True)
        self._save(run)
        self.active[run_id] = run
        asyncio.get_running_loop().run_in_executor(None, self._watch, run, profile)
        return run

    def _watch(self, run: BacktestRun, profile: BotProfile) -> None:
        started = time.monotonic()
        spawn = multiprocessing.get_context("spawn")  # never fork a process that has threads and sockets
        done, total = spawn.Value("q", 0), spawn.Value("q", 0)
        child = spawn.Process(
            target=_child,
            args=(profile.model_dump_json(), run.data, str(run.folder), run.run_id, done, total),
            name=f"backtest-{run.run_id}",
            daemon=True,
        )
        child.start()
        while child.is_alive():
            run.done, run.total = done.value, total.value
            child.join(0.1)
        run.done, run.total = done.value, total.value
        outcome = _read_outcome(run.folder)
        if outcome is None:
            run.status, run.error = "failed", f"the backtest process died (exit {child.exitcode})"
        else:
            run.status, run.error = outcome
        run.seconds = round(time.monotonic() - started, 2)
        self._save(run)

    def _save(self, run: BacktestRun) -> None:
        (run.folder / "run.json").write_text(json.dumps(run.meta(), indent=1))

    def runs(self) -> list[BacktestRun]:
        """Every run on disk, newest first (active runs carry live progress)."""
        found: list[BacktestRun] = []
        for meta_path in sorted(self.home.backtests_dir.glob("*/run.json"), reverse=True):
            run_id = meta_path.parent.name
            if run_id in self.active:
                found.append(self.active[run_id])
                continue
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            status = meta.get("status", "failed")
            if status == "running":  # the agent stopped mid-run
                status, meta["error"] = "failed", "interrupted (the agent stopped during the run)"
            found.append(
                BacktestRun(
                    run_id,
                    meta_path.parent,
                    meta.get("data", "?"),
                    meta.get("profile", {}),
                    status=status,
                    error=meta.get("error"),
                    started_at=meta.get("started_at", ""),
                    seconds=meta.get("seconds"),
                )
            )
        return found

    def get(self, run_id: str) -> BacktestRun | None:
        return next((r for r in self.runs() if r.run_id == run_id), None)


def _read_outcome(folder: Path) -> tuple[str, str | None] | None:
    try:
        body = json.loads((folder / "outcome.json").read_text())
    except (OSError, ValueError):
        return None
    return str(body["status"]), body.get("error")


def _child(profile_json: str, data: str, folder: str, run_id: str, done: Any, total: Any) -> None:
    """The child process: load, run, write the trader's files and ``outcome.json``."""
    out = Path(folder)

    def progress(bars_done: int, bars_total: int) -> None:
        done.value, total.value = bars_done, bars_total

    try:
        profile = BotProfile.model_validate_json(profile_json)
        bars = load_inputs(profile, data)
        total.value = len(bars) if isinstance(bars, Bars) else len(next(iter(bars.values())))
        run_backtest(profile, bars, out, bot_id=f"backtest-{run_id}", progress=progress)
    except BacktestInputError as exc:
        outcome: dict[str, Any] = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported on the page
        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    else:
        outcome = {"status": "done", "error": None}
    (out / "outcome.json").write_text(json.dumps(outcome))
