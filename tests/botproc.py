"""``hmmtrade bot run`` as a child process, for tests that kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class BotProcess:
    """One run of a bot; ``kill_after_seq`` SIGKILLs it once it reported a given seq."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stack.cli", "bot", "run", "--config", str(config), *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.last_seq = 0

    def read_until_seq(self, seq: int) -> bool:
        """Read the bot's per-decision lines until one has ``seq`` or more (True), or it exits (False)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("seq="):
                self.last_seq = int(line.split()[0].removeprefix("seq="))
                if self.last_seq >= seq:
                    return True
        return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)

    def terminate(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err

    def wait(self) -> tuple[int, str]:
        _, err = self.process.communicate(timeout=300)
        return self.process.returncode, err
