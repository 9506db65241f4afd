"""Walk-forward backtests started from the dashboard, one folder per run under HOME/backtests/.

A run is ``trader.report.run_backtest`` in a worker thread; its progress (bars done of
total) is readable while it runs. Each folder holds the trader's audit.jsonl and
metrics.json plus ``run.json`` (data, profile, status, error), so earlier runs reopen.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.home import AgentHome
from contracts.profile import BotProfile
from trader.report import BacktestInputError, load_bars, run_backtest


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
        """Begin a run in a thread; returns at once with a run whose progress updates as it goes."""
        run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run = BacktestRun(run_id, self.home.backtests_dir / run_id, data, profile.model_dump(mode="json"))
        run.folder.mkdir(parents=True)
        self._save(run)
        self.active[run_id] = run
        asyncio.get_running_loop().run_in_executor(None, self._run, run, profile)
        return run

    def _run(self, run: BacktestRun, profile: BotProfile) -> None:
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            run.done, run.total = done, total

        try:
            bars = load_bars(run.data)
            run.total = len(bars)
            run_backtest(profile, bars, run.folder, bot_id=f"backtest-{run.run_id}", progress=progress)
        except BacktestInputError as exc:
            run.status, run.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - shown on the page; the agent keeps running
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            run.status = "done"
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
