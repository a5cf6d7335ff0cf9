"""Trained model directories: arrays plus configuration plus a versioned manifest.

A model version is a directory ``<models>/<version>/``::

    manifest.json     format, version, created_at, the taxonomy's topic ids, figures, files
    tokenizer.json    the tokenizer settings and its dictionary and stop words (self-contained)
    index/            ItemIndex arrays (TF-IDF, dense vectors, vocabulary, ids)
    classifier/       TopicClassifier arrays (coefficients, calibration, thresholds)
    catalog/          per-item serving data aligned with the index rows (topic weights ...)

No pickles: everything is ``.npy``/``.npz``/JSON, so a version loads fast and can be read by
other tools. ``<models>/ACTIVE`` names the active version for tools without a database; the
database's ``model_versions`` table is the source of truth for the service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from corpus.taxonomy import DictWord
from recommender.text import LegalTokenizer

__all__ = [
    "FORMAT_VERSION",
    "ArtifactError",
    "active_version",
    "load_tokenizer",
    "new_version_id",
    "read_manifest",
    "save_tokenizer",
    "set_active",
    "write_manifest",
]

FORMAT_VERSION = 1


class ArtifactError(RuntimeError):
    """A model directory is missing, incomplete or of another format."""


def new_version_id(now: dt.datetime | None = None, salt: str = "") -> str:
    now = now or dt.datetime.now(dt.UTC)
    digest = hashlib.sha1(f"{now.isoformat()}{salt}{os.getpid()}".encode()).hexdigest()[:6]
    return f"v{now:%Y%m%d-%H%M%S}-{digest}"


def save_tokenizer(tok: LegalTokenizer, directory: Path) -> None:
    data = {
        "backend": tok.backend, "hmm": tok.hmm, "search_mode": tok.search_mode,
        "words": [[w.word, w.freq, w.tag] for w in tok.words],
        "stopwords": sorted(tok.stopwords),
    }
    (directory / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def load_tokenizer(directory: Path) -> LegalTokenizer:
    path = directory / "tokenizer.json"
    if not path.exists():
        raise ArtifactError(f"{directory}: tokenizer.json is missing")
    data = json.loads(path.read_text(encoding="utf-8"))
    return LegalTokenizer(
        backend=data["backend"], hmm=data["hmm"], search_mode=data.get("search_mode", True),
        words=[DictWord(w, int(f), t) for w, f, t in data["words"]], stopwords=data["stopwords"],
    )


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    manifest = {"format": FORMAT_VERSION, **manifest}
    files = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    manifest["files"] = [f for f in files if f != "manifest.json"]
    tmp = directory / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    tmp.replace(directory / "manifest.json")


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    if not path.exists():
        raise ArtifactError(f"{directory}: not a model version (no manifest.json; build not finished?)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise ArtifactError(f"{directory}: model format {manifest.get('format')} is not {FORMAT_VERSION}")
    missing = [f for f in manifest.get("files", []) if not (directory / f).exists()]
    if missing:
        raise ArtifactError(f"{directory}: incomplete model, missing {missing[:3]}")
    return manifest


def set_active(models_dir: Path, version: str) -> None:
    """Atomically point ``ACTIVE`` at a version (rename is atomic on POSIX)."""
    if not (models_dir / version / "manifest.json").exists():
        raise ArtifactError(f"{models_dir / version}: no such model version")
    # One temporary file per call: two activations at once in one process (two requests) must
    # not share it, or one rename finds it gone.
    tmp = models_dir / f".ACTIVE.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(version + "\n", encoding="utf-8")
    tmp.replace(models_dir / "ACTIVE")


def active_version(models_dir: Path) -> str | None:
    path = models_dir / "ACTIVE"
    if not path.exists():
        return None
    version = path.read_text(encoding="utf-8").strip()
    return version or None
