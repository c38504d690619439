"""Log set-up: readable lines by default, keyword fields appended; never request payloads."""

from __future__ import annotations

import atexit
import json
import logging
import queue
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from typing import Any, TextIO

# The id of the request being handled, set by the request-log middleware; every line logged meanwhile carries it.
request_id: ContextVar[str | None] = ContextVar("stackyard_request_id", default=None)

# Attributes every record has, not fields a call passed. uvicorn passes `color_message`, its message with terminal
# colour codes, for its own formatter: a log file or collector must never get them.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class FieldsFormatter(logging.Formatter):
    """`time level logger message key=value ...`, with the `extra=` fields a call passed."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: dict[str, Any] = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then the `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to lines logged while a request is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is not None and not hasattr(record, "request_id"):
            record.request_id = current
        return True


def log_handler(fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A handler writing `fmt` ('text' or 'json') lines to `stream` (standard error by default)."""
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RequestIdFilter())
    return handler


class _DeferredQueueHandler(QueueHandler):
    """Hands records to the writer thread unformatted: formatting and writing stay off the event loop.

    The standard `prepare` formats in the caller's thread; records here carry only immutable values, so the
    writer thread can format them later.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


_listener: QueueListener | None = None


def stop_logging() -> None:
    """Write what is queued and stop the writer thread (at exit, or before logging is configured again)."""
    global _listener  # noqa: PLW0603 - see configure_logging
    if _listener is not None:
        _listener.stop()
        _listener = None


def write_logs_directly() -> None:
    """Write what is queued, then write every later line in the caller's thread (for shutdown, when the process may
    end by a signal that skips atexit). Does nothing unless `configure_logging` set up the queue."""
    if _listener is None:
        return
    writer = _listener.handlers[0]
    stop_logging()
    writer.addFilter(RequestIdFilter())
    logging.getLogger().handlers[:] = [writer]


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log through a queue to a writer thread: one access line per request must not cost the event loop a write."""
    global _listener  # noqa: PLW0603 - one writer thread per process, replaced when logging is configured again
    writer = log_handler(fmt)
    # The request id lives in a context variable of the request's task: read it in the caller, not the writer.
    writer.filters.clear()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _DeferredQueueHandler(records)
    handler.addFilter(RequestIdFilter())
    stop_logging()
    _listener = QueueListener(records, writer, respect_handler_level=True)
    _listener.start()
    atexit.register(stop_logging)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Haystack logs every component run at INFO; that is per-request noise for a server.
    logging.getLogger("haystack").setLevel(max(logging.WARNING, root.level))
