"""Model: one trained version, loaded — tokenizer, lexicon, index, classifier, catalogue,
and the answer path's BM25 index and ranker.

``load_model(path)`` reads a version directory and checks that its parts agree (the
taxonomy knows every topic, index and catalogue rows match); ``load_active_model`` finds
the version to serve. A model carries the pipeline config of its version (``config``: what
the engine serves it with unless told otherwise) and how its items are tagged (``tagging``).
Kept apart from :mod:`recommender.engine` because building, evaluating and the CLI need a
model without the request-time machinery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.taxonomy import Taxonomy, load_taxonomy
from recommender.ann import IVFIndex
from recommender.answer import Answerer
from recommender.answer_model import AnswerModel
from recommender.artifacts import (
    ArtifactError,
    active_version,
    artifacts_dir,
    load_tokenizer,
    read_manifest,
    read_pipeline_config,
)
from recommender.bm25 import BM25Index
from recommender.catalog import Catalog
from recommender.classify import TopicClassifier
from recommender.config import PipelineConfig, TaggingConfig
from recommender.expander import QueryExpander
from recommender.index import ItemIndex
from recommender.jsonconfig import ConfigError
from recommender.related import LINKS_FILE, Key, Related, load_links
from recommender.text import LegalTokenizer

__all__ = ["Model", "load_active_model", "load_model"]


@dataclass
class Model:
    version: str
    path: Path
    manifest: dict[str, Any]
    tokenizer: LegalTokenizer
    expander: QueryExpander
    index: ItemIndex
    classifier: TopicClassifier
    catalog: Catalog
    taxonomy: Taxonomy
    ivf: IVFIndex | None = None
    bm25: BM25Index | None = None  # None in versions built before the answer path
    answer: AnswerModel | None = None
    config: PipelineConfig = field(default_factory=PipelineConfig)  # the version's pipeline_config.json
    tagging: TaggingConfig = field(default_factory=TaggingConfig)  # its build_config.json's "tagging"
    # Bumped by each catalogue change made in place (``Engine.add_items``): with ``version``
    # it names one snapshot, so a cache can tell snapshots apart without object ids.
    revision: int = 0
    # Item id → the article keys its text cites (``links.json``, written by ``pufa build``;
    # empty for versions built before links existed).
    links: dict[str, list[Key]] = field(default_factory=dict, repr=False)
    _answerer: Answerer | None = field(default=None, init=False, repr=False, compare=False)
    _related: Related | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def answerer(self) -> Answerer | None:
        """The answer path of this snapshot (built on first use; a changed catalogue is a new
        snapshot, so it never reads stale rows)."""
        if self.bm25 is None:
            return None
        if self._answerer is None:
            self._answerer = Answerer(self.catalog, self.index, self.bm25, self.answer, ivf=self.ivf)
        return self._answerer

    @property
    def related(self) -> Related:
        """Related content of this snapshot (its indexes made on first use)."""
        if self._related is None:
            self._related = Related(self.catalog, self.links)
        return self._related

    def classify(self, text: str, title: str | None = None, *, min_score: float | None = None,
                 limit: int | None = None) -> dict[str, Any]:
        """Topics with calibrated scores, and the keywords that drove them (by default those
        stored for review: ``tagging.prediction_min_score`` and ``prediction_limit``)."""
        min_score = self.tagging.prediction_min_score if min_score is None else min_score
        limit = self.tagging.prediction_limit if limit is None else limit
        full = f"{title}\n{text}" if title else text
        topics = self.classifier.predict_topics(full, min_score=min_score, limit=limit)
        keywords = self.classifier.explain(full, [t for t, _ in topics[:3]]) if topics else []
        return {
            "topics": [{"id": t, "score": round(s, 4), "name": self.taxonomy.topic_name(t)} for t, s in topics],
            "keywords": keywords,
        }


def load_model(path: str | Path, *, taxonomy: Taxonomy | None = None) -> Model:
    """The version in ``path``: its arrays (its own, or for a config-only version the trained
    version's it names) and its pipeline config."""
    v = Path(path)
    manifest = read_manifest(v)
    d = artifacts_dir(v, manifest)
    config = read_pipeline_config(v)
    tokenizer = load_tokenizer(d)
    expander = QueryExpander.load(d / "lexicon.json")
    tax = taxonomy or load_taxonomy()
    missing = set(manifest["topic_ids"]) - set(tax.topic_ids)
    if missing:
        raise ArtifactError(f"{d}: model knows topics the taxonomy lacks: {sorted(missing)}")
    index = ItemIndex.load(d / "index")
    catalog = Catalog.load(d / "catalog")
    if index.ids_ != [m.id for m in catalog.metas]:
        raise ArtifactError(f"{d}: index and catalog rows do not match")
    bm25 = BM25Index.load(d / "bm25") if (d / "bm25" / "bm25.json").exists() else None
    answer = AnswerModel.load(d / "answer") if (d / "answer" / "answer.json").exists() else None
    return Model(
        version=manifest["version"], path=v, manifest=manifest, tokenizer=tokenizer, expander=expander,
        index=index, classifier=TopicClassifier.load(d / "classifier", tokenizer=tokenizer, expander=expander),
        catalog=catalog, taxonomy=tax, ivf=IVFIndex.load(d / "index"), bm25=bm25, answer=answer,
        config=config, tagging=_tagging(d), links=load_links(d / LINKS_FILE),
    )


def _tagging(d: Path) -> TaggingConfig:
    """The tagging section of the version's build config (the defaults when it has none)."""
    path = d / "build_config.json"
    if not path.exists():
        return TaggingConfig()
    raw = json.loads(path.read_text(encoding="utf-8"))
    try:
        return TaggingConfig.from_stored(raw.get("tagging", {}), f"{path} tagging", prefix="tagging")
    except ConfigError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc


def load_active_model(models_dir: str | Path, *, db_url: str | None = None, migrate: bool = True) -> Model:
    """The active version: the database's choice when a URL is given, else ``ACTIVE``.
    ``migrate=False`` reads the database as it is (a benchmark must not change one in use)."""
    models = Path(models_dir)
    if db_url:
        from recommender.store import open_store

        row = open_store(db_url, migrate_schema=migrate).models.active()
        if row:
            return load_model(row.path)
    version = active_version(models)
    if version is None:
        raise ArtifactError(f"no active model version in {models}")
    return load_model(models / version)
