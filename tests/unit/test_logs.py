"""Structured logs carry the request id."""

from __future__ import annotations

import json
import logging

from telehealth.logs import REQUEST_ID, JsonFormatter


def test_log_lines_are_json_with_request_id_and_extras() -> None:
    token = REQUEST_ID.set("req-123456")
    try:
        record = logging.makeLogRecord(
            {"name": "telehealth.http", "levelname": "INFO", "msg": "request", "status": 201}
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["request_id"] == "req-123456"
    assert line["status"] == 201
    assert line["message"] == "request"
