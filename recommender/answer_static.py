"""Arrays of one catalogue that the answer path reads for every question (built once per
catalogue and kept on it): each article's chapter, the chapters' rows and sizes, the static
features (length, place in its law and chapter, the law's size and family), the law titles a
question may name; and how a first stage's top rows rank laws and chapters (:class:`GroupOrder`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from recommender.catalog import Catalog

__all__ = ["GroupOrder", "Static", "relative", "static_arrays"]


class Static:
    """Arrays of one catalogue that every answer reads (built once per catalogue)."""

    def __init__(self, catalog: Catalog) -> None:
        n = len(catalog)
        metas = catalog.metas
        law_of = catalog.law_of
        self.n_laws = len(catalog.law_ids)
        self.answerable = catalog.is_article & (law_of >= 0) & catalog.recommendable
        rows = np.flatnonzero(catalog.is_article & (law_of >= 0))
        # Sections (the chapter an article stands in, within its law version).
        sections: dict[tuple[str | None, str], int] = {}
        sec = np.full(n, -1, dtype=np.int64)
        for r in rows:
            meta = metas[r]
            sec[r] = sections.setdefault((meta.parent_id, meta.section or ""), len(sections))
        self.sec_of = sec
        self.n_secs = len(sections)
        order = rows[np.argsort(sec[rows], kind="stable")]  # each section's articles, in catalogue order
        self.sec_rows = order
        self.sec_ptr = np.searchsorted(sec[order], np.arange(self.n_secs + 1)) if order.size else \
            np.zeros(self.n_secs + 1, dtype=np.int64)
        length = np.fromiter((m.length for m in metas), dtype=np.float32, count=n)
        no = np.fromiter((m.article_no or 0 for m in metas), dtype=np.float32, count=n)
        cur = rows[catalog.recommendable[rows]]
        law_max_no = np.ones(self.n_laws, dtype=np.float32)
        np.maximum.at(law_max_no, law_of[cur], no[cur])
        law_size = np.bincount(law_of[cur], minlength=self.n_laws).astype(np.float32)
        safe_law = np.where(law_of >= 0, law_of, 0)
        # Where an article stands in its chapter (0 first, 1 last) and the chapter's size: a
        # chapter's first articles state its general rules (第一千零四条 自然人享有健康权).
        by_no = rows[np.lexsort((no[rows], sec[rows]))]
        self.sec_size = sec_size = np.diff(self.sec_ptr)
        place = np.zeros(n, dtype=np.float32)
        size = np.zeros(n, dtype=np.float32)
        if by_no.size:
            s_of = sec[by_no]
            place[by_no] = (np.arange(by_no.size) - self.sec_ptr[s_of]) / np.maximum(sec_size[s_of] - 1, 1)
            size[by_no] = np.log1p(sec_size[s_of])
        self.static = np.stack([
            np.log1p(length),
            np.where(law_of >= 0, no / law_max_no[safe_law], 0.0),
            np.where(law_of >= 0, np.log1p(law_size[safe_law]), 0.0),
            np.fromiter((m.law_title == "民法典" for m in metas), dtype=np.float32, count=n),
            np.fromiter((m.legal_level == "司法解释" for m in metas), dtype=np.float32, count=n),
            place, size,
        ], axis=1).astype(np.float32)
        self.law_titles = {t: k for t, k in catalog.law_ids.items()}
        self._automaton: Any = None

    def named_laws(self, text: str) -> set[int]:
        """Laws the question names by their full short title (劳动合同法, 民法典)."""
        if self._automaton is None:
            import ahocorasick

            auto = ahocorasick.Automaton()
            for title, k in self.law_titles.items():
                name = re.sub(r"[（(][^）)]*[）)]", "", title)
                if len(name) >= 3:
                    auto.add_word(name, (len(name), k))
            if len(auto):
                auto.make_automaton()
            self._automaton = auto
        auto = self._automaton
        if auto.kind != 2:  # not built (no law titles)
            return set()
        spans = [(end - ln + 1, end, k) for end, (ln, k) in auto.iter(text)]
        # A name inside a longer name (合同法 in 劳动合同法) is not named by itself.
        return {k for s, e, k in spans if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2, _ in spans)}


def relative(scores: np.ndarray, best: float, floor: float) -> np.ndarray:
    """Where a score stands between the ``per_source``-th row's (0) and the best (1): sentence
    model cosines are bunched (0.8-0.9 for any legal text), so a ratio to the best says little."""
    span = best - floor if best > floor else 1.0
    return np.clip((np.where(np.isfinite(scores), scores, floor) - floor) / span, -1.0, 1.0).astype(np.float32)


class GroupOrder:
    """The groups (laws or chapters) of a stage's top rows (best first), in the order of each
    group's first row there: that row holds the group's best score. Groups with no row in the
    top (of ``rank_depth``) count as unmatched. Exact for every group in the top, and far
    cheaper than a maximum over the whole catalogue's articles."""

    def __init__(self, groups: np.ndarray, scores: np.ndarray) -> None:
        valid = groups >= 0
        self.found, first = np.unique(groups[valid], return_index=True)  # sorted group ids
        self.best = scores[valid][first]  # each found group's best score
        order = np.argsort(first, kind="stable")
        self.ordered = self.found[order]  # found groups, best first
        self.rank = np.empty(self.found.size, dtype=np.float32)
        self.rank[order] = np.arange(self.found.size, dtype=np.float32)

    def features(self, group: np.ndarray, n_groups: int, best: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """For rows of ``group``: their group's best, relative as :func:`relative` (-1 when
        unmatched), and the log of the group's rank (unmatched groups rank last; rows of no
        group get 0)."""
        unmatched = np.float32(np.log1p(n_groups))
        if not self.found.size:
            return (np.full(group.size, -1.0, dtype=np.float32),
                    np.where(group >= 0, unmatched, 0.0).astype(np.float32))
        pos = np.minimum(np.searchsorted(self.found, group), self.found.size - 1)
        hit = (group >= 0) & (self.found[pos] == group)
        rel = np.where(hit, relative(self.best[pos], best, floor), -1.0).astype(np.float32)
        log_rank = np.where(hit, np.log1p(self.rank[pos]), np.where(group >= 0, unmatched, 0.0))
        return rel, log_rank.astype(np.float32)


def static_arrays(catalog: Catalog) -> Static:
    """The catalogue's :class:`Static` arrays, made on first use and kept on the catalogue."""
    cached = getattr(catalog, "_answer_static", None)
    if cached is None:
        cached = Static(catalog)
        catalog._answer_static = cached  # type: ignore[attr-defined]
    return cached
