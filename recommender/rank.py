"""The ranking pipeline: candidates -> scores -> filters -> diversity -> reasons.

Each stage is a component with its own typed config (:mod:`recommender.config`); the
:class:`Ranker` wires them. Everything works on catalog rows (numpy); ids appear only at the
end, through the index's mapping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from corpus.taxonomy import Campaign, Taxonomy
from recommender.ann import IVFIndex
from recommender.catalog import Catalog
from recommender.config import (
    CandidateConfig,
    DiversityConfig,
    FilterConfig,
    PipelineConfig,
    ReasonConfig,
    ScoringConfig,
)
from recommender.index import ItemIndex
from recommender.profiles import UserProfile

__all__ = [
    "CandidateSelector",
    "Diversifier",
    "Explainer",
    "Filters",
    "RankContext",
    "Ranked",
    "Ranker",
    "Scorer",
]

@dataclass
class RankContext:
    """Everything one request's ranking needs, prepared by the engine."""

    profile: UserProfile
    group_ids: list[str]
    group_vector: np.ndarray
    campaigns: list[Campaign]
    day: dt.date  # the request's day: campaigns and freshness are counted from it
    k: int
    exclude_seen: bool
    region: str | None = None
    co_reading: dict[int, float] = field(default_factory=dict)  # row -> score in [0, 1]
    daily_cap_left: int | None = None  # minors: items that may still be pushed today


@dataclass
class Ranked:
    row: int
    score: float
    components: dict[str, float]
    reasons: list[str]


# --------------------------------------------------------------------------- candidates


