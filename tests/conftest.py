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


def pytest_configure(config):
    # One cache of sentence vectors for the whole session: the many small builds of the tests
    # embed the sample content once (real servers started by the tests inherit it).
    if "PUFA_EMBED_CACHE" not in os.environ:
        import tempfile

        os.environ["PUFA_EMBED_CACHE"] = str(Path(tempfile.mkdtemp(prefix="pufa-embed-")) / "embeddings.sqlite3")


def pytest_report_header(config):
    return f"shared corpus: {SHARED_CORPUS} ({'present' if SHARED_CORPUS.exists() else 'ABSENT: realdata tests skip'})"


GRASS_LAW = """# 中华人民共和国草场测试法

2019年1月1日 第十三届全国人民代表大会常务委员会第七次会议通过

<!-- INFO END -->

## 第一章 总则

第一条 为了保护草原承包经营权，规范草牧场流转，制定本法。

第二条 牧民承包的草场、草牧场受法律保护，任何组织和个人不得侵占承包草场。

第三条 草原承包经营权流转应当签订书面合同，禁牧区和草畜平衡区的承包方应当遵守禁牧休牧规定。
"""


@pytest.fixture(scope="session")
def sample_env(tmp_path_factory):
    """A database with the bundled sample content plus two versions of a small law, and a
    model built from it (evaluation off): what a fresh machine runs on."""
    from corpus.loaders import load_paths
    from recommender.build import BuildConfig, build_model
    from recommender.store import open_store

    root = tmp_path_factory.mktemp("sample_env")
    laws = root / "laws" / "经济法"
    laws.mkdir(parents=True)
    (laws / "草场测试法(2019-01-01).md").write_text(GRASS_LAW, encoding="utf-8")
    newer = GRASS_LAW.replace("2019年1月1日", "2024年6月1日").replace("第七次会议", "第十次会议")
    (laws / "草场测试法(2024-06-01).md").write_text(newer, encoding="utf-8")
    url = f"sqlite:///{root / 'pufa.db'}"
    store = open_store(url)
    result = load_paths([SAMPLE_DIR, root / "laws"])
    assert not result.rejected, result.rejected
    store.items.upsert(result.items)
    report = build_model(store, root / "models", config=BuildConfig(evaluate=False))
    return {"url": url, "models": root / "models", "store": store, "version": report.version, "root": root}


PG_URL = os.environ.get("PUFA_TEST_PG_URL")


def _fresh_pg_database(admin_url: str) -> tuple[str, str]:
    """Create an empty database on the test server; returns (its URL, its name)."""
    import uuid

    import sqlalchemy as sa

    name = f"pufa_test_{uuid.uuid4().hex[:10]}"
    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                           isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}", name


def _drop_pg_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                           isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend_env(request, tmp_path_factory):
    """The sample content and a built model on each database backend (PostgreSQL when
    PUFA_TEST_PG_URL names a server; .ci/run starts one)."""
    from corpus.loaders import load_paths
    from recommender.build import BuildConfig, build_model
    from recommender.store import open_store

    root = tmp_path_factory.mktemp(f"env_{request.param}")
    pg_name = None
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("PostgreSQL tests need PUFA_TEST_PG_URL (scripts/start-postgres.sh prints one)")
        url, pg_name = _fresh_pg_database(PG_URL)
    else:
        url = f"sqlite:///{root / 'pufa.db'}"
    laws = root / "laws" / "经济法"
    laws.mkdir(parents=True)
    (laws / "草场测试法(2019-01-01).md").write_text(GRASS_LAW, encoding="utf-8")
    store = open_store(url)
    result = load_paths([SAMPLE_DIR, root / "laws"])
    store.items.upsert(result.items)
    report = build_model(store, root / "models", config=BuildConfig(evaluate=False))
    store.close()
    yield {"backend": request.param, "url": url, "models": root / "models", "version": report.version,
           "root": root}
    if pg_name:
        _drop_pg_database(PG_URL, pg_name)
