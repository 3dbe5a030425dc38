"""Structured JSON logs in which tokens, secrets and signatures never appear."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_SECRET_KEYS = re.compile(
    r"(token|secret|signature|authorization|password|private_key|jwt|cookie)", re.I
)
_SECRET_VALUES = [
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"sha(1|256)=[0-9a-fA-F]{40,64}"),  # webhook signatures
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),  # JWTs
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]
# LogRecord's own attributes, and uvicorn's copy of its message with terminal colours
_STANDARD = {*vars(logging.makeLogRecord({})), "color_message"}


def redact(value: Any, key: str = "") -> Any:
    """Mask secret-looking keys and values, recursively."""
    if key and _SECRET_KEYS.search(key):
        return "[redacted]"
    if isinstance(value, str):
        for pattern in _SECRET_VALUES:
            value = pattern.sub("[redacted]", value)
        return value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


_BASE = ("time", "level", "logger", "message", "exception")


class Log:
    """A structured logger: `log.info("run finished", rule=..., status=...)`.

    The fields travel in one record attribute, `fields`, so no field name (`name`, `args`,
    `message`...) can clash with a `LogRecord` attribute: `logging` raises KeyError for those
    when they are passed as `extra`, which once killed `hookwise worker` at start. Every
    structured log call in hookwise goes through this class (a test walks the code for `extra=`).
    """

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def _log(self, level: int, message: str, fields: dict[str, Any], exc_info: bool) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(level, message, extra={"fields": fields}, exc_info=exc_info)

    def debug(self, message: str, /, **fields: Any) -> None:
        """Log at DEBUG with fields."""
        self._log(logging.DEBUG, message, fields, False)

    def info(self, message: str, /, **fields: Any) -> None:
        """Log at INFO with fields."""
        self._log(logging.INFO, message, fields, False)

    def warning(self, message: str, /, **fields: Any) -> None:
        """Log at WARNING with fields."""
        self._log(logging.WARNING, message, fields, False)

    def error(self, message: str, /, **fields: Any) -> None:
        """Log at ERROR with fields."""
        self._log(logging.ERROR, message, fields, False)

    def exception(self, message: str, /, **fields: Any) -> None:
        """Log at ERROR with fields and the exception being handled."""
        self._log(logging.ERROR, message, fields, True)


def get(name: str) -> Log:
    """The structured logger called `name` (under `hookwise.` for hookwise's own)."""
    return Log(name)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields (a field
    named like one of those five is written as `field_<name>`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():  # extras from other libraries' records
            if name not in _STANDARD and name != "fields" and not name.startswith("_"):
                entry[name] = value
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for name, value in fields.items():
                entry[f"field_{name}" if name in _BASE else name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry), default=str)


def configure(level: str = "INFO", stream: Any = None) -> None:
    """Send the `hookwise` and uvicorn loggers to `stream` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("hookwise", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
