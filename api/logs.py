"""The server's log lines: JSON (one object a line, the default) or text, with the request id.

``configure_logging`` is called by ``create_app`` (so in every uvicorn worker, which starts
with no logging of its own): it puts the chosen formatter on the console handlers of the root
logger and of uvicorn's loggers, adding one stderr handler to the root when there is none.
Handlers that write elsewhere (pytest's, a file an operator set up) are left as they are.

Every line logged while a request is being served carries that request's id (a context
variable set by :class:`api.observability.Observe`). Access lines (logger ``pufa.access``)
carry their fields in ``record.fields``; the formatters write them as JSON keys or as
``key=value``. What must never be logged is kept out where the fields are made: no body, no
query string, no text typed by a person, no user id (see ``api.observability``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

__all__ = ["REQUEST_ID", "JsonFormatter", "TextFormatter", "configure_logging"]

REQUEST_ID: ContextVar[str | None] = ContextVar("pufa_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
# uvicorn's records carry a colored copy of the message.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "fields",
                                                                             "color_message"}


def _iso(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC), level, logger, pid, request_id (while serving one),
    msg, an access line's fields, any ``extra=`` values, and the traceback as ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": _iso(record.created), "level": record.levelname, "logger": record.name,
                               "pid": record.process}
        rid = REQUEST_ID.get()
        if rid is not None:
            out["request_id"] = rid
        out["msg"] = record.getMessage()
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger [request id]: message key=value ...`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(_pufa_rid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = REQUEST_ID.get()
        record._pufa_rid = f" [{rid}]" if rid is not None else ""
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items() if k != "request_id" and v is not None)
        return line


class _Stderr(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when it writes (as logging's last resort
    does): a test harness that swaps stderr never leaves it writing to a closed stream."""

    _pufa = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def _is_console(handler: logging.Handler) -> bool:
    if getattr(handler, "_pufa", False):
        return True
    if type(handler) is not logging.StreamHandler:  # subclasses (files, test harnesses) are not ours
        return False
    stream = getattr(handler, "stream", None)
    return stream is not None and stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    """Console log lines in ``fmt`` ("json" or "text") at ``level`` and above. Idempotent."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    root = logging.getLogger()
    consoles = [h for h in root.handlers if _is_console(h)]
    if not consoles:
        consoles = [_Stderr()]
        root.addHandler(consoles[0])
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        consoles += [h for h in logging.getLogger(name).handlers if _is_console(h)]
    for handler in consoles:
        handler.setFormatter(formatter)
    root.setLevel(logging.getLevelName(level.upper()))
