"""Configured logging: lines are written by a writer thread, and still carry the caller's request id."""

from __future__ import annotations

import json
import logging

import pytest

from stackyard.observability import logs


def test_configured_logging_writes_json_lines_with_the_request_id_of_the_caller(
    capfd: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure_logging("INFO", "json")
        token = logs.request_id.set("req-7")
        try:
            logging.getLogger("stackyard.test").info("hello", extra={"pipeline": "greet"})
        finally:
            logs.request_id.reset(token)
        logging.getLogger("stackyard.test").debug("below the level")
        logs.stop_logging()  # drains the queue: everything logged so far is written
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    assert [(line["message"], line["request_id"], line["pipeline"]) for line in lines] == [("hello", "req-7", "greet")]
