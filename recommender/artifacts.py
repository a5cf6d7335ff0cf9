"""Trained model directories: arrays plus configuration plus a versioned manifest.

A model version is a directory ``<models>/<version>/``::

    manifest.json          format, version, created_at, the taxonomy's topic ids, figures, files
    pipeline_config.json   the PipelineConfig the version serves with (absent: the defaults)
    build_config.json      the BuildConfig it was trained with (a retrain reuses it)
    tokenizer.json         the tokenizer settings and its dictionary and stop words (self-contained)
    index/                 ItemIndex arrays (TF-IDF, dense vectors, vocabulary, ids)
    classifier/            TopicClassifier arrays (coefficients, calibration, thresholds)
    catalog/               per-item serving data aligned with the index rows (topic weights ...)

A *config-only* version (``POST /v1/admin/models/{v}/config``) holds only its manifest and its
``pipeline_config.json``; its manifest says ``"config_only": true``, names its ``parent`` and
where the arrays are (``"artifacts"``: the directory of the trained version, relative to its
own). It never copies them, and always points at a trained version (a config-only version made
from another one points where that one points), so there is one hop. A trained version that
config-only versions point at must be kept as long as they are (there is no deletion).

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
from recommender.config import PipelineConfig
from recommender.jsonconfig import ConfigError
from recommender.text import LegalTokenizer

__all__ = [
    "FORMAT_VERSION",
    "PIPELINE_FILE",
    "ArtifactError",
    "active_version",
    "artifacts_dir",
    "load_tokenizer",
    "new_version_id",
    "read_manifest",
    "read_pipeline_config",
    "save_config_version",
    "save_tokenizer",
    "set_active",
    "write_manifest",
    "write_pipeline_config",
]

FORMAT_VERSION = 1
PIPELINE_FILE = "pipeline_config.json"


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
    if manifest.get("config_only"):
        base = artifacts_dir(directory, manifest)
        if read_manifest(base).get("config_only"):
            raise ArtifactError(f"{directory}: its artifacts ({base}) are another config-only version")
    return manifest


def artifacts_dir(directory: Path, manifest: dict[str, Any] | None = None) -> Path:
    """Where a version's trained arrays are: its own directory, or for a config-only version
    the trained version's directory its manifest names (relative to its own)."""
    manifest = manifest if manifest is not None else read_manifest(directory)
    ref = manifest.get("artifacts")
    return (directory / ref).resolve() if ref else directory


def write_pipeline_config(directory: Path, config: PipelineConfig) -> None:
    (directory / PIPELINE_FILE).write_text(config.to_json() + "\n", encoding="utf-8")


def read_pipeline_config(directory: Path) -> PipelineConfig:
    """The pipeline config a version serves with (the defaults for a version without one)."""
    path = directory / PIPELINE_FILE
    if not path.exists():
        return PipelineConfig()
    try:
        return PipelineConfig.from_stored_json(path.read_text(encoding="utf-8"), str(path))
    except ConfigError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc


def save_config_version(models_dir: Path, parent: Path, config: PipelineConfig, version: str) -> Path:
    """A new version with ``config`` over the trained arrays of the version in ``parent`` (shared,
    never copied); written atomically (a temporary name, then a rename). Not activated."""
    pm = read_manifest(parent)
    base = artifacts_dir(parent, pm)
    out = models_dir / version
    tmp = models_dir / f".{version}.tmp"
    tmp.mkdir(parents=True, exist_ok=False)
    write_pipeline_config(tmp, config)
    manifest = {
        "version": version, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "topic_ids": pm["topic_ids"], "catalog_seq": pm.get("catalog_seq"), "report": pm.get("report", {}),
        "config_only": True, "parent": pm["version"],
        "artifacts": os.path.relpath(base.resolve(), out.resolve()),
    }
    write_manifest(tmp, manifest)
    tmp.rename(out)
    return out


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
