"""Wiring: a trained model version (tokenizer, index, classifier, catalog) and what it does.

``load_model(path)`` reads a version directory; ``Model.classify`` answers "which topics is
this text about, and which words say so".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.taxonomy import Taxonomy, load_taxonomy
from recommender.artifacts import ArtifactError, active_version, load_tokenizer, read_manifest
from recommender.catalog import Catalog
from recommender.classify import QueryExpander, TopicClassifier
from recommender.index import ItemIndex
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

    def classify(self, text: str, title: str | None = None, *, min_score: float = 0.2,
                 limit: int = 5) -> dict[str, Any]:
        """Topics with calibrated scores, and the keywords that drove them."""
        full = f"{title}\n{text}" if title else text
        topics = self.classifier.predict_topics(full, min_score=min_score, limit=limit)
        keywords = self.classifier.explain(full, [t for t, _ in topics[:3]]) if topics else []
        return {
            "topics": [{"id": t, "score": round(s, 4), "name": self.taxonomy.topic_name(t)} for t, s in topics],
            "keywords": keywords,
        }


def load_model(path: str | Path, *, taxonomy: Taxonomy | None = None) -> Model:
    d = Path(path)
    manifest = read_manifest(d)
    tokenizer = load_tokenizer(d)
    expander = QueryExpander.load(d / "lexicon.json")
    tax = taxonomy or load_taxonomy()
    missing = set(manifest["topic_ids"]) - set(tax.topic_ids)
    if missing:
        raise ArtifactError(f"{d}: model knows topics the taxonomy lacks: {sorted(missing)}")
    return Model(
        version=manifest["version"], path=d, manifest=manifest, tokenizer=tokenizer, expander=expander,
        index=ItemIndex.load(d / "index"),
        classifier=TopicClassifier.load(d / "classifier", tokenizer=tokenizer, expander=expander),
        catalog=Catalog.load(d / "catalog"), taxonomy=tax,
    )


def load_active_model(models_dir: str | Path, *, db_url: str | None = None) -> Model:
    """The active version: the database's choice when a URL is given, else ``ACTIVE``."""
    models = Path(models_dir)
    version = None
    if db_url:
        from recommender.store import open_store

        row = open_store(db_url).active_model()
        if row:
            return load_model(row["path"])
    version = active_version(models)
    if version is None:
        raise ArtifactError(f"no active model version in {models}")
    return load_model(models / version)
