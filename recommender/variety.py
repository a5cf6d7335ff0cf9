"""打散 and shares: how a scored pool of candidates becomes a list people want to read.

The rules, each a setting of :class:`~recommender.config.DiversityConfig` or
:class:`~recommender.config.SlotConfig` (``/v1/about/algorithm`` is written from the same
settings, :func:`describe`):

- in any ``window`` consecutive items (default 10), at most ``max_per_law`` articles of one
  law (default 2) and ``max_per_topic`` items of one main topic (default 4);
- no two items with the same text (a law's article repeated in another law, a reposted
  explainer);
- a campaign in force takes at most ``campaign_max`` places of any window (default 3; a
  campaign that names the person's group may take ``campaign_group_max``), its items at least
  ``campaign_gap`` places apart, and when it has items for the request, one of the first
  ``campaign_by`` places and of each window after: it reaches everyone without replacing the
  feed;
- must-know items take at most ``must_know_max`` places of any window;
- among what the rules allow, the next item is the one with the best relevance less its
  redundancy with the items already chosen (MMR on dense vectors, ``mmr_lambda``).

Each chosen item's ``score`` is that value, never above the score of the item before it: the
list is sorted by the score it shows. When the rules leave nothing to choose (a tiny
catalogue), the topic cap is relaxed first, then the law cap, then the campaign's share; texts
are never repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.catalog import Catalog
from recommender.config import DiversityConfig, SlotConfig
from recommender.index import ItemIndex

__all__ = ["Diversifier", "Pick", "describe"]


@dataclass(frozen=True)
class Pick:
    """One place of the list: the catalogue row, the score it is shown with, and the share it
    fills (``"campaign"``, ``"must_know"`` or None for the feed's own)."""

    row: int
    score: float
    slot: str | None = None


class Diversifier:
    """The list from a scored pool, by the rules in the module's docstring."""

    def __init__(self, config: DiversityConfig, slots: SlotConfig | None = None) -> None:
        self.config = config
        self.slots = slots or SlotConfig()

    def pick(self, catalog: Catalog, index: ItemIndex, rows: np.ndarray, scores: np.ndarray, k: int, *,
             campaign: np.ndarray | None = None, must: np.ndarray | None = None,
             campaign_max: int | None = None) -> list[Pick]:
        """The best ``k`` of ``rows`` (scored ``scores``) under the rules. ``campaign`` and
        ``must`` mark, aligned with ``rows``, the items of a campaign in force and the
        group's must-know items; ``campaign_max`` overrides the campaign's share."""
        cfg, slots = self.config, self.slots
        order = np.argsort(-scores, kind="stable")[: cfg.pool]
        pool, rel = rows[order], scores[order].astype(np.float64)
        n = pool.size
        if n == 0 or k <= 0:
            return []
        is_camp = campaign[order] if campaign is not None else np.zeros(n, dtype=bool)
        is_must = must[order] if must is not None else np.zeros(n, dtype=bool)
        cmax = slots.campaign_max if campaign_max is None else campaign_max
        laws = catalog.law_of[pool]
        topics = catalog.main_topic[pool]
        available = np.ones(n, dtype=bool)
        seen_text: set[str] = set()
        for j, r in enumerate(pool):  # the best-scored copy of each text stays
            key = catalog.text_keys[int(r)]
            if key in seen_text:
                available[j] = False
            seen_text.add(key)
        span = float(rel.max() - rel.min()) or 1.0
        lam = cfg.mmr_lambda
        redundancy = span * (1.0 - lam) / lam if lam > 0 else span  # similarity in score units
        D = index.dense_[pool]
        max_sim = np.zeros(n, dtype=np.float64)
        chosen: list[int] = []
        out: list[Pick] = []
        w = cfg.window
        while len(out) < k and available.any():
            recent = chosen[-(w - 1):] if w > 1 else []
            ok = available & self._caps(laws, topics, recent)
            if is_camp.any():
                in_window = int(is_camp[recent].sum()) if recent else 0
                if in_window >= cmax or (recent and is_camp[recent[-(slots.campaign_gap - 1):]].any()
                                         if slots.campaign_gap > 1 else False):
                    ok &= ~is_camp
                elif in_window == 0 and cmax > 0 and len(recent) >= min(slots.campaign_by, w) - 1 \
                        and (ok & is_camp).any():
                    ok &= is_camp  # the campaign's place: no later than campaign_by
            if is_must.any() and recent and int(is_must[recent].sum()) >= slots.must_know_max:
                ok &= ~is_must
            if not ok.any():
                ok = self._relaxed(available, laws, recent, is_camp, cmax)
            value = np.where(ok, rel - redundancy * np.clip(max_sim, 0.0, None), -np.inf)
            j = int(np.argmax(value))
            available[j] = False
            chosen.append(j)
            shown = float(value[j]) if not out else min(float(value[j]), out[-1].score)
            slot = "campaign" if is_camp[j] else "must_know" if is_must[j] else None
            out.append(Pick(int(pool[j]), shown, slot))
            max_sim = np.maximum(max_sim, index.rescale(D @ D[j]))
        return out

    def _caps(self, laws: np.ndarray, topics: np.ndarray, recent: list[int]) -> np.ndarray:
        """Rows the law and topic caps allow after the ``recent`` picks."""
        cfg = self.config
        ok = np.ones(laws.size, dtype=bool)
        if not recent:
            return ok
        law_vals, law_counts = np.unique(laws[recent][laws[recent] >= 0], return_counts=True)
        ok &= ~np.isin(laws, law_vals[law_counts >= cfg.max_per_law])
        top_vals, top_counts = np.unique(topics[recent][topics[recent] >= 0], return_counts=True)
        ok &= ~np.isin(topics, top_vals[top_counts >= cfg.max_per_topic])
        return ok

    def _relaxed(self, available: np.ndarray, laws: np.ndarray, recent: list[int], is_camp: np.ndarray,
                 cmax: int) -> np.ndarray:
        """Nothing meets every rule: the topic cap goes first, then the law cap; the campaign's
        share holds as long as anything else is left."""
        ok = available.copy()
        if is_camp.any() and recent and int(is_camp[recent].sum()) >= cmax and (ok & ~is_camp).any():
            ok &= ~is_camp
        if recent:
            vals, counts = np.unique(laws[recent][laws[recent] >= 0], return_counts=True)
            by_law = ok & ~np.isin(laws, vals[counts >= self.config.max_per_law])
            if by_law.any():
                ok = by_law
        return ok


def describe(config: DiversityConfig, slots: SlotConfig) -> str:
    """The variety rules in Chinese, from the settings (for the algorithm disclosure)."""
    return (f"多样性：任意连续{config.window}条推荐中，同一部法律的条文不超过{config.max_per_law}条，"
            f"同一主题的内容不超过{config.max_per_topic}条，内容相同的条文只推送一次；"
            f"主题活动内容最多占{slots.campaign_max}条，应知应会内容最多占{slots.must_know_max}条，"
            "其余为与您相关的内容，避免信息茧房。")
