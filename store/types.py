"""What repositories accept: a pool, a connection, or a pooled connection."""

from __future__ import annotations

from typing import Any

# asyncpg's Pool, Connection and PoolConnectionProxy share execute/fetch*; the stubs
# type them separately, so repositories take ``Any``-typed executors through this alias.
Executor = Any
