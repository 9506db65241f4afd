"""Configure structlog once per process: pretty on a terminal, JSON lines otherwise.

Every line carries the context bound with ``structlog.contextvars`` (``correlation_id``,
``intent_id``, ``bot_id``). The standard library's loggers (uvicorn, faststream, nats)
are routed through the same renderer.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import structlog


class _CurrentStderr:
    """``sys.stderr`` as it is when a line is written, not when logging was configured: a test
    harness (or a daemon) may swap the stream, and a closed old one must not break logging."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    *, level: str | None = None, json_lines: bool | None = None, service: str = "hmmtrade", stream: TextIO | None = None
) -> None:
    """``stream``: where lines go (default: ``sys.stderr`` as it is at each write)."""
    out: Any = stream if stream is not None else _CurrentStderr()
    level_name = (level or os.environ.get("HMMTRADE_LOG_LEVEL", "INFO")).upper()
    numeric = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        lambda _logger, _name, event: {**event, "service": service},
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
