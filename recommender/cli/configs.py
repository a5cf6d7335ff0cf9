"""``pufa config validate|schema|show``: the pipeline config, checked, described and read back.

A model version serves with the pipeline config saved in it (``pipeline_config.json``); these
commands check a file before it goes anywhere (``pufa build --config``, ``POST
/v1/admin/models/{v}/config``, ``pufa evaluate --config``), print the JSON Schema, and show
what a version serves with.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from recommender.cli.common import UsageError, db_url, fail, models_dir, print_json


def read_config_file(path: str, flag: str = "--config") -> Any:
    """A pipeline config file as :class:`~recommender.config.PipelineConfig` (fields left out
    take the defaults); a bad file is a usage error naming each bad field."""
    from recommender.config import PipelineConfig
    from recommender.jsonconfig import ConfigError

    try:
        return PipelineConfig.from_json(_read(path))
    except ConfigError as exc:
        raise UsageError(f"{flag} {path}: {exc}") from None


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def cmd_config(args: argparse.Namespace) -> int:
    return {"validate": _validate, "schema": _schema, "show": _show}[args.action](args)


def _validate(args: argparse.Namespace) -> int:
    """``pufa config validate FILE [--build]``: "ok" and the whole config as it will be used,
    or each problem naming its field (exit status 2)."""
    from recommender.build import BuildFile
    from recommender.config import PipelineConfig
    from recommender.jsonconfig import ConfigError

    text = _read(args.file)
    try:
        cfg = (BuildFile if args.build else PipelineConfig).from_json(text)
    except ConfigError as exc:
        if args.json:
            print_json({"ok": False, "errors": [{"field": f, "message": m} for f, m in exc.problems]})
        else:
            for f, m in exc.problems:
                print(f"pufa: error: {args.file}: {f}: {m}", file=sys.stderr)
        return 2
    if args.json:
        print_json({"ok": True, "config": cfg.to_dict()})
    else:
        print("ok")
        print(cfg.to_json())
    return 0


def _schema(args: argparse.Namespace) -> int:
    from recommender.build import BuildFile
    from recommender.config import PipelineConfig

    schema = (BuildFile if args.build else PipelineConfig).json_schema()
    print(json.dumps(schema, ensure_ascii=False) if args.json else json.dumps(schema, ensure_ascii=False, indent=2))
    return 0


def _show(args: argparse.Namespace) -> int:
    """``pufa config show [--version V]``: the pipeline config of the active or a given version
    (stdout: the config's JSON, ready for ``--config``; stderr: which version)."""
    from recommender.artifacts import ArtifactError, read_manifest, read_pipeline_config

    version, home = _version_home(args, args.version)
    try:
        manifest = read_manifest(home)
        cfg = read_pipeline_config(home)
    except ArtifactError as exc:
        fail(str(exc), 1)
    if args.json:
        print_json({"version": version, "config_only": bool(manifest.get("config_only")),
                    "parent": manifest.get("parent"), "config": cfg.to_dict()})
        return 0
    origin = f" (config-only, arrays of {manifest.get('parent')})" if manifest.get("config_only") else ""
    print(f"pufa: model version {version}{origin}", file=sys.stderr)
    print(cfg.to_json())
    return 0


def _version_home(args: argparse.Namespace, version: str | None) -> tuple[str, Path]:
    """(version, its directory): the database's registry when ``--db``/``PUFA_DB`` is given
    (as ``pufa recommend`` does), else the models directory and its ``ACTIVE``."""
    from recommender.artifacts import active_version

    models = models_dir(args)
    if args.db or os.environ.get("PUFA_DB"):
        from recommender.store import open_store

        store = open_store(db_url(args), migrate_schema=False)
        row = next((m for m in store.models.list() if m.version == version), None) if version \
            else store.models.active()
        if row is not None:
            return row.version, Path(row.path)
    name = version or active_version(models)
    if name is None:
        fail(f"no active model version in {models} (run `pufa build` first)", 1)
    if not (models / name / "manifest.json").exists():
        raise UsageError(f"--version: no model version '{name}' in {models}")
    return name, models / name
