"""Which failures mean "the database is away: wait" rather than "this message failed".

A Postgres restart fails every handler alike. Counting those failures against a message's
``max_deliver`` would dead-letter intents that succeed a minute later, so ``settle`` raises
:class:`DependencyDown` for them instead of nak-ing, and the puller holds the deliveries
(``in_progress`` keeps them from being redelivered) until the database answers again.

The test looks at the whole exception chain: a dropped connection inside a transaction
surfaces as whatever the rollback raised, with the real cause as its context.
"""

from __future__ import annotations

# Connections refused or reset, and a server that is starting, recovering or shutting down.
# asyncpg's classes are named, not imported: ``events`` ships in the bot image, which has no
# Postgres driver (and no database to lose).
_PG_UNREACHABLE = frozenset(
    {
        "PostgresConnectionError",  # SQLSTATE class 08, incl. "closed in the middle of operation"
        "CannotConnectNowError",  # 57P03: starting up, in recovery
        "AdminShutdownError",  # 57P01
        "CrashShutdownError",  # 57P02: another backend crashed, the server is resetting
        "TooManyConnectionsError",  # 53300: waiting is the only remedy
    }
)


def _asyncpg_kinds(exc: BaseException) -> set[str]:
    """The names of the asyncpg classes ``exc`` is an instance of."""
    return {cls.__name__ for cls in type(exc).__mro__ if cls.__module__.startswith("asyncpg")}


class DependencyDown(Exception):
    """A dependency every message needs is unreachable; the delivery is held, not failed."""


def is_database_down(exc: BaseException) -> bool:
    """True if ``exc`` (or anything in its cause/context chain) says Postgres cannot be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unreachable(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, (DependencyDown, ConnectionError)):  # refused, reset, aborted, broken pipe
        return True
    kinds = _asyncpg_kinds(exc)
    if kinds & _PG_UNREACHABLE:
        return True
    if "InterfaceError" in kinds:
        return "connection is closed" in str(exc) or "connection was closed" in str(exc)
    if "InternalClientError" in kinds:
        # "cannot switch to state …; another operation is in progress": seen from a query that
        # raced the server's death on a pooled connection (the pool replaces that connection)
        return "another operation" in str(exc)
    if isinstance(exc, OSError):  # TimeoutError included
        return _raised_while_connecting(exc)
    return False


def _raised_while_connecting(exc: BaseException) -> bool:
    """Any OS error or timeout while opening a connection is an outage (an unanswering host, a
    Unix socket file that is gone); a slow query's timeout, or a file error elsewhere, is not."""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        path = code.co_filename.replace("\\", "/")
        if "/asyncpg/" in path and (path.endswith("/connect_utils.py") or code.co_name == "connect"):
            return True
        tb = tb.tb_next
    return False
