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
    FilterConfig,
    PipelineConfig,
    ReasonConfig,
    ScoringConfig,
    SlotConfig,
)
from recommender.index import ItemIndex
from recommender.profiles import UserProfile
from recommender.variety import Diversifier

__all__ = [
    "CandidateSelector",
    "Diversifier",
    "Explainer",
    "Filters",
    "RankContext",
    "Ranked",
    "Ranker",
    "Scorer",
    "campaign_match",
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
    group_dense: np.ndarray | None = None  # what the plan asks of the groups, in meaning (a unit vector a phrase)
    feed: bool = True  # a feed (False: an answer's list, where boilerplate articles stay findable)


@dataclass
class Ranked:
    row: int
    score: float  # the value the list is sorted by (see :mod:`recommender.variety`)
    components: dict[str, float]
    reasons: list[str]
    slot: str | None = None  # "campaign" or "must_know" when the item fills that share


def campaign_match(ctx: RankContext, catalog: Catalog, rows: np.ndarray, min_match: float,
                   other_share: float = 0.5) -> tuple[np.ndarray, list[str | None]]:
    """For ``rows``: the campaign boost each earns and the reason of the campaign that gave it.
    An item is a campaign's when its score on one of the campaign's topics reaches
    ``min_match`` (else it earns 0). Of a campaign that names the laws at its heart, the
    articles of those laws and items about them earn its whole boost, other items of its topics
    ``other_share`` of it (宪法 itself before 代表法 in Constitution week)."""
    value = np.zeros(rows.size, dtype=np.float32)
    reason: list[str | None] = [None] * rows.size
    for c in ctx.campaigns:
        cols = [catalog.topic_index[t] for t in c.topics if t in catalog.topic_index]
        if not cols:
            continue
        m = catalog.topics[np.ix_(rows, np.asarray(cols, dtype=np.int64))].max(axis=1)
        v = np.where(m >= min_match, m * c.boost, 0.0).astype(np.float32)
        if c.laws:
            v = np.where(catalog.of_laws(c.laws)[rows], v, v * other_share).astype(np.float32)
        for i in np.flatnonzero(v > value):
            reason[int(i)] = c.reason
        value = np.maximum(value, v)
    return value, reason


# --------------------------------------------------------------------------- candidates


class CandidateSelector:
    """Rows worth scoring: the best few hundred from each source of relevance."""

    def __init__(self, config: CandidateConfig, min_match: float = 0.5, other_share: float = 0.5) -> None:
        self.config = config
        self.min_match = min_match  # an item is a campaign's from this topic score (SlotConfig)
        self.other_share = other_share  # SlotConfig.campaign_other_share

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
            m = min(per * cfg.per_law_room, scores.shape[0])  # room for the per-law cut below
            if m <= 0:
                return np.zeros(0, dtype=np.int64)
            top = np.argpartition(-scores, m - 1)[:m]
            top = top[np.argsort(-scores[top], kind="stable")]  # best first: the cut below keeps the best
            top = top[np.isfinite(scores[top])]
            top = rows[top] if rows is not None else top
            return top[per_law_rank(catalog.law_of[top]) < cfg.per_law][:per]

        def dense_top(vec: np.ndarray) -> np.ndarray:
            if use_ivf:
                assert ivf is not None
                rows = ivf.candidates(vec, cfg.ivf_nprobe)
                return top_of(index.dense_[rows] @ vec, rows)
            return top_of(index.dense_ @ vec)

        # Topic relevance over all rows is cheap (n x topics).
        topic_query = ctx.group_vector * cfg.group_topic_share
        p = ctx.profile
        if p.topic_weights.any():
            topic_query = topic_query + p.topic_weights * max(p.confidence, cfg.min_profile_confidence)
        if p.query is not None:
            topic_query = topic_query + p.query.signal.topics * p.query.weight * cfg.query_topic_boost
        for c in ctx.campaigns:
            for t in c.topics:
                j = catalog.topic_index.get(t)
                if j is not None:
                    topic_query[j] += c.boost
        if topic_query.any():
            picks.append(top_of(catalog.topics_unit @ (topic_query / np.linalg.norm(topic_query))))
        if p.dense is not None:
            picks.append(dense_top(p.dense))
        if ctx.group_dense is not None and p.query is None:
            mean = ctx.group_dense.mean(axis=0)
            picks.append(dense_top(mean / (np.linalg.norm(mean) or 1.0)))
        if ctx.campaigns and ctx.feed:
            # The campaign's own items, best for the group first (its share is chosen from them).
            value, _ = campaign_match(ctx, catalog, np.arange(n), self.min_match, self.other_share)
            fit = catalog.topics_unit @ (ctx.group_vector / (np.linalg.norm(ctx.group_vector) or 1.0))
            picks.append(top_of(np.where(value > 0, value + fit, -np.inf)))
        if p.query is not None:
            sig = p.query.signal
            if np.any(sig.dense):
                picks.append(dense_top(sig.dense))
            if sig.sparse.nnz:
                picks.append(top_of(index.sparse_scores(sig.sparse)))
        must = catalog.must_know_matrix(ctx.group_ids) & allowed
        if must.any():
            picks.append(np.flatnonzero(must))
        written = catalog.written_for(ctx.group_ids) & allowed
        if written.any() and p.query is None:
            g = ctx.group_vector / (np.linalg.norm(ctx.group_vector) or 1.0)
            picks.append(top_of(np.where(written, catalog.topics_unit @ g + 1.0, -np.inf)))
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


def per_law_rank(laws: np.ndarray) -> np.ndarray:
    """For rows in rank order, each row's place among the rows of its law (0 for the first of
    its law; always 0 for rows of no law, marked -1): ``[3, 3, -1, 5, 3] -> [0, 1, 0, 0, 2]``."""
    order = np.argsort(laws, kind="stable")
    sorted_laws = laws[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_laws)) + 1]
    sizes = np.diff(np.r_[starts, laws.size])
    place = np.empty(laws.size, dtype=np.int64)
    place[order] = np.arange(laws.size) - np.repeat(starts, sizes)
    return np.where(laws < 0, 0, place)


