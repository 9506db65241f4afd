"""Where the agent keeps things: one folder (``--home``) holds every bot and its data.

::

    HOME/config/instances/<bot_id>.yaml   the bot (bot_id + profile), what ``hmmtrade bot run`` reads
    HOME/config/instances/<bot_id>.env    its broker keys and settings (0600, never leaves the machine)
    HOME/state/<bot_id>/                  the runner's state (checkpoint, audit when offline)
    HOME/logs/<bot_id>.log                the bot's stdout and stderr
    HOME/logs/zygote.log                  the output of the zygote the bots are forked from
    HOME/run/                             supervisor bookkeeping: pid files, "stopped" markers, agent lock
    HOME/backtests/<run_id>/              walk-forward runs from the dashboard
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AgentHome:
    root: Path

    @classmethod
    def at(cls, root: Path) -> AgentHome:
        home = cls(root.resolve())
        for folder in (home.instances_dir, home.state_root, home.logs_dir, home.run_dir, home.backtests_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return home

    @property
    def instances_dir(self) -> Path:
        return self.root / "config" / "instances"

    @property
    def state_root(self) -> Path:
        return self.root / "state"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def backtests_dir(self) -> Path:
        return self.root / "backtests"

    def config_path(self, bot_id: str) -> Path:
        return self.instances_dir / f"{bot_id}.yaml"

    def env_path(self, bot_id: str) -> Path:
        return self.instances_dir / f"{bot_id}.env"

    def state_dir(self, bot_id: str) -> Path:
        return self.state_root / bot_id

    def log_path(self, bot_id: str) -> Path:
        return self.logs_dir / f"{bot_id}.log"

    def pid_path(self, bot_id: str) -> Path:
        return self.run_dir / f"{bot_id}.pid"

    def stopped_marker(self, bot_id: str) -> Path:
        return self.run_dir / f"{bot_id}.stopped"
