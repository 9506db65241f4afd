"""What every dashboard page may use: the agent's parts, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from agent.backtests import Backtests
from agent.home import AgentHome
from agent.live import LiveFeed
from agent.supervisor import Supervisor
from agent.sync import CloudSync


@dataclass(frozen=True)
class AgentContext:
    home: AgentHome
    supervisor: Supervisor
    live: LiveFeed
    sync: CloudSync
    backtests: Backtests
    default_api_url: str = "http://127.0.0.1:8000"