# --------------------------------------------------------------------------- filters


class Filters:
    """Never superseded, repealed or retired; never dismissed; seen only when asked; adults-only
    content never to a minor; type exclusions."""

    def __init__(self, config: FilterConfig, taxonomy: Taxonomy) -> None:
        self.config = config
        self.taxonomy = taxonomy

    def allowed(self, ctx: RankContext, catalog: Catalog) -> np.ndarray:
        """Rows this request may show. Boilerplate articles (when a law takes effect, who
        interprets it) are never in a feed but stay in an answer's list (``ctx.feed``)."""
        mask = catalog.recommendable.copy()
        if ctx.feed:
            mask &= ~catalog.boilerplate
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
            # Nesting, by the region table: an item for 内蒙古自治区 or 巴彦淖尔市 reaches 临河区.
            for row in np.flatnonzero(mask & catalog.has_region):
                if not self.taxonomy.item_reaches(catalog.metas[int(row)].region, ctx.region):
                    mask[row] = False
        return mask


# --------------------------------------------------------------------------- scoring


class Scorer:
    """The score blend; every component is in [0, 1] before its weight."""

    def __init__(self, config: ScoringConfig, topic_ids: Sequence[str], slots: SlotConfig | None = None) -> None:
        self.config = config
        self.slots = slots or SlotConfig()
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
                comp["query_sparse"] = np.clip(index.sparse_scores(sig.sparse, rows) * cfg.query_sparse_scale, 0, 1) * w
            if np.any(sig.dense):
                comp["query_dense"] = index.rescale(index.dense_[rows] @ sig.dense) * w
            if sig.topics.any():
                q = sig.topics / (np.linalg.norm(sig.topics) or 1.0)
                comp["query_topic"] = np.clip(Tu @ q, 0, 1) * w
        if ctx.group_vector.any():
            g = ctx.group_vector / np.linalg.norm(ctx.group_vector)
            comp["group_prior"] = np.clip(Tu @ g, 0, 1)
        if ctx.group_dense is not None and p.query is None:
            comp["group_dense"] = index.rescale((index.dense_[rows] @ ctx.group_dense.T).max(axis=1))
        written = catalog.written_for(ctx.group_ids)[rows]
        if written.any():
            comp["written_for"] = written.astype(np.float32)
        must = catalog.must_know_matrix(ctx.group_ids)[rows].astype(np.float32)
        if must.any():
            if p.completed:
                done = np.fromiter((catalog.metas[r].id in p.completed for r in rows), dtype=bool, count=rows.size)
                must = must * ~done
            comp["must_know"] = must
        if ctx.campaigns:
            comp["campaign"] = campaign_match(ctx, catalog, rows, self.slots.campaign_min_match,
                                              self.slots.campaign_other_share)[0]
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
        amended = catalog.amendment[rows]
        if amended.any():
            comp["type"] = comp["type"] - amended * np.float32(self.slots.amendment_penalty)
        if "elderly" in ctx.group_ids and self._anti_fraud is not None:
            comp["elderly_anti_fraud"] = T[:, self._anti_fraud]
        weights = {
            "profile_topic": cfg.profile_topic, "profile_dense": cfg.profile_dense,
            "query_sparse": cfg.query_sparse, "query_dense": cfg.query_dense, "query_topic": cfg.query_topic,
            "group_prior": cfg.group_prior, "group_dense": cfg.group_dense,
            "written_for": cfg.written_for, "must_know": cfg.must_know, "campaign": cfg.campaign,
            "co_reading": cfg.co_reading, "freshness": cfg.freshness, "type": 1.0,
            "elderly_anti_fraud": cfg.elderly_anti_fraud,
        }
        weighted = {k: (v * weights[k]).astype(np.float32) for k, v in comp.items()}
        total = np.sum(list(weighted.values()), axis=0) if weighted else zeros
        # Never let a malformed value turn a score into NaN or infinity.
        total = np.nan_to_num(np.asarray(total, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        return total, weighted


# --------------------------------------------------------------------------- reasons


class Explainer:
    """Short Chinese phrases naming what drove each item."""

    def __init__(self, config: ReasonConfig, taxonomy: Taxonomy, topic_ids: Sequence[str],
                 min_match: float = 0.5) -> None:
        self.config = config
        self.min_match = min_match  # an item is a campaign's from this topic score (SlotConfig)
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
                phrase = campaign_match(ctx, catalog, np.asarray([row]), self.min_match)[1][0]
            elif name in ("group_prior", "group_dense", "written_for"):
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
        min_match = config.slots.campaign_min_match
        self.candidates = CandidateSelector(config.candidates, min_match, config.slots.campaign_other_share)
        self.filters = Filters(config.filters, taxonomy)
        self.scorer = Scorer(config.scoring, topic_ids, config.slots)
        self.diversifier = Diversifier(config.diversity, config.slots)
        self.explainer = Explainer(config.reasons, taxonomy, topic_ids, min_match)

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
        campaign = comps["campaign"] > 0 if "campaign" in comps else None
        must = comps["must_know"] > 0 if "must_know" in comps else None
        groups = set(ctx.group_ids)
        slots = self.config.slots
        own = any(set(c.groups) & groups for c in ctx.campaigns if c.groups)
        picks = self.diversifier.pick(catalog, index, rows, scores, k, campaign=campaign, must=must,
                                      campaign_max=slots.campaign_group_max if own else slots.campaign_max)
        pos = {int(r): i for i, r in enumerate(rows)}
        out = []
        for p in picks:
            i = pos[p.row]
            c = {name: float(v[i]) for name, v in comps.items()}
            out.append(Ranked(p.row, p.score, c, self.explainer.reasons(ctx, catalog, p.row, c), p.slot))
        return out
