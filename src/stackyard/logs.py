"""Log set-up: readable lines by default, keyword fields appended; never request payloads."""

from __future__ import annotations

import logging
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class FieldsFormatter(logging.Formatter):
    """`time level logger message key=value ...`, with the `extra=` fields a call passed."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: dict[str, Any] = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        return line


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Haystack logs every component run at INFO; that is per-request noise for a server.
    logging.getLogger("haystack").setLevel(max(logging.WARNING, root.level))
