"""Shared fixtures. Tests that need ../shared skip with a message where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PUFA_SHARED", REPO.parent / "shared"))
SHARED_CORPUS = SHARED / "corpus"
SAMPLE_DIR = REPO / "corpus" / "sample"


def need_shared(*parts: str) -> Path:
    """The path under ../shared, or skip the test saying what is missing and why."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared corpus beside the checkout; set PUFA_SHARED to point elsewhere)")
    return path


@pytest.fixture(scope="session")
def taxonomy():
    from corpus.taxonomy import load_taxonomy

    return load_taxonomy()


@pytest.fixture(scope="session")
def tokenizer(taxonomy):
    from recommender.text import LegalTokenizer

    return LegalTokenizer(taxonomy=taxonomy)


@pytest.fixture(scope="session")
def shared_corpus_items():
    """Every item of ../shared/corpus, loaded and version-resolved (once per session)."""
    from corpus.loaders import load_paths, resolve_versions

    root = need_shared("corpus")
    result = load_paths([root])
    by_id = {it.id: it for it in result.items}
    for changed in resolve_versions(result.items):
        by_id[changed.id] = changed
    return result, list(by_id.values())


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'pufa.db'}"


def pytest_report_header(config):
    return f"shared corpus: {SHARED_CORPUS} ({'present' if SHARED_CORPUS.exists() else 'ABSENT: realdata tests skip'})"
