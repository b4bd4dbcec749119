import json
import logging

from execbox.api.logs import JsonFormatter


def test_one_json_object_per_record_with_the_extras():
    record = logging.makeLogRecord({"name": "execbox.run", "levelname": "INFO", "msg": "run",
                                    "run_id": "abc", "status": "ok",
                                    "color_message": "\x1b[36m"})
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "run" and entry["run_id"] == "abc" and entry["status"] == "ok"
    assert entry["level"] == "info" and entry["ts"].endswith("Z")
    assert "color_message" not in entry
