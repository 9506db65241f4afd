"""Capture every log line of this process (structlog and stdlib, DEBUG and up) in a buffer."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from structlog._config import BoundLoggerLazyProxy

from stack.logging import configure_logging


def _forget_cached_loggers() -> None:
    """Module-level structlog proxies cache their logger on first use; make them re-read the config."""
    for module in list(sys.modules.values()):
        try:
            values = list(vars(module).values())
        except TypeError:
            continue
        for value in values:
            if isinstance(value, BoundLoggerLazyProxy):
                value.__dict__.pop("bind", None)


@contextmanager
def all_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    _forget_cached_loggers()
    configure_logging(level="DEBUG", json_lines=True, service="captured", stream=buffer)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        # back to exactly what was there (not a fresh configure: sys.stderr may be a
        # capture stream that is closed after this test)
        structlog.configure(**saved_config)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        _forget_cached_loggers()