class CandidateSelector:
    """Rows worth scoring: the best few hundred from each source of relevance."""

    def __init__(self, config: CandidateConfig) -> None:
        self.config = config

    def select(self, ctx: RankContext, catalog: Catalog, index: ItemIndex, allowed: np.ndarray,
               ivf: IVFIndex | None) -> np.ndarray:
        cfg = self.config
        n = len(catalog)
        per = cfg.per_source
        picks: list[np.ndarray] = []
        use_ivf = ivf is not None and (cfg.ann == "ivf" or (cfg.ann == "auto" and n >= cfg.ann_min_items))

        def top_of(scores: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
            if rows is not None:
                scores = np.where(allowed[rows], scores, -np.inf)
            else:
                scores = np.where(allowed, scores, -np.inf)
            m = min(per, scores.shape[0])
            if m <= 0:
                return np.zeros(0, dtype=np.int64)
            top = np.argpartition(-scores, m - 1)[:m]
            top = top[np.argsort(-scores[top], kind="stable")]  # best first: the cut below keeps the best
            top = top[np.isfinite(scores[top])]
            return rows[top] if rows is not None else top

        def dense_top(vec: np.ndarray) -> np.ndarray:
            if use_ivf:
                assert ivf is not None
                rows = ivf.candidates(vec, cfg.ivf_nprobe)
                return top_of(index.dense_[rows] @ vec, rows)
            return top_of(index.dense_ @ vec)

        # Topic relevance over all rows is cheap (n x topics).
        topic_query = ctx.group_vector * 0.5
        p = ctx.profile
        if p.topic_weights.any():
            topic_query = topic_query + p.topic_weights * max(p.confidence, 0.3)
        if p.query is not None:
            topic_query = topic_query + p.query.signal.topics * p.query.weight * 2
        for c in ctx.campaigns:
            for t in c.topics:
                j = catalog.topic_index.get(t)
                if j is not None:
                    topic_query[j] += c.boost
        if topic_query.any():
            picks.append(top_of(catalog.topics_unit @ (topic_query / np.linalg.norm(topic_query))))
        if p.dense is not None:
            picks.append(dense_top(p.dense))
        if p.query is not None:
            sig = p.query.signal
            if np.any(sig.dense):
                picks.append(dense_top(sig.dense))
            if sig.sparse.nnz:
                picks.append(top_of(index.sparse_scores(sig.sparse)))
        must = catalog.must_know_matrix(ctx.group_ids) & allowed
        if must.any():
            picks.append(np.flatnonzero(must))
        if ctx.co_reading:
            rows = np.fromiter(ctx.co_reading, dtype=np.int64)
            picks.append(rows[allowed[rows]])
        if not picks:
            picks.append(top_of(np.zeros(n, dtype=np.float32)))
        rows = np.unique(np.concatenate(picks))
        if rows.size > cfg.max_candidates:
            # Each source's best first, in turns (rank 0 of every source, then rank 1 ...).
            longest = max(len(p) for p in picks)
            turns = np.concatenate([np.pad(p.astype(np.int64), (0, longest - len(p)), constant_values=-1)
                                    for p in picks]).reshape(len(picks), longest).T.ravel()
            turns = turns[turns >= 0]
            _, first = np.unique(turns, return_index=True)
            rows = np.sort(turns[np.sort(first)[: cfg.max_candidates]])
        return rows


# --------------------------------------------------------------------------- filters


class Filters:
    """Never superseded, repealed or retired; never dismissed; seen only when asked; adults-only
    content never to a minor; type exclusions."""

    def __init__(self, config: FilterConfig) -> None:
        self.config = config

    def allowed(self, ctx: RankContext, catalog: Catalog) -> np.ndarray:
        mask = catalog.recommendable.copy()
        p = ctx.profile
        if p.minor:
            mask &= ~catalog.adults_only
        if self.config.exclude_types:
            mask &= ~np.isin(catalog.types, list(self.config.exclude_types))
        hidden = set(p.dismissed)
        if ctx.exclude_seen:
            hidden |= p.seen
        for item_id in hidden:
            r = catalog.row_of.get(item_id)
            if r is not None:
                mask[r] = False
        if ctx.region:
            region = ctx.region
            for row in np.flatnonzero(mask & catalog.has_region):
                item_region = catalog.metas[int(row)].region or ""
                if item_region not in region and region not in item_region and not _same_province(item_region, region):
                    mask[row] = False
        return mask


_PROVINCE_OF = {"巴彦淖尔": "内蒙古", "包头": "内蒙古", "呼和浩特": "内蒙古", "鄂尔多斯": "内蒙古",
                "乌海": "内蒙古", "赤峰": "内蒙古", "通辽": "内蒙古", "呼伦贝尔": "内蒙古", "乌兰察布": "内蒙古",
                "兴安": "内蒙古", "锡林郭勒": "内蒙古", "阿拉善": "内蒙古"}


def _same_province(item_region: str, user_region: str) -> bool:
    """A regional regulation (内蒙古) applies to a person in one of its cities (巴彦淖尔)."""
    for city, prov in _PROVINCE_OF.items():
        if city in user_region and prov in item_region and city not in item_region and "包头" not in item_region:
            return True
    return False


# --------------------------------------------------------------------------- scoring


class Scorer:
    """The score blend; every component is in [0, 1] before its weight."""

    def __init__(self, config: ScoringConfig, topic_ids: Sequence[str]) -> None:
        self.config = config
        self.topic_ids = list(topic_ids)
        self._anti_fraud = self.topic_ids.index("anti_fraud") if "anti_fraud" in self.topic_ids else None

    def score(self, ctx: RankContext, catalog: Catalog, index: ItemIndex,
              rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        cfg = self.config
        p = ctx.profile
        T = catalog.topics[rows]
        Tu = catalog.topics_unit[rows]
        comp: dict[str, np.ndarray] = {}
        zeros = np.zeros(rows.size, dtype=np.float32)
        if p.topic_weights.any():
            u = p.topic_weights / np.linalg.norm(p.topic_weights)
            comp["profile_topic"] = np.clip(Tu @ u, 0, 1) * p.confidence
        if p.dense is not None:
            comp["profile_dense"] = index.rescale(index.dense_[rows] @ p.dense) * p.confidence
        if p.query is not None:
            sig, w = p.query.signal, p.query.weight
            if sig.sparse.nnz:
                comp["query_sparse"] = np.clip(index.sparse_scores(sig.sparse, rows) * 2.0, 0, 1) * w
            if np.any(sig.dense):
                comp["query_dense"] = index.rescale(index.dense_[rows] @ sig.dense) * w
            if sig.topics.any():
                q = sig.topics / (np.linalg.norm(sig.topics) or 1.0)
                comp["query_topic"] = np.clip(Tu @ q, 0, 1) * w
        if ctx.group_vector.any():
            g = ctx.group_vector / np.linalg.norm(ctx.group_vector)
            comp["group_prior"] = np.clip(Tu @ g, 0, 1)
        must = catalog.must_know_matrix(ctx.group_ids)[rows].astype(np.float32)
        if must.any():
            done = np.fromiter((catalog.metas[r].id in p.completed for r in rows), dtype=bool, count=rows.size)
            comp["must_know"] = must * ~done
        if ctx.campaigns:
            camp = zeros.copy()
            for c in ctx.campaigns:
                cols = [catalog.topic_index[t] for t in c.topics if t in catalog.topic_index]
                if cols:
                    camp = np.maximum(camp, T[:, cols].max(axis=1) * c.boost)
            comp["campaign"] = camp
        if ctx.co_reading:
            comp["co_reading"] = np.fromiter((ctx.co_reading.get(int(r), 0.0) for r in rows),
                                             dtype=np.float32, count=rows.size)
        # Ages in days on the request's day; a date in the future counts as new, one
        # centuries ago as simply old.
        ages = np.clip(ctx.day.toordinal() - catalog.published_ordinal[rows], 0.0, 36_500.0)
        fresh = np.where(np.isnan(ages), 0.0, 0.5 ** (np.nan_to_num(ages) / cfg.freshness_half_life_days))
        comp["freshness"] = fresh.astype(np.float32)
        types = catalog.types[rows]
        comp["type"] = np.fromiter((cfg.type_weights.get(t, 0.0) for t in types), dtype=np.float32, count=rows.size)
        if "elderly" in ctx.group_ids and self._anti_fraud is not None:
            comp["elderly_anti_fraud"] = T[:, self._anti_fraud]
        weights = {
            "profile_topic": cfg.profile_topic, "profile_dense": cfg.profile_dense,
            "query_sparse": cfg.query_sparse, "query_dense": cfg.query_dense, "query_topic": cfg.query_topic,
            "group_prior": cfg.group_prior, "must_know": cfg.must_know, "campaign": cfg.campaign,
            "co_reading": cfg.co_reading, "freshness": cfg.freshness, "type": 1.0,
            "elderly_anti_fraud": cfg.elderly_anti_fraud,
        }
        weighted = {k: (v * weights[k]).astype(np.float32) for k, v in comp.items()}
        total = np.sum(list(weighted.values()), axis=0) if weighted else zeros
        # Never let a malformed value turn a score into NaN or infinity.
        total = np.nan_to_num(np.asarray(total, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        return total, weighted


# --------------------------------------------------------------------------- diversity


class Diversifier:
    """MMR over dense similarity, with caps per law and per main topic (打散)."""

    def __init__(self, config: DiversityConfig) -> None:
        self.config = config

    def pick(self, catalog: Catalog, index: ItemIndex, rows: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
        cfg = self.config
        order = np.argsort(-scores, kind="stable")[: cfg.pool]
        pool_rows, pool_scores = rows[order], scores[order]
        if pool_rows.size == 0:
            return []
        span = float(pool_scores.max() - pool_scores.min()) or 1.0
        rel = (pool_scores - pool_scores.min()) / span
        D = index.dense_[pool_rows]
        chosen: list[int] = []
        max_sim = np.full(pool_rows.size, -1.0, dtype=np.float32)
        per_law: dict[int, int] = {}
        per_topic: dict[int, int] = {}
        available = np.ones(pool_rows.size, dtype=bool)
        lam = cfg.mmr_lambda
        while len(chosen) < k and available.any():
            mmr = lam * rel - (1 - lam) * np.clip(max_sim, 0, None)
            mmr = np.where(available, mmr, -np.inf)
            j = int(np.argmax(mmr))
            available[j] = False
            r = int(pool_rows[j])
            law = int(catalog.law_of[r])
            topic = int(catalog.main_topic[r])
            if law >= 0 and per_law.get(law, 0) >= cfg.max_per_law:
                continue
            if topic >= 0 and per_topic.get(topic, 0) >= cfg.max_per_topic:
                continue
            chosen.append(j)
            if law >= 0:
                per_law[law] = per_law.get(law, 0) + 1
            if topic >= 0:
                per_topic[topic] = per_topic.get(topic, 0) + 1
            max_sim = np.maximum(max_sim, index.rescale(D @ D[j]))
        if len(chosen) < k:
            # The caps left the list short: fill with the best remaining, caps relaxed.
            rest = [j for j in range(pool_rows.size) if j not in set(chosen)]
            chosen += rest[: k - len(chosen)]
        return [int(pool_rows[j]) for j in chosen]


# --------------------------------------------------------------------------- reasons


class Explainer:
    """Short Chinese phrases naming what drove each item."""

    def __init__(self, config: ReasonConfig, taxonomy: Taxonomy, topic_ids: Sequence[str]) -> None:
        self.config = config
        self.taxonomy = taxonomy
        self.topic_ids = list(topic_ids)

    def reasons(self, ctx: RankContext, catalog: Catalog, row: int, comps: dict[str, float]) -> list[str]:
        cfg = self.config
        total = sum(v for v in comps.values() if v > 0) or 1.0
        ranked = sorted(((k, v) for k, v in comps.items() if v > 0 and k not in ("type", "freshness")),
                        key=lambda kv: -kv[1])
        out: list[str] = []
        p = ctx.profile
        item_topics = catalog.topics[row]
        for name, value in ranked:
            if value / total < cfg.min_share and out:
                continue
            phrase = None
            if name in ("query_sparse", "query_dense", "query_topic") and p.query is not None:
                phrase = {"search": "与您的搜索相关", "request": "与您的查询相关"}.get(p.query.kind, "与您的提问相关")
            elif name in ("profile_topic", "profile_dense") and p.topic_weights.any():
                j = int(np.argmax(p.topic_weights * item_topics))
                if p.topic_weights[j] * item_topics[j] > 0:
                    phrase = f"您关注{self.taxonomy.topic_name(self.topic_ids[j])}"
                else:
                    phrase = "与您读过的内容相近"
            elif name == "must_know":
                meta = catalog.metas[row]
                g = next((g for g in ctx.group_ids if g in meta.must_know_for), None)
                if g:
                    phrase = f"{self.taxonomy.groups[g].label}应知应会"
            elif name == "campaign":
                best = None
                for c in ctx.campaigns:
                    cols = [catalog.topic_index[t] for t in c.topics if t in catalog.topic_index]
                    v = float(item_topics[cols].max() * c.boost) if cols else 0.0
                    if best is None or v > best[0]:
                        best = (v, c.reason)
                phrase = best[1] if best and best[0] > 0 else None
            elif name == "group_prior":
                g = self._best_group(ctx, item_topics)
                phrase = f"为{g}推荐" if g else None
            elif name == "co_reading":
                phrase = "同群体的人也在读"
            elif name == "elderly_anti_fraud":
                phrase = "防骗提醒"
            if phrase and phrase not in out:
                out.append(phrase)
            if len(out) >= cfg.max_reasons:
                break
        if not out:
            out.append("社会公众普法推荐" if not ctx.group_ids or ctx.group_ids == ["public"] else
                       f"为{self.taxonomy.groups[ctx.group_ids[0]].label}推荐")
        return out

    def _best_group(self, ctx: RankContext, item_topics: np.ndarray) -> str | None:
        best, label = 0.0, None
        for g in ctx.group_ids:
            group = self.taxonomy.groups.get(g)
            if group is None:
                continue
            v = sum(w * float(item_topics[self.topic_ids.index(t)]) for t, w in group.topics.items()
                    if t in self.topic_ids)
            if v > best:
                best, label = v, group.label
        return label


# --------------------------------------------------------------------------- the pipeline


class Ranker:
    """candidates -> scores -> filters -> diversity -> reasons."""

    def __init__(self, config: PipelineConfig, taxonomy: Taxonomy, topic_ids: Sequence[str]) -> None:
        self.config = config
        self.candidates = CandidateSelector(config.candidates)
        self.filters = Filters(config.filters)
        self.scorer = Scorer(config.scoring, topic_ids)
        self.diversifier = Diversifier(config.diversity)
        self.explainer = Explainer(config.reasons, taxonomy, topic_ids)

    def rank(self, ctx: RankContext, catalog: Catalog, index: ItemIndex, ivf: IVFIndex | None = None) -> list[Ranked]:
        allowed = self.filters.allowed(ctx, catalog)
        k = ctx.k if ctx.daily_cap_left is None else max(0, min(ctx.k, ctx.daily_cap_left))
        if k == 0 or not allowed.any():
            return []
        rows = self.candidates.select(ctx, catalog, index, allowed, ivf)
        rows = rows[allowed[rows]]
        if rows.size == 0:
            return []
        scores, comps = self.scorer.score(ctx, catalog, index, rows)
        picked = self.diversifier.pick(catalog, index, rows, scores, k)
        pos = {int(r): i for i, r in enumerate(rows)}
        out = []
        for r in picked:
            i = pos[r]
            c = {name: float(v[i]) for name, v in comps.items()}
            out.append(Ranked(r, float(scores[i]), c, self.explainer.reasons(ctx, catalog, r, c)))
        return out
