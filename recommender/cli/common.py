"""Shared pieces of the ``pufa`` commands: where the database and the models are, errors,
JSON output, the progress bar, reading JSON Lines and loading the active model."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from recommender.vocab import DEFAULT_DB_URL, DEFAULT_MODELS_DIR


class UsageError(Exception):
    """Bad usage or bad input: exit status 2."""


def fail(msg: str, code: int = 2) -> NoReturn:
    print(f"pufa: error: {msg}", file=sys.stderr)
    raise SystemExit(code)


def db_url(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("PUFA_DB") or DEFAULT_DB_URL


def models_dir(args: argparse.Namespace) -> Path:
    return Path(args.models or os.environ.get("PUFA_MODELS") or DEFAULT_MODELS_DIR)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value}); --all prints every row")
    return value


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


class Bar:
    """A progress bar on a terminal (stderr); silent when stderr is not a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = ""
        self._t0 = time.perf_counter()

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        width = 30
        done = int(width * max(0.0, min(1.0, fraction)))
        line = f"\r[{'#' * done}{'.' * (width - done)}] {fraction * 100:5.1f}% {time.perf_counter() - self._t0:6.1f}s {stage[:50]}"
        if line != self._last:
            sys.stderr.write(line.ljust(100))
            sys.stderr.flush()
            self._last = line
        if fraction >= 1.0:
            sys.stderr.write("\n")

    def close(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\n")
            self._last = ""


def load_active(args: argparse.Namespace) -> Any:
    from recommender.artifacts import ArtifactError
    from recommender.model import load_active_model

    try:
        return load_active_model(models_dir(args), db_url=db_url(args) if args.db or os.environ.get("PUFA_DB") else None)
    except ArtifactError as exc:
        fail(f"{exc} (run `pufa build` first)", 1)

def json_lines(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, error or None) for each non-blank line of a JSON Lines
    file ('-' is standard input)."""
    if path == "-":
        fh = sys.stdin
    else:
        try:
            fh = open(path, encoding="utf-8")
        except OSError as exc:
            fail(f"--jsonl {path}: {exc}")
    try:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"invalid JSON: {exc.msg}"
                continue
            if not isinstance(obj, dict):
                yield lineno, None, "each line must be a JSON object"
                continue
            yield lineno, obj, None
    finally:
        if fh is not sys.stdin:
            fh.close()

