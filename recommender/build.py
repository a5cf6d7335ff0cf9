"""Training a model version: tokenizer, index, classifier, catalog, answer ranker.

:func:`train` is a function of data (items, editors' tags, a configuration) and returns the
model in memory; :func:`save_version` writes it; :func:`build_model` is the thin wrapper that
reads the store, trains, writes, registers and activates.

Training cuts the texts once, fits the TF-IDF and
dense index, evaluates the topic classifier with cross-validation grouped by law, fits the
final classifier (calibrated on the out-of-fold scores), decides each item's serving topics,
and trains the answer ranker on labelled questions. Activation is the caller's choice
(``pufa build`` activates; the API's background build does too, atomically).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from corpus.schema import Item
from corpus.taxonomy import Taxonomy, load_taxonomy
from recommender.ann import IVFIndex
from recommender.answer_labels import LabelledQuestion, load_article_labels
from recommender.answer_model import AnswerConfig, AnswerModel
from recommender.answer_training import fit_answer_model, prepare_training
from recommender.artifacts import (
    new_version_id,
    save_tokenizer,
    set_active,
    write_manifest,
    write_pipeline_config,
)
from recommender.bm25 import BM25Index
from recommender.catalog import Catalog, ItemMeta, serving_topics, top_predictions
from recommender.classify import ClassifierConfig, TopicClassifier, model_context, model_text
from recommender.classify_training import evaluate_grouped_cv, training_set
from recommender.config import PipelineConfig, TaggingConfig
from recommender.embed import EmbeddingCache, default_cache_path
from recommender.expander import QueryExpander
from recommender.index import IndexConfig, ItemIndex
from recommender.jsonconfig import JsonConfig
from recommender.related import LINKS_FILE, Key, citations_of_items, save_links
from recommender.store import Store
from recommender.text import LegalTokenizer

__all__ = ["BuildConfig", "BuildFile", "BuildReport", "Progress", "Trained", "build_model", "read_build_file",
           "save_version", "train"]

Progress = Callable[[str, float], None]
"""progress(stage, fraction done in [0, 1])"""


class BuildConfig(JsonConfig):
    """How a version is trained; saved as ``build_config.json`` in it (a retrain reuses it)."""

    index: IndexConfig = Field(default_factory=IndexConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    tagging: TaggingConfig = Field(default_factory=TaggingConfig)  # the items' serving topics
    # Questions labelled with the articles that answer them (STARD's format), to train the
    # answer ranker; "auto" is ../shared/queries/stard_dev.jsonl where it exists.
    questions: list[str] = Field(default_factory=lambda: ["auto"])
    evaluate: bool = True  # cross-validation of the classifier and the answer ranker (the build's figures)
    tokenizer_backend: Literal["rjieba", "jieba"] = "rjieba"
    ann_min_items: int = Field(20_000, ge=0)  # build an IVF index for candidate selection from this size


class BuildFile(BuildConfig):
    """What ``pufa build --config FILE`` reads: a BuildConfig, optionally with a ``"pipeline"``
    section (a full or partial PipelineConfig, over the defaults) that the version is saved
    with. A file without it is a plain BuildConfig, as before."""

    pipeline: PipelineConfig | None = None


def read_build_file(data: Any) -> tuple[BuildConfig, PipelineConfig | None]:
    """The build config and the pipeline config (None when the file has none) of a build file;
    :class:`ConfigError` names each bad field (``pipeline.diversity.mmr_lambda``)."""
    f = BuildFile.from_dict(data)
    return BuildConfig.from_dict({k: v for k, v in f.to_dict().items() if k != "pipeline"}), f.pipeline


def default_shared() -> Path:
    """The shared folder: ``PUFA_SHARED``, else ``shared`` beside the checkout."""
    env = os.environ.get("PUFA_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def resolve_question_files(names: list[str]) -> list[Path]:
    """The label files a build reads ("auto": the shared STARD questions, if present)."""
    out: list[Path] = []
    for name in names:
        if name == "auto":
            auto = default_shared() / "queries" / "stard_dev.jsonl"
            if auto.exists():
                out.append(auto)
        else:
            path = Path(name)
            if not path.exists():
                raise ValueError(f"labelled questions {path}: no such file")
            out.append(path)
    return out


@dataclass
class BuildReport:
    version: str
    path: str
    n_items: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    n_terms: int
    dense_dim: int
    timings: dict[str, float]
    classifier_cv: dict[str, Any] | None
    training: dict[str, int]
    answer: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _noop(stage: str, fraction: float) -> None:
    pass


@dataclass
class Trained:
    """Everything a model version holds, in memory: what :func:`train` returns and
    :func:`save_version` writes."""

    tokenizer: LegalTokenizer
    expander: QueryExpander
    index: ItemIndex
    ivf: IVFIndex | None
    bm25: BM25Index
    classifier: TopicClassifier
    catalog: Catalog
    answer: AnswerModel
    predictions: dict[str, list[dict[str, Any]]]  # item id -> its top predicted topics
    report: dict[str, Any]  # counts, timings, cross-validated figures
    # Item id → the article keys its text cites (《X法》第N条 ...): ``links.json``.
    links: dict[str, list[Key]] = field(default_factory=dict)


def train(items: list[Item], editor_tags: dict[str, list[str]], config: BuildConfig | None = None, *,
          taxonomy: Taxonomy | None = None, cache_dir: Path | None = None,
          progress: Progress | None = None, pipeline: PipelineConfig | None = None) -> Trained:
    """A model from data alone: the items, the topics editors confirmed, the configuration.
    ``cache_dir`` keeps item embeddings between builds (``PUFA_EMBED_CACHE`` overrides);
    ``pipeline`` is the config the answer ranker's training reads questions with."""
    cfg = config or BuildConfig()
    pipe = pipeline if pipeline is not None else PipelineConfig()
    tax = taxonomy or load_taxonomy()
    report_progress = progress or _noop
    if not items:
        raise ValueError("the database holds no items: run `pufa import` first")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tokenizer = LegalTokenizer(backend=cfg.tokenizer_backend, taxonomy=tax)
    texts = [model_text(it) for it in items]
    tokens: list[list[str]] = []
    step = max(1, len(texts) // 50)
    for i, text in enumerate(texts):
        tokens.append(tokenizer.tokenize(text))
        if i % step == 0:
            report_progress("tokenizing", 0.05 + 0.15 * i / len(texts))
    timings["tokenize"] = time.perf_counter() - t0

    t = time.perf_counter()
    report_progress("indexing (TF-IDF, dense)", 0.2)

    def embed_progress(done: int, total: int) -> None:
        report_progress(f"embedding items ({cfg.index.dense_backend}) {done}/{total}", 0.2 + 0.1 * done / max(total, 1))

    index = ItemIndex(cfg.index).fit([it.id for it in items], tokens, texts,
                                     cache=EmbeddingCache(default_cache_path(cache_dir)),
                                     progress=embed_progress,
                                     embed=[it.status == "current" and not it.retired for it in items])
    ivf = IVFIndex().fit(index.dense_) if len(items) >= cfg.ann_min_items else None
    timings["index"] = time.perf_counter() - t
    t = time.perf_counter()
    report_progress("BM25 index", 0.32)
    bm25 = BM25Index(cfg.answer.bm25_k1, cfg.answer.bm25_b).fit(tokens)
    timings["bm25"] = time.perf_counter() - t

    topic_ids = tax.topic_ids
    expander = QueryExpander(tax)
    data = training_set(items, tax, editor_tags=editor_tags, config=cfg.classifier)
    pos = {it.id: k for k, it in enumerate(items)}
    data_tokens = [tokens[pos[i]] if i in pos else tokenizer.tokenize(tx) for i, tx in zip(data.ids, data.texts, strict=True)]
    Y = data.matrix(topic_ids)
    cv_dict: dict[str, Any] | None = None
    oof = None
    if cfg.evaluate:
        t = time.perf_counter()
        folds = cfg.classifier.cv_folds

        def cv_progress(msg: str) -> None:
            k = int(msg.split()[1].split("/")[0]) if msg.startswith("fold") else 0
            report_progress(f"classifier cross-validation {msg}", 0.35 + 0.4 * k / max(folds, 1))

        cv = evaluate_grouped_cv(data, topic_ids, tokenizer=tokenizer, expander=expander,
                                 config=cfg.classifier, tokens=data_tokens, progress=cv_progress)
        oof = cv.oof_decision
        cv_dict = cv.to_dict()
        timings["classifier_cv"] = time.perf_counter() - t

    t = time.perf_counter()
    report_progress("training the topic classifier", 0.78)
    clf = TopicClassifier(topic_ids, tokenizer, expander, cfg.classifier)
    clf.fit(data.texts, Y, data.weights, oof_scores=oof, tokens=data_tokens, contexts=data.contexts)
    timings["classifier_fit"] = time.perf_counter() - t

    t = time.perf_counter()
    report_progress("tagging items", 0.88)
    topic_index = {tid: j for j, tid in enumerate(topic_ids)}
    # One call, so that every article is read with its whole law (contexts).
    probs = clf.predict_proba(texts, tokens, [model_context(it) for it in items]).astype(np.float32)
    metas: list[ItemMeta] = []
    serving = np.zeros_like(probs)
    for k, it in enumerate(items):
        serving[k], source = serving_topics(it, probs[k], topic_index, tax, editor_tags.get(it.id), cfg.tagging)
        metas.append(ItemMeta.from_item(it, source))
    catalog = Catalog(topic_ids, metas, serving)
    predictions = {it.id: top_predictions(probs[k], topic_ids, cfg.tagging) for k, it in enumerate(items)}
    timings["tag"] = time.perf_counter() - t
    t = time.perf_counter()
    links = citations_of_items(items, [it.law_title for it in items if it.type == "law_article"])
    timings["links"] = time.perf_counter() - t

    t = time.perf_counter()
    answer, answer_report = _train_answers(tokenizer, expander, index, clf, catalog, tax, ivf, bm25, cfg,
                                           report_progress, pipe)
    timings["answer_ranker"] = time.perf_counter() - t
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for it in items:
        by_type[it.type] = by_type.get(it.type, 0) + 1
        by_status[it.status] = by_status.get(it.status, 0) + 1
    training_counts: dict[str, int] = {}
    for src in data.sources:
        training_counts[src] = training_counts.get(src, 0) + 1
    timings["train"] = time.perf_counter() - t0
    report = {"n_items": len(items), "by_type": by_type, "by_status": by_status, "n_terms": len(index.terms_),
              "dense_dim": int(index.dense_.shape[1]), "timings": timings, "classifier_cv": cv_dict,
              "training": training_counts, "answer": answer_report}
    return Trained(tokenizer, expander, index, ivf, bm25, clf, catalog, answer, predictions, report, links)


def _train_answers(tokenizer: LegalTokenizer, expander: QueryExpander, index: ItemIndex, clf: TopicClassifier,
                   catalog: Catalog, tax: Taxonomy, ivf: IVFIndex | None, bm25: BM25Index, cfg: BuildConfig,
                   report_progress: Progress, pipeline: PipelineConfig) -> tuple[AnswerModel, dict[str, Any]]:
    """The answer ranker, trained on the labelled questions the configuration names."""
    answer = AnswerModel(cfg.answer)
    label_files = resolve_question_files(cfg.questions)
    answer_report: dict[str, Any] = {"label_files": [str(f) for f in label_files]}
    if label_files:
        from recommender.engine import Engine
        from recommender.model import Model

        model = Model(version="building", path=Path("."), manifest={}, tokenizer=tokenizer, expander=expander,
                      index=index, classifier=clf, catalog=catalog, taxonomy=tax, ivf=ivf, bm25=bm25,
                      answer=answer, config=pipeline, tagging=cfg.tagging)
        questions: list[LabelledQuestion] = []
        for f in label_files:
            qs, stats = load_article_labels(f, catalog)
            questions += qs
            answer_report[f"labels:{f.name}"] = stats
        if sum(1 for q in questions if q.gold) >= 2 * cfg.answer.cv_folds:
            engine = Engine(model)
            answerer = model.answerer
            assert answerer is not None

            def answer_progress(stage: str, fraction: float) -> None:
                report_progress(f"answer ranker: {stage}", 0.9 + 0.05 * fraction)

            ts = prepare_training(answerer, questions, lambda text: engine.query_view(engine.read_text(text)),
                                  catalog.recommendable, progress=answer_progress)
            answer = fit_answer_model(answerer, ts, cfg.answer, evaluate=cfg.evaluate, progress=answer_progress)
            answer_report.update(answer.report)
        else:
            answer_report["skipped"] = "fewer labelled questions match this catalogue than the ranker needs"
    answer.report = answer_report
    return answer, answer_report


def save_version(trained: Trained, models_dir: Path, config: BuildConfig, manifest: dict[str, Any],
                 pipeline: PipelineConfig | None = None) -> Path:
    """Write a new version directory atomically (a temporary name, then a rename), with the
    build config it was trained with and the pipeline config it serves with."""
    version = manifest["version"]
    out = models_dir / version
    tmp = models_dir / f".{version}.tmp"
    tmp.mkdir(parents=True, exist_ok=False)
    trained.bm25.save(tmp / "bm25")
    trained.answer.save(tmp / "answer")
    save_tokenizer(trained.tokenizer, tmp)
    trained.expander.save(tmp / "lexicon.json")
    trained.index.save(tmp / "index")
    if trained.ivf is not None:
        trained.ivf.save(tmp / "index")
    trained.classifier.save(tmp / "classifier")
    trained.catalog.save(tmp / "catalog")
    save_links(trained.links, tmp / LINKS_FILE)
    (tmp / "build_config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    write_pipeline_config(tmp, pipeline if pipeline is not None else PipelineConfig())
    write_manifest(tmp, manifest)
    tmp.rename(out)
    return out


def build_model(
    store: Store,
    models_dir: str | Path,
    *,
    config: BuildConfig | None = None,
    taxonomy: Taxonomy | None = None,
    activate: bool = True,
    progress: Progress | None = None,
    pipeline: PipelineConfig | None = None,
) -> BuildReport:
    """Train a new model version from every item in the store, write it, register it and
    (by default) activate it. ``pipeline`` is saved with it (the defaults when None)."""
    cfg = config or BuildConfig()
    models = Path(models_dir)
    report_progress = progress or _noop
    t0 = time.perf_counter()
    report_progress("reading items", 0.0)
    catalog_seq = store.items.last_change_seq()  # changes after this are applied when serving
    items = list(store.items.iter())
    editor = store.items.editor_tags()
    read = time.perf_counter() - t0
    trained = train(items, editor, cfg, taxonomy=taxonomy, cache_dir=models, progress=report_progress,
                    pipeline=pipeline)

    t = time.perf_counter()
    report_progress("writing the model version", 0.95)
    version = new_version_id()
    timings = {"read": read, **trained.report["timings"]}
    rest = {k: v for k, v in trained.report.items() if k != "timings"}
    report = BuildReport(version=version, path=str(models / version), timings=timings, **rest)
    manifest = {"version": version, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "topic_ids": trained.catalog.topic_ids, "catalog_seq": catalog_seq, "report": report.to_dict()}
    out = save_version(trained, models, cfg, manifest, pipeline)
    timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    store.items.set_predictions(trained.predictions, version)
    store.models.register(version, str(out), report.to_dict())
    if activate:
        store.models.activate(version)
        set_active(models, version)
    report_progress("done", 1.0)
    return report
